"""When every temperature of the fallback fails its checks, the window keeps the attempt with the
best mean log-probability among those not looping (``whisper_mlx.best_attempt``), not the last."""

from __future__ import annotations

from pipeline.backends.whisper.decoding import Hypothesis
from pipeline.backends.whisper_mlx import WhisperOptions, best_attempt
from tests.whisper_audio import cache_dir, load_audio  # noqa: F401


def attempt(temperature: float, avg_logprob: float, ratio: float) -> Hypothesis:
    return Hypothesis(tokens=(1, 2), token_probs=(0.5, 0.5), avg_logprob=avg_logprob,
                      no_speech_prob=0.1, temperature=temperature, hit_cap=False,
                      compression_ratio=ratio)  # fmt: skip


def test_the_most_probable_attempt_is_kept_not_the_hottest():
    attempts = [attempt(0.0, -1.2, 1.5), attempt(0.2, -1.1, 1.4), attempt(1.0, -2.5, 1.3)]
    assert best_attempt(attempts, 2.4).temperature == 0.2


def test_a_loop_is_kept_only_when_every_attempt_loops():
    attempts = [attempt(0.0, -0.3, 3.0), attempt(0.2, -1.4, 1.2), attempt(0.4, -1.8, 1.1)]
    assert best_attempt(attempts, 2.4).temperature == 0.2
    loops = [attempt(0.0, -0.3, 3.0), attempt(0.2, -0.9, 2.8)]
    assert best_attempt(loops, 2.4).temperature == 0.0


def test_on_by_default():
    assert WhisperOptions().fallback_best


def test_a_window_failing_every_temperature_keeps_its_most_probable_attempt(cache_dir):  # noqa: F811
    """Real tiny.en on jfk.flac, with a log-probability threshold no attempt can pass: every
    temperature fails, and the window keeps the most probable attempt (with ``fallback_best``
    off: the last, sampled at the hottest temperature). Sampling is repeatable, so both runs
    see the same attempts."""
    from pipeline.backends.whisper_mlx import WhisperBackend

    audio = load_audio("jfk.flac")
    texts = {}
    for best in (False, True):
        options = WhisperOptions(engine="numpy", blas_threads=1, audio_ctx="full",
                                 temperatures=(0.0, 0.6, 1.0), logprob_threshold=0.0,
                                 word_timestamps=False, fallback_best=best)  # fmt: skip
        backend = WhisperBackend(options=options)
        try:
            texts[best] = backend.transcribe(audio)
        finally:
            backend.close()
    last, kept = texts[False], texts[True]
    assert last.details["temperature"] == 1.0  # the hottest attempt, as before
    assert kept.details["avg_logprob"] > last.details["avg_logprob"]
    assert kept.details["temperature"] < 1.0
    assert "country" in kept.text.lower()
