"""The bench's figures from its runs: per profile latency, WER and CPU; loss and duplicates."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.e2e_parts.cpu_breakdown import cpu_figures
from bench.e2e_parts.latency import (
    RefUtterance,
    decision_latencies,
    first_partial_latencies,
    load_utterances,
    summary,
    utterance_latencies,
)
from bench.e2e_parts.runner import RunResult
from pipeline.text_metrics import edit_distance, normalize_words

SPAN_OVERLAP_MATCH = 0.5  # two finals "cover the same audio" above this share of the shorter


@dataclass(frozen=True)
class FileSpec:
    """One dev-set file: its audio, its reference, and whether its times measure latency."""

    name: str
    audio: Path
    reference: Path
    kind: str  # dictation or continuous
    times: bool  # reference utterance times usable for latency
    audio_s: float
    words: int

    @property
    def stem(self) -> str:
        return Path(self.name).stem

    @property
    def reference_text(self) -> str:
        return json.loads(self.reference.read_text())["text"]

    def utterances(self) -> list[RefUtterance]:
        return load_utterances(self.reference) if self.times else []

    @classmethod
    def from_entry(cls, entry: dict[str, Any], audio: Path, reference: Path) -> FileSpec:
        return cls(
            entry["name"], audio, reference, entry["kind"], bool(entry["latency"]),
            float(entry["audio_s"]), int(entry["words"]),
        )  # fmt: skip


def put(target: dict[str, Any], name: str, value: Any, reason: str | None) -> None:
    """``target[name] = value``; a None value gets ``<name>_reason`` (never a silent 0)."""
    target[name] = value
    if value is None:
        target[f"{name}_reason"] = reason or "not measured"


def rounded(values: list[float], digits: int = 1) -> dict[str, float | None]:
    stats = summary(values)
    return {
        key: None if stats[key] is None else round(stats[key], digits) for key in ("p50", "p95")
    }


def wer_counts(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word errors, reference words) after the shared normaliser."""
    ref = normalize_words(reference)
    return edit_distance(ref, normalize_words(hypothesis)), len(ref)


def overlap_share(a: dict[str, Any], b: dict[str, Any]) -> float:
    overlap = min(a["end_s"], b["end_s"]) - max(a["start_s"], b["start_s"])
    shorter = min(a["end_s"] - a["start_s"], b["end_s"] - b["start_s"])
    return max(0.0, overlap) / shorter if shorter > 0 else 0.0


def seq_gaps(run: RunResult) -> int:
    seqs = [f["seq"] for f in run.finals]
    return (seqs[-1] - seqs[0] + 1 - len(set(seqs))) if seqs else 0


def duplicates(run: RunResult) -> int:
    """Segment ids published twice, plus finals whose spans overlap another's by over half."""
    ids = [(f["segment_id"], f["start_s"]) for f in run.finals]
    by_id = len(ids) - len(set(ids))
    spoken = [f for f in run.finals if f["text"]]
    by_span = sum(
        1
        for i, a in enumerate(spoken)
        for b in spoken[i + 1 :]
        if overlap_share(a, b) > SPAN_OVERLAP_MATCH
    )
    return by_id + by_span


def lost_against(clean: RunResult, killed: RunResult) -> list[dict[str, Any]]:
    """Finals of the clean run whose audio has no final (or only empty ones) in the killed run."""
    missing = []
    for final in clean.finals:
        matches = [f for f in killed.finals if overlap_share(final, f) > 0.0]
        if not matches or (final["text"] and not any(f["text"] for f in matches)):
            missing.append(
                {k: final[k] for k in ("segment_id", "start_s", "end_s", "text")}
                | {"killed_run_matches": len(matches)}
            )
    return missing


