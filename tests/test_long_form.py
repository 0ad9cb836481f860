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


def window_words(*spans: tuple[float, float]) -> Transcription:
    words = tuple(Word(s, e, f" w{i}", 0.9) for i, (s, e) in enumerate(spans))
    return Transcription(text="".join(w.text for w in words).strip(), words=words)


def test_a_window_that_stops_early_is_read_again_from_its_last_word() -> None:
    from pipeline.long_form import LongFormPass

    plan = LongFormPass(0, 60 * SAMPLE_RATE_HZ, 30.0)
    plan.accept(window_words((0.5, 1.0), (1.0, 4.0), (4.0, 6.5)))  # a sentence, then end-of-text
    assert plan.next_window() == (int(6.5 * SAMPLE_RATE_HZ), int(36.5 * SAMPLE_RATE_HZ))


def test_a_stretched_word_is_where_the_window_is_read_again() -> None:
    from pipeline.long_form import LongFormPass

    plan = LongFormPass(0, 60 * SAMPLE_RATE_HZ, 30.0)
    plan.accept(window_words((0.0, 0.4), (0.4, 0.8), (0.8, 19.0)))  # the alignment gave up
    assert [w.text for w in plan.words] == [" w0", " w1"]
    assert plan.seek_index == SAMPLE_RATE_HZ  # at its start (0.8 s), at least MIN_ADVANCE_S


def test_a_window_that_gives_nothing_is_read_again_shorter_without_prompt() -> None:
    from pipeline.long_form import RETRY_WINDOW_S, TAIL_GUARD_S, LongFormPass

    plan = LongFormPass(0, 90 * SAMPLE_RATE_HZ, 30.0)
    plan.accept(window_words((0.0, 2.0), (2.0, 4.0), (4.0, 6.0), (27.0, 29.0)))  # one cut at 29
    seek = plan.seek_index
    assert plan.prompt()
    plan.accept(Transcription(""))  # "silence" over speech
    assert plan.next_window() == (seek, seek + int(RETRY_WINDOW_S * SAMPLE_RATE_HZ))
    assert plan.prompt() == "" and plan.windows_read_again == 1
    plan.accept(Transcription(""))  # nothing twice: skipped, the pass goes on
    assert plan.seek_index == seek + int((RETRY_WINDOW_S - TAIL_GUARD_S) * SAMPLE_RATE_HZ)
    assert plan.prompt()


def test_the_last_window_stopping_short_reads_its_tail() -> None:
    from pipeline.long_form import LongFormPass

    plan = LongFormPass(0, 20 * SAMPLE_RATE_HZ, 30.0)
    plan.accept(window_words((0.0, 1.0), (1.0, 3.0), (3.0, 5.0), (5.0, 7.0)))
    assert not plan.done and plan.next_window() == (7 * SAMPLE_RATE_HZ, 20 * SAMPLE_RATE_HZ)
    plan.accept(
        window_words((0.0, 2.0), (2.0, 4.5), (4.5, 6.5), (6.5, 9.0), (9.0, 11.5))
    )  # 1.5 s short of the end
    assert plan.done and len(plan.words) == 9
