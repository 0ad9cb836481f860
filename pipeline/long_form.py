"""One sequential pass over audio longer than the backend's window (the reference for chunking).

Whisper reads 30 s at a time. The pass transcribes a window, keeps the words that end before the
window's last ``TAIL_GUARD_S`` (a word there may be cut), and starts the next window where the
first dropped word starts, so no audio is skipped and no word is read twice. This is how one
worker transcribes a file without overlap merging; ``run.py transcribe --compare`` measures the
parallel chunked result against it.

Three ways tiny.en loses speech in continuous audio, measured on the dev set's 6-minute synthetic
talk (WER 0.64 before the rules below, 0.28 with them; the dev dictation files are unchanged):

- it stops early: a window full of speech gives one sentence and the end-of-text token. The next
  window starts where the last kept word ends, never at the window's end, so the rest is read
  again (the last window too: when its words stop short of the audio's end, the tail is read).
- its word alignment gives up: the words it said are spread over audio it did not transcribe, a
  word lasting 7-24 s. The words from the first stretched one are read again (``_trusted``).
- it calls a whole 30 s window of continuous speech silence (the end-of-text token first, a
  no-speech probability over the threshold), prompted or not, where the first 20 s of the same
  window decode well (with the shortened encoder). A window that gives nothing, or whose first
  word is stretched, is read once more, ``RETRY_WINDOW_S`` long and without the prompt; only a
  window that gives nothing twice is skipped.

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
MIN_ADVANCE_S = 1.0  # never advance less than this, so a window with few words can't stall
TAIL_GAP_S = 2.0  # the last window's words ending this far before the end: its tail is read again
MAX_WORD_S = 5.0  # a word aligned longer than this marks where the model stopped following
RETRY_WINDOW_S = 20.0  # a window that gave nothing is read again this long, unprompted
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
        self._retrying = False  # the window at seek_index is being read again (shorter, unprompted)
        self.windows_read_again = 0  # windows read again after giving nothing
        self.done = start_index >= end_index

    def next_window(self) -> tuple[int, int] | None:
        """The next window ``[start, end)`` in absolute samples, or None when the pass is done."""
        if self.done:
            return None
        length = _samples(RETRY_WINDOW_S) if self._retrying else self.window_samples
        return self.seek_index, min(
            self.end_index, self.seek_index + min(length, self.window_samples)
        )

    def prompt(self) -> str:
        if self._retrying:
            return ""
        return "".join(w.text for w in self.words[-PROMPT_WORDS:]).strip()

    def accept(self, result: Transcription, may_read_again: bool = True) -> None:
        """Take the result of the window ``next_window()`` returned (word times relative to it).
        ``may_read_again`` False: the window was given up (its audio is lost), go past it."""
        window = self.next_window()
        if window is None:
            raise RuntimeError("the long-form pass is already done")
        start, end = window
        read_again = not result.text or _stretched(result.words[:1])
        if may_read_again and not self._retrying and read_again:
            # nothing, or an alignment that gave up from the first word: read it once more,
            # shorter and without the prompt
            self._retrying = True
            self.windows_read_again += 1
            logger.debug("window [%d, %d) gave nothing: read again", start, end)
            return
        self._retrying = False
        result = _trusted(result)
        kept, next_seek = _keep_and_advance(result, start, end, end >= self.end_index)
        offset_s = (start - self.start_index) / SAMPLE_RATE_HZ
        self.words.extend(w.shifted(offset_s) for w in kept)
        if not result.words and result.text:
            self._texts_without_words.append(result.text)
        if next_seek >= self.end_index:
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
    """Words to keep from this window (times relative to it) and the next window's start (at
    ``end`` or past it when the pass is done)."""
    window_s = (end - seek) / SAMPLE_RATE_HZ
    if is_last:
        words = list(result.words)
        if not words or words[-1].end_s >= window_s - TAIL_GAP_S:
            return words, end
        # the words stop short of the audio's end: the model may have stopped early
        advance_s = max(words[-1].end_s, MIN_ADVANCE_S)
        if advance_s >= window_s - MIN_ADVANCE_S:
            return words, end
        return [w for w in words if w.end_s <= advance_s + 0.05], seek + _samples(advance_s)
    limit_s = window_s - TAIL_GUARD_S
    kept = [w for w in result.words if w.end_s <= limit_s]
    dropped = [w for w in result.words if w.end_s > limit_s]
    if dropped:
        advance_s = dropped[0].start_s
    elif kept:
        advance_s = kept[-1].end_s  # the model stopped here: what follows is read again
    else:
        advance_s = limit_s  # nothing heard (twice when prompted): skip the window
    advance_s = max(advance_s, MIN_ADVANCE_S)
    kept = [w for w in kept if w.end_s <= advance_s + 0.05]  # nothing kept reaches past the seek
    return kept, seek + _samples(advance_s)


def _trusted(result: Transcription) -> Transcription:
    """``result`` up to its first stretched word after the first (aligned over more than
    ``MAX_WORD_S``).

    When tiny.en stops following the audio (it stopped early, or skipped a passage), the
    cross-attention alignment spreads the words it did say over the unheard audio: a word then
    lasts 7-24 s (measured), and seeking past it would skip speech. The words from there are read
    again with what follows. The first word keeps its span (a window whose first word is
    stretched is read again first, see ``LongFormPass.accept``): reading from its start again
    would not move the pass on.
    """
    for index in range(1, len(result.words)):
        if _stretched(result.words[index : index + 1]):
            words = result.words[:index]
            text = "".join(w.text for w in words).strip()
            return Transcription(text=text, words=words, duration_s=result.duration_s)
    return result


def _stretched(words: tuple[Word, ...]) -> bool:
    """Any of ``words`` aligned over more than ``MAX_WORD_S`` (a pause before or after a word
    in dictation gives it up to ~4.5 s)."""
    return any(w.end_s - w.start_s > MAX_WORD_S for w in words)


def _samples(seconds: float) -> int:
    return int(seconds * SAMPLE_RATE_HZ)
