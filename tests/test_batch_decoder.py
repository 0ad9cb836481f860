"""Several windows decoded greedily in one pass per token (``whisper/batch_decoder.py``) give
each window the text and word times of its own decoding, on both engines: real tiny.en, real
recordings of different lengths, different prompts and a forced prefix."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests import whisper_audio
from tests.whisper_audio import RATE_HZ, load_audio

cache_dir = whisper_audio.cache_dir


def _backend(engine: str):
    if engine == "mlx":
        pytest.importorskip("mlx.core")
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

    # temperature 0 only: a fallback would sample, and the two paths would draw differently
    options = WhisperOptions(engine=engine, temperatures=(0.0,), blas_threads=1)
    return WhisperBackend("", options)


@pytest.fixture(scope="module")
def windows() -> list[np.ndarray]:
    monologue, dictation = load_audio("monologue_dev.wav"), load_audio("dictation_dev.wav")
    return [  # whole utterances (the recordings' JSON): 5.3 s, 7.5 s and 16.2 s
        dictation[: int(5.3 * RATE_HZ)],
        dictation[int(6.6 * RATE_HZ) : int(14.1 * RATE_HZ)],
        monologue[int(11.85 * RATE_HZ) : int(28.15 * RATE_HZ)],
    ]


@pytest.mark.parametrize("engine", ["numpy", "mlx"])
def test_batched_decoding_matches_single_windows(cache_dir, windows, engine: str) -> None:
    from pipeline.backends.whisper.batch_windows import transcribe_batch

    backend = _backend(engine)
    prompts = [None, "Good morning.", "A river begins in the mountains."]
    prefixes = [None, "The first item", None]
    single = [
        backend.transcribe(audio, prompt=prompt, prefix=prefix)
        for audio, prompt, prefix in zip(windows, prompts, prefixes, strict=True)
    ]
    batched = transcribe_batch(backend, windows, prompts, prefixes)
    assert len(batched) == 3
    for want, got in zip(single, batched, strict=True):
        assert not isinstance(got, Exception), got
        assert got.details["batch_decoded"] == 1.0 and got.details["batch_size"] == 3.0
        assert got.details["decode_s"] > 0 and got.details["encode_s"] > 0
        assert want.text and got.text == want.text
        assert len(got.words) == len(want.words)
        for a, b in zip(want.words, got.words, strict=True):
            assert a.text == b.text
            assert abs(a.start_s - b.start_s) <= 0.02 and abs(a.end_s - b.end_s) <= 0.02
    assert batched[1].text.startswith("The first item")
    assert [r.details["audio_ctx"] for r in batched] == [500.0, 500.0, 950.0]


@pytest.mark.parametrize("engine", ["numpy", "mlx"])
def test_an_item_leaving_early_lets_the_others_decode(cache_dir, windows, engine: str) -> None:
    from pipeline.backends.whisper.batch_decoder import GreedyItem, greedy_batch
    from pipeline.backends.whisper.decoding import SearchOptions
    from pipeline.backends.whisper.features import log_mel_spectrogram

    backend = _backend(engine)
    full = backend.dims.n_audio_ctx
    items, alone = [], []
    for audio in windows[:2]:
        frames = backend._audio_ctx.frames(audio.size, full)
        context = backend.engine.encode(log_mel_spectrogram(audio, backend.dims.n_mels, 2 * frames))
        initial, sot_index = backend._initial_tokens(None)
        cap = math.ceil(8 * audio.size / RATE_HZ)
        items.append(GreedyItem(context, tuple(initial), sot_index, cap))
        alone.append(
            backend._search.run(context, initial, sot_index, SearchOptions(max_tokens=cap))
        )
    capped = GreedyItem(items[1].audio, items[1].initial, items[1].sot_index, max_tokens=3)
    too_long = GreedyItem(items[0].audio, (0,) * (backend.dims.n_text_ctx + 1), 0, 10)
    outcomes = greedy_batch(backend._search, [capped, items[0], too_long, items[1]])
    assert isinstance(outcomes[2], ValueError) and "text context full" in str(outcomes[2])
    first3 = outcomes[0].hypothesis
    assert first3.hit_cap and first3.tokens == alone[1].tokens[:3]
    for outcome, want in zip((outcomes[1], outcomes[3]), alone, strict=True):
        got = outcome.hypothesis
        assert not got.hit_cap and len(got.tokens) > 3
        assert got.tokens == want.tokens
        assert got.avg_logprob == pytest.approx(want.avg_logprob, abs=1e-3)
        assert got.no_speech_prob == pytest.approx(want.no_speech_prob, abs=1e-4)
        assert outcome.decode_s > 0


def test_a_failing_shared_step_sends_each_item_to_its_own_decoding(cache_dir, windows) -> None:
    from pipeline.backends.whisper.batch_windows import transcribe_batch

    backend = _backend("numpy")

    def broken(states, tokens):
        raise RuntimeError("shared step broke")

    backend.engine.decode_rows = broken
    results = transcribe_batch(backend, windows[:2], [None, None])
    for audio, result in zip(windows[:2], results, strict=True):
        assert not isinstance(result, Exception), result
        assert "batch_decoded" not in result.details and result.details["batch_size"] == 2.0
        assert result.text and result.text == backend.transcribe(audio).text
