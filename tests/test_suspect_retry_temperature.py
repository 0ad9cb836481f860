"""A short encoder window's suspect result decoded again on the same window at the next fallback
temperature (``asr.audio_ctx_retry = "temperature"``) before the full window: kept unless it
loops or gives nothing. Real tiny.en on a real recording; one fake pass only where the test
needs the hotter pass to loop."""

from __future__ import annotations

import pytest

from bench.commit_latency import modeled_cpu_s
from config.loader import load_config
from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.backend_calls import request_marks
from pipeline.backends.whisper.audio_context import (
    encoder_frames_computed,
    hotter_retry_fits,
    looks_broken,
    looks_suspect,
)
from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions
from pipeline.words import Transcription
from tests.whisper_audio import load_audio

LOOPED = "And so my fellow. And so my fellow. And so my fellow."
SHORT_FRAMES = 500  # the finals' 10 s floor


@pytest.fixture(scope="module")
def audio():
    return load_audio("jfk.flac")[: 4 * SAMPLE_RATE_HZ]


def backend_for(retry: str, engine: str = "auto") -> WhisperBackend:
    if engine == "mlx":
        pytest.importorskip("mlx.core")
    options = WhisperOptions(blas_threads=1, audio_ctx_retry=retry, engine=engine)
    return WhisperBackend(options=options)


def suspect() -> Transcription:
    return Transcription(text=LOOPED, details={"audio_ctx": float(SHORT_FRAMES), "tokens": 18.0})


def passes_of(backend: WhisperBackend, hotter_gives: Transcription | None = None) -> list:
    """Record (frames, temperatures) of every encoder pass; ``hotter_gives``: the answer of a
    pass at a temperature above 0 on a short window, instead of decoding it."""
    calls = []
    decode = backend._encode_and_decode

    def recorded(audio, prompt, frames, started_s, temperatures, prefix=None):
        calls.append((frames, tuple(temperatures)))
        if hotter_gives is not None and frames < 1500 and temperatures[0] > 0:
            return hotter_gives
        return decode(audio, prompt, frames, started_s, temperatures, prefix)

    backend._encode_and_decode = recorded
    return calls


def test_broken_is_suspect_without_the_unsure_ones() -> None:
    assert looks_broken("", {}) and looks_broken("x", {"rejected": 1.0})
    assert looks_broken("hello", {"hit_cap": 1.0}) and looks_broken(LOOPED, {})
    assert looks_broken("hello", {"repeat_stop": 1.0})
    unsure = {"fallback": 1.0}
    assert looks_suspect("Ask not what your country", unsure)
    assert not looks_broken("Ask not what your country", unsure)


def test_the_hotter_pass_on_the_same_window_is_kept(audio) -> None:
    backend = backend_for("temperature")
    calls = passes_of(backend)
    result = backend._after_suspect_window(audio, None, None, SHORT_FRAMES, suspect(), 0.2)
    assert calls == [(SHORT_FRAMES, (0.2,))]  # one pass, no full window
    assert result.details["audio_ctx"] == SHORT_FRAMES
    assert result.details["audio_ctx_retry_hotter"] == 1.0
    assert result.details["audio_ctx_retry_s"] == 0.2  # the first pass, for the cost model
    assert "fellow" in result.text.lower() and not looks_broken(result.text, result.details)


@pytest.mark.parametrize("engine", ["numpy", "mlx"])
def test_the_hotter_pass_decodes_the_first_passs_encoder_output_again(audio, engine) -> None:
    backend = backend_for("temperature", engine)
    encoded = backend._encode(audio, SHORT_FRAMES)
    encodes = []
    encode = backend._encode
    backend._encode = lambda *args: encodes.append(args) or encode(*args)
    reused = backend._after_suspect_window(audio, None, None, SHORT_FRAMES, suspect(), 0.2,
                                           encoded)  # fmt: skip
    assert not encodes  # decoded from the given encoder output
    assert reused.details["encoder_reused"] == 1.0 and reused.details["audio_ctx_retry_hotter"]
    assert encoder_frames_computed(reused.details) == 0.0
    again = backend._after_suspect_window(audio, None, None, SHORT_FRAMES, suspect(), 0.2)
    assert len(encodes) == 1 and encoder_frames_computed(again.details) == SHORT_FRAMES
    assert reused.text == again.text  # the same frames, the same draws
    # the cost model charges the reused pass its decoding only
    per_frame_s, per_token_s = 0.001, 0.01
    assert modeled_cpu_s((per_frame_s, per_token_s), reused.details) == pytest.approx(
        modeled_cpu_s((per_frame_s, per_token_s), again.details) - per_frame_s * SHORT_FRAMES
    )


def test_a_hotter_pass_that_loops_goes_on_to_the_full_window(audio) -> None:
    backend = backend_for("temperature")
    looped = Transcription(text=LOOPED, details={"audio_ctx": float(SHORT_FRAMES), "tokens": 20.0})
    calls = passes_of(backend, hotter_gives=looped)
    result = backend._after_suspect_window(audio, None, None, SHORT_FRAMES, suspect(), 0.2)
    assert calls[0] == (SHORT_FRAMES, (0.2,)) and calls[-1][0] == 1500
    assert result.details["audio_ctx"] == 1500 and "audio_ctx_retry_hotter" not in result.details
    # both short passes are counted as spent before the last
    assert result.details["audio_ctx_retry_frames"] == 2 * SHORT_FRAMES
    assert result.details["audio_ctx_retry_tokens"] == 18 + 1 + 20 + 1
    assert "fellow" in result.text.lower()


def test_a_long_windows_suspect_final_goes_to_the_full_window(audio) -> None:
    # the long-form pass reads a window that gave nothing again over 20 s (1,100 frames): a
    # sampled pass there lost the offline pass two WER points on the synthetic dictation
    backend = backend_for("temperature")
    calls = passes_of(backend)
    long_frames = 1100
    assert not hotter_retry_fits(long_frames, 1500) and hotter_retry_fits(750, 1500)
    result = backend._after_suspect_window(audio, None, None, long_frames, suspect(), 0.2)
    assert [frames for frames, _ in calls] == [1500]
    assert result.details["audio_ctx"] == 1500 and "audio_ctx_retry_hotter" not in result.details
    assert "fellow" in result.text.lower()


def test_a_partials_suspect_result_skips_the_hotter_pass(audio) -> None:
    backend = backend_for("temperature")
    calls = passes_of(backend)
    with request_marks(backend, partial=True, early_final=False):
        backend._after_suspect_window(audio, None, None, 300, suspect(), 0.2)
    # on to the finals' window at temperature 0: sampled partials lost WER
    assert calls[0] == (SHORT_FRAMES, (0.0,))


def test_full_mode_goes_straight_to_the_full_window(audio) -> None:
    backend = backend_for("full")
    calls = passes_of(backend)
    result = backend._after_suspect_window(audio, None, None, SHORT_FRAMES, suspect(), 0.2)
    assert [frames for frames, _ in calls] == [1500]
    assert result.details["audio_ctx"] == 1500


def test_the_config_key_reaches_the_backend_and_rejects_other_values() -> None:
    asr = load_config(None, environ={}, cli_overrides={"asr.audio_ctx_retry": "temperature"})
    assert WhisperOptions.from_config(asr.config.asr).audio_ctx_retry == "temperature"
    with pytest.raises(Exception, match="audio_ctx_retry"):
        load_config(None, environ={}, cli_overrides={"asr.audio_ctx_retry": "sometimes"})