def profile_figures(
    files: list[FileSpec], runs: dict[str, RunResult], offline: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Every headline figure of one profile's realtime runs over the dev set."""
    figures: dict[str, Any] = {}
    by_kind: dict[str, list[float]] = {"dictation": [], "continuous": []}
    methods: dict[str, Counter[str]] = {"dictation": Counter(), "continuous": Counter()}
    first_partials: list[float] = []
    no_origin = []
    for spec in files:
        run = runs[spec.name]
        utterances = spec.utterances()
        if not utterances:
            continue
        if run.origin_unix_s is None:
            no_origin.append(spec.stem)
            continue
        for result in utterance_latencies(utterances, run.arrived(), run.origin_unix_s):
            methods[spec.kind][result.method] += 1
            if result.latency_ms is not None:
                by_kind[spec.kind].append(result.latency_ms)
        if spec.kind == "dictation":
            first_partials += first_partial_latencies(utterances, run.partials, run.origin_unix_s)
    for kind, name in (("dictation", "user"), ("continuous", "continuous")):
        stats = rounded(by_kind[kind])
        reason = _latency_reason(files, kind, no_origin, methods[kind])
        put(figures, f"latency_{name}_p50_ms", stats["p50"], reason)
        put(figures, f"latency_{name}_p95_ms", stats["p95"], reason)
    dictation_runs = [runs[s.name] for s in files if s.kind == "dictation"]
    figures.update(decision_figures(dictation_runs))
    put(figures, "latency_first_partial_p50_ms", rounded(first_partials)["p50"],
        "no partial arrived in a dictation file with reference times")  # fmt: skip
    offline_cpu_s = sum(offline[s.name]["cpu_s"] for s in files)
    daemon_cpu_s = sum(runs[s.name].cpu_s for s in files)
    sampled_s = sum(runs[s.name].cpu_s_sampled for s in files)
    reason = "the offline pass used no CPU time"
    put(
        figures,
        "cpu_overhead_ratio",
        round(daemon_cpu_s / offline_cpu_s, 3) if offline_cpu_s > 0 else None,
        reason,
    )
    put(figures, "cpu_overhead_ratio_sampled",
        round(sampled_s / offline_cpu_s, 3) if offline_cpu_s > 0 else None, reason)  # fmt: skip
    figures["daemon_cpu_s"] = round(daemon_cpu_s, 2)
    figures["offline_cpu_s"] = round(offline_cpu_s, 2)
    figures.update(cpu_figures([runs[s.name] for s in files], offline_cpu_s))
    figures["wer_stream_minus_offline"] = wer_delta(files, runs, offline)
    figures["utterances"] = {
        kind: {"measured": len(by_kind[kind]), "methods": dict(methods[kind])} for kind in by_kind
    }
    return figures


def decision_figures(dictation_runs: list[RunResult]) -> dict[str, Any]:
    """End-of-speech decision -> final at the subscriber on the dictation runs
    (``latency.decision_latencies``: segment-closing finals only, wall clocks outside the
    daemon, IPC included), beside the scheduler's own figure for the same finals and how many
    of them were decoded before the decision (speculatively, during the hangover)."""
    figures: dict[str, Any] = {}
    measured, journal = [], []
    ready = parts = early_used = early_wasted = 0
    for run in dictation_runs:
        if run.origin_unix_s is None:
            continue
        found = decision_latencies(run.finals, run.received_unix_s, run.origin_unix_s)
        measured += found.values_ms
        journal += found.journal_ms
        ready += found.ready_at_decision
        parts += found.parts
        stats = (run.last_status or {}).get("scheduler") or {}
        early_used += int(stats.get("early_finals_used", 0))
        early_wasted += int(stats.get("early_finals_wasted", 0))
    reason = (
        "no dictation run with a stream-time origin and a segment-closing final received"
        if dictation_runs
        else "no dictation file in the run"
    )
    stats = rounded(measured)
    put(figures, "latency_p50_ms", stats["p50"], reason)
    put(figures, "latency_p95_ms", stats["p95"], reason)
    own = rounded(journal)
    put(figures, "latency_sched_p50_ms", own["p50"], reason)
    put(figures, "latency_sched_p95_ms", own["p95"], reason)
    figures["decision_finals"] = {
        "measured": len(measured),
        "ready_at_decision": ready,  # journal latency_ms 0: the final was decoded before it
        "early_finals_used": early_used,
        "early_finals_wasted": early_wasted,
        "parts_left_out": parts,  # committed while speech went on: no end decision
    }
    return figures


def wer_delta(
    files: list[FileSpec], runs: dict[str, RunResult], offline: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Streamed minus offline WER per file, worst, mean and pooled over all words."""
    deltas: dict[str, Any] = {}
    stream_errors = offline_errors = words = 0
    for spec in files:
        errors, count = wer_counts(spec.reference_text, runs[spec.name].text)
        stream_errors += errors
        offline_errors += offline[spec.name]["errors"]
        words += count
        deltas[spec.stem] = round((errors - offline[spec.name]["errors"]) / max(count, 1), 4)
    per_file = list(deltas.values())
    return {
        **deltas,
        "worst": max(per_file),
        "mean": round(statistics.mean(per_file), 4),
        "pooled": round((stream_errors - offline_errors) / max(words, 1), 4),
        "wer_stream_pooled": round(stream_errors / max(words, 1), 4),
        "wer_offline_pooled": round(offline_errors / max(words, 1), 4),
        "words": words,
    }


def _latency_reason(
    files: list[FileSpec], kind: str, no_origin: list[str], methods: Counter[str]
) -> str:
    if not any(s.kind == kind and s.times for s in files):
        return f"no {kind} file with reference utterance times in the dev set"
    if no_origin:
        return f"no stream-time origin (no status answered during the run): {no_origin}"
    return f"every {kind} utterance was missed (no final aligned or over its end): {dict(methods)}"
