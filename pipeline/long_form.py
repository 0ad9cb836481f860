"""One sequential pass over audio longer than the backend's window (the reference for chunking).

Whisper reads 30 s at a time. The pass transcribes a window, keeps the words that end before the
window's last ``TAIL_GUARD_S`` (a word there may be cut), and starts the next window where the
first dropped word starts, so no audio is skipped and no word is read twice. This is how one
worker transcribes a file without overlap merging; ``run.py transcribe --compare`` measures the
parallel chunked result against it.

``LongFormPass`` is the step-by-step plan (the parent of a worker process drives it with
requests); ``transcribe_long`` runs it in-process with a loaded backend.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.backends.base import Backend
from pipeline.words import Transcription, Word

logger = logging.getLogger(__name__)

TAIL_GUARD_S = 1.5  # words ending in the last 1.5 s of a non-final window are read again
MIN_ADVANCE_S = 5.0  # never advance less than this, so a window with few words can't stall
PROMPT_WORDS = 40  # words of the kept text passed as the next window's prompt


class LongFormPass:
    """Plans windows over ``[start_index, end_index)`` one result at a time."""

    def __init__(self, start_index: int, end_index: int, window_s: float) -> None:
        self.start_index = start_index
        self.end_index = end_index
        self.window_samples = int(window_s * SAMPLE_RATE_HZ)
        self.seek_index = start_index
        self.words: list[Word] = []  # kept words, seconds from start_index
        self._texts_without_words: list[str] = []
        self.done = start_index >= end_index

    def next_window(self) -> tuple[int, int] | None:
        """The next window ``[start, end)`` in absolute samples, or None when the pass is done."""
        if self.done:
            return None
        return self.seek_index, min(self.end_index, self.seek_index + self.window_samples)

    def prompt(self) -> str:
        return "".join(w.text for w in self.words[-PROMPT_WORDS:]).strip()

    def accept(self, result: Transcription) -> None:
        """Take the result of the window ``next_window()`` returned (word times relative to it)."""
        window = self.next_window()
        if window is None:
            raise RuntimeError("the long-form pass is already done")
        start, end = window
        is_last = end >= self.end_index
        kept, next_seek = _keep_and_advance(result, start, end, is_last)
        offset_s = (start - self.start_index) / SAMPLE_RATE_HZ
        self.words.extend(w.shifted(offset_s) for w in kept)
        if not result.words and result.text:
            self._texts_without_words.append(result.text)
        if is_last:
            self.done = True
        else:
            self.seek_index = next_seek

    def result(self) -> Transcription:
        text = "".join(w.text for w in self.words).strip()
        if not self.words:
            text = " ".join(self._texts_without_words).strip()
        duration_s = (self.end_index - self.start_index) / SAMPLE_RATE_HZ
        return Transcription(text=text, words=tuple(self.words), duration_s=duration_s)


def transcribe_long(
    backend: Backend,
    audio: np.ndarray,
    window_s: float | None = None,
    on_window: Callable[[float, float], None] | None = None,
) -> Transcription:
    """Transcribe ``audio`` (float32, shape (n,), 16 kHz) window after window, in-process.

    ``on_window(start_s, end_s)`` is called before each window (for progress).
    Word times in the result are seconds from the start of ``audio``.
    """
    plan = LongFormPass(0, len(audio), window_s or backend.capabilities.max_window_s)
    while (window := plan.next_window()) is not None:
        start, end = window
        if on_window:
            on_window(start / SAMPLE_RATE_HZ, end / SAMPLE_RATE_HZ)
        plan.accept(backend.transcribe(audio[start:end], prompt=plan.prompt() or None))
    return plan.result()


def _keep_and_advance(
    result: Transcription, seek: int, end: int, is_last: bool
) -> tuple[list[Word], int]:
    """Words to keep from this window (times relative to it) and the next window's start."""
    if is_last:
        return list(result.words), end
    limit_s = (end - seek) / SAMPLE_RATE_HZ - TAIL_GUARD_S
    kept = [w for w in result.words if w.end_s <= limit_s]
    dropped = [w for w in result.words if w.end_s > limit_s]
    if dropped:
        advance_s = dropped[0].start_s
    elif kept:
        advance_s = max(kept[-1].end_s, limit_s)
    else:
        advance_s = limit_s
    advance_s = max(advance_s, MIN_ADVANCE_S)
    kept = [w for w in kept if w.end_s <= advance_s + 0.05]  # nothing kept reaches past the seek
    return kept, seek + int(advance_s * SAMPLE_RATE_HZ)
