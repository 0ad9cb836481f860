"""One sequential pass over audio longer than the backend's window (the reference for chunking).

Whisper reads 30 s at a time. The pass transcribes a window, keeps the words that end before the
window's last ``tail_guard_s`` (a word there may be cut), and starts the next window where the
first dropped word starts, so no audio is skipped and no word is read twice. This is how a single
worker transcribes a file without overlap merging; ``run.py transcribe --compare`` measures the
parallel chunked result against it.
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


def transcribe_long(
    backend: Backend,
    audio: np.ndarray,
    window_s: float | None = None,
    on_window: Callable[[float, float], None] | None = None,
) -> Transcription:
    """Transcribe ``audio`` (float32, shape (n,), 16 kHz) window after window.

    ``on_window(start_s, end_s)`` is called before each window (for progress).
    Word times in the result are seconds from the start of ``audio``.
    """
    window_s = window_s or backend.capabilities.max_window_s
    window_samples = int(window_s * SAMPLE_RATE_HZ)
    total_samples = len(audio)
    words: list[Word] = []
    texts: list[str] = []
    seek = 0
    while seek < total_samples:
        end = min(total_samples, seek + window_samples)
        offset_s = seek / SAMPLE_RATE_HZ
        if on_window:
            on_window(offset_s, end / SAMPLE_RATE_HZ)
        prompt = "".join(w.text for w in words[-40:]).strip() or None
        result = backend.transcribe(audio[seek:end], prompt=prompt)
        is_last = end >= total_samples
        kept, next_seek = _keep_and_advance(result, seek, end, is_last)
        words.extend(w.shifted(offset_s) for w in kept)
        if not result.words and result.text:
            texts.append(result.text)
        if is_last:
            break
        seek = next_seek
    text = "".join(w.text for w in words).strip() if words else " ".join(texts).strip()
    return Transcription(text=text, words=tuple(words), duration_s=total_samples / SAMPLE_RATE_HZ)


def _keep_and_advance(
    result: Transcription, seek: int, end: int, is_last: bool
) -> tuple[list[Word], int]:
    """Words to keep from this window (times relative to it) and the next window's start."""
    if is_last:
        return list(result.words), end
    window_len_s = (end - seek) / SAMPLE_RATE_HZ
    limit_s = window_len_s - TAIL_GUARD_S
    kept = [w for w in result.words if w.end_s <= limit_s]
    dropped = [w for w in result.words if w.end_s > limit_s]
    if dropped:
        advance_s = dropped[0].start_s
    elif kept:
        advance_s = max(kept[-1].end_s, limit_s)
    else:
        advance_s = limit_s
    advance_s = max(advance_s, MIN_ADVANCE_S)
    # a word kept must lie wholly before the next window
    kept = [w for w in kept if w.end_s <= advance_s + 0.05]
    return kept, seek + int(advance_s * SAMPLE_RATE_HZ)
