"""bench/commit_latency.py: where a simulated request cancelled mid-way answers."""

from __future__ import annotations

import pytest

from bench.commit_latency import ENCODER_BLOCKS, cancel_point_s, origin_estimate

DETAILS = {"encode_s": 0.2, "decode_s": 0.2, "tokens": 9.0}  # half encoder, 10 decoder steps


def test_a_cancel_answers_at_the_next_encoder_block_or_decoder_step() -> None:
    # 1 s of CPU from t=10: encoder blocks end at 10.125, 10.25, 10.375, 10.5; steps every 0.05
    assert ENCODER_BLOCKS == 4
    assert cancel_point_s(10.0, 1.0, DETAILS, 10.01) == pytest.approx(10.125)
    assert cancel_point_s(10.0, 1.0, DETAILS, 10.3) == pytest.approx(10.375)
    assert cancel_point_s(10.0, 1.0, DETAILS, 10.52) == pytest.approx(10.55)
    assert cancel_point_s(10.0, 1.0, DETAILS, 10.97) == pytest.approx(11.0)  # done first
    assert cancel_point_s(10.0, 1.0, {}, 10.2) == pytest.approx(11.0)  # nothing known: at the end


def test_with_the_cost_model_the_encoder_share_comes_from_its_frames_not_the_clock() -> None:
    # 400 frames at 1 ms: 0.4 s of the 1 s is the encoder's, whatever encode_s / decode_s
    # measured (here a loaded moment's 0.9 / 0.1): blocks end at 10.1, 10.2, 10.3, 10.4
    measured = {"encode_s": 0.9, "decode_s": 0.1, "tokens": 9.0, "audio_ctx": 400.0}
    cost_model = (0.001, 0.01)
    assert cancel_point_s(10.0, 1.0, measured, 10.15, cost_model) == pytest.approx(10.2)
    assert cancel_point_s(10.0, 1.0, measured, 10.41, cost_model) == pytest.approx(10.46)
    steadier = {**measured, "encode_s": 0.3, "decode_s": 0.7}
    assert cancel_point_s(10.0, 1.0, steadier, 10.41, cost_model) == pytest.approx(10.46)
    # without the cost model the measured split decides: 0.9 s of encoder
    assert cancel_point_s(10.0, 1.0, measured, 10.41, None) == pytest.approx(10.45)
    # a retried request's first pass counts as encoder work before the last pass
    retried = {**measured, "audio_ctx_retry_frames": 200.0}
    assert cancel_point_s(10.0, 1.0, retried, 10.55, cost_model) == pytest.approx(10.6)


def test_the_stream_origin_comes_only_from_polls_while_audio_flows() -> None:
    # a poll during start-up (nothing written) would put stream second 0 at the poll itself,
    # before the capture began: every latency of that run read ~1.7 s long
    assert origin_estimate(100.0, {"ring": {"write_s": 0.0}}) is None
    assert origin_estimate(140.0, {"ring": {"write_s": 34.8, "ended": True}}) is None
    assert origin_estimate(103.5, {"ring": {"write_s": 1.25}}) == pytest.approx(102.25)


def test_a_shared_recording_resolves_beside_its_json_and_any_rate_loads_at_16_khz() -> None:
    from bench.commit_latency import load_audio, resolve_file
    from tests.data_paths import DATA_DIR

    audio_path, reference_path = resolve_file("monologue_dev.wav")
    assert (audio_path, reference_path) == (
        DATA_DIR / "monologue_dev.wav",
        DATA_DIR / "monologue_dev.json",
    )
    audio = load_audio(DATA_DIR / "jfk.flac")  # 44.1 kHz on disk, 11 s
    assert audio.dtype.name == "float32" and audio.ndim == 1
    assert 10.5 * 16_000 < audio.size < 11.5 * 16_000


def test_the_simulation_writes_every_hypothesis_with_its_words(tmp_path, capsys) -> None:
    """``--hypotheses``: each request the simulated worker ran, with the words tiny.en heard
    (the real VAD, scheduler and model on jfk.flac)."""
    import json

    from bench.commit_latency import main

    path = tmp_path / "hypotheses.jsonl"
    argv = ["--simulate", "--cost-model", "--file", "jfk.flac", "--no-offline"]
    assert main([*argv, "--hypotheses", str(path)]) == 0
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    kinds = {entry["kind"] for entry in entries}
    assert "partial" in kinds and kinds <= {"preview", "partial", "early", "final"}
    assert all(e["at_s"] < e["done_s"] for e in entries)
    assert [e["at_s"] for e in entries] == sorted(e["at_s"] for e in entries)
    heard = [e for e in entries if e["kind"] == "partial" and e["words"]]
    assert heard
    for entry in heard:
        start_s, end_s = entry["heard"]
        assert 0 <= start_s < end_s <= 11.5
        for text, word_start_s, word_end_s, probability in entry["words"]:
            assert isinstance(text, str) and 0 <= probability <= 1
            assert start_s - 0.05 <= word_start_s <= word_end_s <= end_s + 0.05
    said = " ".join(t.strip().lower() for e in heard for t, *_ in e["words"])
    assert "country" in said  # "... ask what you can do for your country"
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["file"] == "jfk.flac"
