"""``bench/encoder_reuse.py``'s encoder on the real model: with nothing kept it is the engine's own
encoder; with rows kept, those rows come from the previous pass and only the rest is computed."""

from __future__ import annotations

import numpy as np
import pytest

from bench.encoder_reuse import KeptRowsEncoder, schedule_ceiling, utterance_words
from tests import whisper_audio
from tests.whisper_audio import RATE_HZ

cache_dir = whisper_audio.cache_dir
jfk = whisper_audio.jfk


@pytest.fixture(scope="module")
def engine(cache_dir):
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

    return WhisperBackend("", WhisperOptions(engine="numpy")).engine


def mel_of(audio: np.ndarray, frames: int) -> np.ndarray:
    from pipeline.backends.whisper.features import log_mel_spectrogram

    return log_mel_spectrogram(audio, 80, 2 * frames)


def test_nothing_kept_is_the_engines_encoder(engine, jfk) -> None:
    mel = mel_of(jfk[: 4 * RATE_HZ], 300)
    expected = engine.encode(mel)
    encoder = KeptRowsEncoder(engine)
    got = encoder.encode(mel)
    for want, have in zip(expected.keys + expected.values, got.keys + got.values, strict=True):
        np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-4)
    assert (encoder.rows_computed, encoder.rows_total) == (300, 300)


def test_kept_rows_come_from_the_previous_pass(engine, jfk) -> None:
    encoder = KeptRowsEncoder(engine)
    first = encoder.encode(mel_of(jfk[: 3 * RATE_HZ], 250))
    encoder.keep_rows = 100  # the first 2 s
    second = encoder.encode(mel_of(jfk[: 4 * RATE_HZ], 300))
    fresh = engine.encode(mel_of(jfk[: 4 * RATE_HZ], 300))
    assert (encoder.rows_computed, encoder.rows_total) == (250 + 200, 550)
    # decoder layer 0's cross-attention values (H, F, hd): the kept rows are the first pass's ...
    np.testing.assert_allclose(second.values[0][:, :100], first.values[0][:, :100], atol=1e-5)
    # ... not what a full pass over the longer audio gives them (new audio changed those rows)
    assert not np.allclose(second.values[0][:, :100], fresh.values[0][:, :100], atol=1e-3)
    encoder.reset()
    encoder.keep_rows = 100
    again = encoder.encode(mel_of(jfk[: 4 * RATE_HZ], 300))  # reset: nothing to keep
    np.testing.assert_allclose(again.values[0], fresh.values[0], rtol=1e-4, atol=1e-4)


def test_utterance_words_and_the_schedule_ceiling(tmp_path) -> None:
    from pipeline.words import Word

    words = [
        Word(0.0, 0.4, " One", 0.9),
        Word(0.4, 0.9, " two.", 0.9),
        Word(1.1, 1.5, " Three", 0.9),
    ]
    assert utterance_words(words, 1.0) == [" One", " two."]
    lines = [
        '{"kind": "partial", "heard": [1.0, 4.0], "encoder_frames": 300}',
        '{"kind": "partial", "heard": [1.0, 5.0], "encoder_frames": 300}',  # 1 s keepable at L = 2
        '{"kind": "partial", "heard": [4.0, 7.0], "encoder_frames": 300}',  # another start
        '{"kind": "final", "heard": [1.0, 7.0], "encoder_frames": 500}',
    ]
    path = tmp_path / "requests.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert schedule_ceiling(path, [2.0, 5.0]) == {"2.0": round(50 / 1400, 4), "5.0": 0.0}
    old = tmp_path / "old.jsonl"  # written before the requests carried their frames
    old.write_text('{"kind": "partial", "heard": [1.0, 4.0]}\n')
    with pytest.raises(SystemExit, match="encoder_frames"):
        schedule_ceiling(old, [2.0])
