"""bench/commit_latency.py: where a simulated request cancelled mid-way answers."""

from __future__ import annotations

import pytest

from bench.commit_latency import ENCODER_BLOCKS, cancel_point_s

DETAILS = {"encode_s": 0.2, "decode_s": 0.2, "tokens": 9.0}  # half encoder, 10 decoder steps


def test_a_cancel_answers_at_the_next_encoder_block_or_decoder_step() -> None:
    # 1 s of CPU from t=10: encoder blocks end at 10.125, 10.25, 10.375, 10.5; steps every 0.05
    assert ENCODER_BLOCKS == 4
    assert cancel_point_s(10.0, 1.0, DETAILS, 10.01) == pytest.approx(10.125)
    assert cancel_point_s(10.0, 1.0, DETAILS, 10.3) == pytest.approx(10.375)
    assert cancel_point_s(10.0, 1.0, DETAILS, 10.52) == pytest.approx(10.55)
    assert cancel_point_s(10.0, 1.0, DETAILS, 10.97) == pytest.approx(11.0)  # done first
    assert cancel_point_s(10.0, 1.0, {}, 10.2) == pytest.approx(11.0)  # nothing known: at the end


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
