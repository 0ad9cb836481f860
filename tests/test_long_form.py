"""The sequential long-form pass: no word lost or read twice across windows (scripted backend)."""

from __future__ import annotations

import numpy as np

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.backends.base import Backend, Capabilities
from pipeline.long_form import transcribe_long
from pipeline.words import Transcription, Word

WORD_S = 0.6  # every scripted word lasts 0.6 s, one after another


class ScriptedBackend(Backend):
    """Hears word i wherever its whole span lies inside the window (a cut word is heard as a half)."""

    name = "scripted"

    def __init__(self, total_words: int) -> None:
        self.total_words = total_words
        self.calls: list[tuple[float, float]] = []
        self._offset_s = 0.0

    @property
    def model_name(self) -> str:
        return "scripted"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(offline=True, streaming=False, max_window_s=30.0)

    def transcribe(self, audio: np.ndarray, prompt: str | None = None) -> Transcription:
        # the test encodes the window's absolute start in the first sample
        start_s = float(audio[0])
        end_s = start_s + len(audio) / SAMPLE_RATE_HZ
        self.calls.append((start_s, end_s))
        words = []
        for i in range(self.total_words):
            w_start, w_end = i * WORD_S, (i + 1) * WORD_S
            if w_start >= start_s - 1e-3 and w_end <= end_s + 1e-3:
                words.append(Word(w_start - start_s, w_end - start_s, f" w{i}", 0.9))
            elif w_start < end_s <= w_end:
                words.append(Word(w_start - start_s, end_s - start_s, f" w{i}-half", 0.3))
        return Transcription(text="".join(w.text for w in words).strip(), words=tuple(words))


def make_audio(duration_s: float) -> np.ndarray:
    """Each sample holds the absolute time of its position, so the backend knows its window."""
    return (np.arange(int(duration_s * SAMPLE_RATE_HZ), dtype=np.float64) / SAMPLE_RATE_HZ).astype(
        np.float32
    )


def test_every_word_once_in_order_across_windows() -> None:
    total_words = 160  # 96 s
    backend = ScriptedBackend(total_words)
    result = transcribe_long(backend, make_audio(total_words * WORD_S))
    assert [w.text for w in result.words] == [f" w{i}" for i in range(total_words)]
    assert len(backend.calls) >= 4
    starts = [w.start_s for w in result.words]
    assert starts == sorted(starts)
    assert abs(result.words[17].start_s - 17 * WORD_S) < 1e-3


def test_short_audio_is_one_window() -> None:
    backend = ScriptedBackend(10)
    result = transcribe_long(backend, make_audio(6.0))
    assert len(backend.calls) == 1 and len(result.words) == 10
