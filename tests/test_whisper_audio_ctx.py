"""The shortened encoder window (``asr.audio_ctx``): sizes, both engines, text and word times."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.backends.whisper.audio_context import AudioContextPolicy
from pipeline.text_metrics import word_error_rate
from tests import whisper_audio
from tests.whisper_audio import DATA_DIR, RATE_HZ, load_audio


def test_policy_frames_cover_audio_plus_padding_in_whole_seconds():
    policy = AudioContextPolicy("auto", min_s=0.0, pad_s=1.0)
    assert policy.frames(int(2.1 * RATE_HZ), 1500) == 200  # 105 + 50 frames -> 4 s
    assert policy.frames(int(11.0 * RATE_HZ), 1500) == 600  # 550 + 50
    assert policy.frames(int(29.5 * RATE_HZ), 1500) == 1500  # never past the window
    assert policy.frames(0, 1500) == 50
    assert AudioContextPolicy("auto", min_s=10.0, pad_s=1.0).frames(RATE_HZ, 1500) == 500
    assert AudioContextPolicy("full").frames(RATE_HZ, 1500) == 1500
    capped = AudioContextPolicy("auto", min_s=0.0, pad_s=1.0, max_audio_s=5.0)
    assert capped.frames(5 * RATE_HZ, 1500) == 300
    assert capped.frames(5 * RATE_HZ + 1, 1500) == 1500


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": "short"}, "audio_ctx 'short'"),
        ({"min_s": -1.0}, "audio_ctx_min_s"),
        ({"pad_s": float("nan")}, "audio_ctx_pad_s"),
        ({"max_audio_s": 31.0}, "audio_ctx_max_audio_s"),
    ],
)
def test_policy_rejects_bad_values(fields, message):
    with pytest.raises(ValueError, match=message):
        AudioContextPolicy(**fields)


def test_short_mel_is_the_full_mels_prefix():
    from pipeline.backends.whisper.features import log_mel_spectrogram

    audio = load_audio("jfk.flac")[: 3 * RATE_HZ]
    full = log_mel_spectrogram(audio)
    short = log_mel_spectrogram(audio, n_frames=400)
    assert short.shape == (80, 400)
    np.testing.assert_allclose(short, full[:, :400], atol=1e-6)
    with pytest.raises(ValueError, match="n_frames"):
        log_mel_spectrogram(audio, n_frames=3001)


cache_dir = whisper_audio.cache_dir


jfk = whisper_audio.jfk


@pytest.fixture(scope="module")
def engines(cache_dir):
    from pipeline.backends.whisper.cpu_engine import CpuWhisperEngine
    from pipeline.backends.whisper.mlx_engine import MlxWhisperEngine
    from pipeline.backends.whisper.weights import load_numpy_weights, read_config
    from pipeline.models import resolve_model

    model_dir = resolve_model("", "none")
    dims, _ = read_config(model_dir)
    weights = load_numpy_weights(model_dir)
    return CpuWhisperEngine(dims, weights), MlxWhisperEngine(dims, weights, "float32")


def test_engines_encode_a_short_window_alike_and_check_its_shape(engines, jfk):
    from pipeline.backends.whisper.features import log_mel_spectrogram

    cpu, mlx = engines
    mel = log_mel_spectrogram(jfk, n_frames=1200)  # 24 s: 600 encoder frames
    cpu_context, mlx_context = cpu.encode(mel), mlx.encode(mel)
    assert cpu_context.keys[0].shape[-1] == 600
    np.testing.assert_allclose(np.array(mlx_context.keys[-1]), cpu_context.keys[-1], atol=2e-3)
    np.testing.assert_allclose(np.array(mlx_context.values[0]), cpu_context.values[0], atol=2e-3)
    for engine in engines:
        with pytest.raises(ValueError, match="even"):
            engine.encode(mel[:, :1199])
        with pytest.raises(ValueError, match="mel must be"):
            engine.encode(mel[:40])


@pytest.mark.parametrize("engine", ["numpy", "mlx"])
def test_short_window_keeps_text_and_word_times(cache_dir, jfk, engine):
    """jfk (11 s) on a 13 s window: the same words as the full window, at the same times."""
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

    reference = json.loads((DATA_DIR / "references.json").read_text())["jfk.flac"]
    results = {}
    for mode in ("full", "auto"):
        options = WhisperOptions(engine=engine, audio_ctx=mode, audio_ctx_min_s=0.0,
                                 audio_ctx_pad_s=2.0)  # fmt: skip
        results[mode] = WhisperBackend("", options).transcribe(jfk)
    full, short = results["full"], results["auto"]
    assert full.details["audio_ctx"] == 1500
    assert short.details["audio_ctx"] == 650  # 550 frames of audio + 100 of padding
    assert word_error_rate(reference, short.text) <= 0.05, short.text
    assert [w.text.strip(",.") for w in short.words] == [w.text.strip(",.") for w in full.words]
    starts = np.array([w.start_s for w in short.words])
    assert np.all(np.diff(starts) >= 0)
    assert short.words[-1].end_s <= jfk.size / RATE_HZ
    gaps = [abs(a.start_s - b.start_s) for a, b in zip(short.words, full.words, strict=True)]
    assert np.median(gaps) <= 0.06 and max(gaps) <= 0.5, gaps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thank you. Thank you.", True),
        ("25. 25. 25.", True),
        ("The long journey home took a year. The long journey home took a year", True),
        ("Very very good.", False),
        ("She called his name many times. When you hear the bell, come quickly.", False),
        ("", False),
    ],
)
def test_repeats_are_found(text, expected):
    from pipeline.backends.whisper.audio_context import has_repeat

    assert has_repeat(text) is expected


def test_suspect_results_go_back_to_the_full_window():
    from pipeline.backends.whisper.audio_context import looks_suspect

    assert looks_suspect("", {})
    assert looks_suspect("hello there", {"fallback": 1.0})
    assert looks_suspect("hello there", {"hit_cap": 1.0})
    assert looks_suspect("Call me back. Call me back.", {})
    assert not looks_suspect("Call me back.", {"fallback": 0.0, "hit_cap": 0.0})


@pytest.mark.parametrize("engine", ["numpy", "mlx"])
def test_a_repeating_short_window_is_decoded_again_over_30_s(cache_dir, engine):
    """Harvard sentence 6 on a 4.5 s window: tiny.en says it three times (measured on both
    engines); the backend notices and returns the full window's single sentence."""
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

    audio = load_audio("harvard_list72_8k.wav")[int(17.5 * RATE_HZ) : int(20.92 * RATE_HZ)]
    options = WhisperOptions(engine=engine, audio_ctx_min_s=0.0, audio_ctx_pad_s=1.0)
    result = WhisperBackend("", options).transcribe(audio)
    assert result.text == "The grass and bushes were wet with dew."
    assert result.details["audio_ctx"] == 1500
    assert result.details["audio_ctx_retry_s"] > 0
    assert 0.0 <= result.words[0].start_s < result.words[-1].end_s <= audio.size / RATE_HZ
