"""daemon_e2e's figures from runs (unit tests of the bench's logic on hand-made runs): pooled WER
with word counts, latency per kind, and a reason beside every figure that could not be measured."""

from __future__ import annotations

import json
from pathlib import Path

from bench.e2e_parts.figures import FileSpec, profile_figures, wer_delta
from bench.e2e_parts.runner import RunResult

ORIGIN = 500.0


def spec(
    tmp_path: Path, name: str, kind: str, utterances: list[tuple[str, float, float]]
) -> FileSpec:
    reference = tmp_path / f"{name}.json"
    reference.write_text(
        json.dumps(
            {
                "text": " ".join(u[0] for u in utterances),
                "utterances": [{"text": t, "start": s, "end": e} for t, s, e in utterances],
            }
        )
    )
    words = sum(len(u[0].split()) for u in utterances)
    return FileSpec(f"{name}.wav", tmp_path / f"{name}.wav", reference, kind, True, 10.0, words)


def run(finals: list[tuple[str, float, float, float]], origin: float | None = ORIGIN) -> RunResult:
    """``finals``: (text, start_s, end_s, arrival seconds after the origin)."""
    records = [
        {"seq": i, "segment_id": i, "text": t, "start_s": s, "end_s": e, "latency_ms": 100.0 + i}
        for i, (t, s, e, _) in enumerate(finals)
    ]
    return RunResult(
        name="x", profile="balanced", pace="realtime", exit_code=0, wall_s=1.0,
        finals=records, received_unix_s={i: ORIGIN + f[3] for i, f in enumerate(finals)},
        partials=[(ORIGIN + 1.5, 0, 0.8)], origin_unix_s=origin, cpu_s=6.0, cpu_s_sampled=5.9,
        cpu_s_by_role={}, cpu_s_start_by_role={}, engine_by_kind={}, last_status=None,
        kills=None, log_tail="",
    )  # fmt: skip


def test_figures_per_kind_and_pooled_wer(tmp_path: Path) -> None:
    dictation = spec(tmp_path, "d", "dictation", [("yes", 1.0, 1.4), ("send the report", 3.0, 4.0)])
    continuous = spec(tmp_path, "c", "continuous", [("one two three", 1.0, 2.0)])
    runs = {
        "d.wav": run([("yes", 0.8, 2.0, 2.1), ("send a report", 2.7, 4.6, 4.9)]),
        "c.wav": run([("one two three", 0.8, 2.4, 3.5)]),
    }
    offline = {
        "d.wav": {"cpu_s": 2.0, "errors": 0},
        "c.wav": {"cpu_s": 2.0, "errors": 1},
    }
    figures = profile_figures([dictation, continuous], runs, offline)
    assert figures["latency_user_p50_ms"] == 900.0 and figures["latency_user_p95_ms"] == 900.0
    assert figures["latency_continuous_p50_ms"] == 1500.0
    # end decision (the closing final's end_s, realtime) -> arrival: 100 and 300 ms
    assert figures["latency_p50_ms"] == 300.0 and figures["latency_p95_ms"] == 300.0
    assert figures["latency_sched_p50_ms"] == 101.0  # the same finals' own latency_ms
    assert figures["latency_first_partial_p50_ms"] == 500.0
    assert figures["cpu_overhead_ratio"] == 3.0
    wer = figures["wer_stream_minus_offline"]
    assert wer["words"] == 7 and wer["d"] == round(1 / 4, 4) and wer["c"] == round(-1 / 3, 4)
    assert wer["pooled"] == 0.0 and wer["worst"] == 0.25


def test_unmeasurable_latency_is_null_with_a_reason(tmp_path: Path) -> None:
    dictation = spec(tmp_path, "d", "dictation", [("yes", 1.0, 1.4)])
    runs = {"d.wav": run([("yes", 0.8, 2.0, 2.1)], origin=None)}
    figures = profile_figures([dictation], runs, {"d.wav": {"cpu_s": 1.0, "errors": 0}})
    assert figures["latency_user_p50_ms"] is None
    assert "no stream-time origin" in figures["latency_user_p50_ms_reason"]
    assert figures["latency_continuous_p50_ms"] is None
    assert "no continuous file" in figures["latency_continuous_p50_ms_reason"]


def test_wer_delta_counts_words(tmp_path: Path) -> None:
    files = [spec(tmp_path, "a", "dictation", [("a b c d", 0.0, 1.0)])]
    delta = wer_delta(files, {"a.wav": run([("a b c", 0.0, 1.0, 1.2)])}, {"a.wav": {"errors": 0}})
    assert delta["a"] == 0.25 and delta["words"] == 4 and delta["wer_offline_pooled"] == 0.0
