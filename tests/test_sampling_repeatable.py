"""The temperature fallback's sampling gives a request the same text whatever the process
decoded before it (``decoding.TokenSearch`` starts every search from its generator's first state).
"""

from __future__ import annotations

import json

import pytest

from tests.whisper_audio import DATA_DIR, cache_dir, load_audio  # noqa: F401


@pytest.mark.parametrize("engine", ["numpy", pytest.param("mlx", marks=pytest.mark.slow)])
def test_a_sampled_request_repeats_after_other_sampled_work(cache_dir, engine):  # noqa: F811
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

    utterances = json.loads((DATA_DIR / "dictation_dev.json").read_text())["utterances"]
    audio = load_audio("dictation_dev.wav")

    def piece(index: int):
        meta = utterances[index]
        return audio[int((meta["start"] - 0.2) * 16_000) : int((meta["end"] + 0.1) * 16_000)]

    # temperature 1 from the start: every token is drawn from the generator
    options = WhisperOptions(engine=engine, blas_threads=1, temperatures=(1.0,),
                             word_timestamps=False)  # fmt: skip
    backend = WhisperBackend(options=options)
    try:
        first = backend.transcribe(piece(1))
        others = [backend.transcribe(piece(i)).text for i in (2, 3, 4)]  # draws in between
        again = backend.transcribe(piece(1))
    finally:
        backend.close()
    assert first.details["temperature"] == 1.0 and all(others)
    assert again.text == first.text
    assert again.details["tokens"] == first.details["tokens"]
