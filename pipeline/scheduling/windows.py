"""Sequential windows: an ended segment read one window after another by one worker at a time.

Each window is prompted with the words kept before it, and the next window starts where the
first word cut by this one's end starts (``pipeline.long_form.LongFormPass``), so nothing is
merged at seams. Slower than chunks on several workers (one request at a time per segment) but
the reference they are measured against: ``run.py transcribe --compare`` runs it.

Retries follow the core's one limit: a window whose worker was lost, or that failed retryably,
is sent again as a new attempt with a new request id; past the limit (or on a non-retryable
error) it is given up, its audio counts as lost, and the pass goes on after it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipeline.audio_format import samples_to_seconds
from pipeline.long_form import LongFormPass
from pipeline.merging import merged_text
from pipeline.messages.base import Message
from pipeline.messages.work import TranscribeResult, WorkerError
from pipeline.scheduling.flights import WorkReply
from pipeline.scheduling.requests import window_request
from pipeline.scheduling.segment import Segment, SegmentKey
from pipeline.scheduling.work_kind import FinalWork, Flight
from pipeline.words import Transcription, Word

logger = logging.getLogger(__name__)

DEFAULT_WINDOW_S = 30.0  # Whisper's window


@dataclass(eq=False, slots=True)
class WindowPass:
    """The windows of one ended segment."""

    plan: LongFormPass
    window: int = 0  # number of the window next_window() returns
    attempts: int = 0  # sends of that window so far
    busy: bool = False  # that window is in flight


class SequentialWindows(FinalWork):
    """One window after another per segment, each prompted with the words before it."""

    def __init__(self, window_s: float = DEFAULT_WINDOW_S) -> None:
        self.window_s = window_s
        self._passes: dict[SegmentKey, WindowPass] = {}

    def ended(self, segment: Segment, now_s: float) -> None:
        assert segment.end_index is not None
        plan = LongFormPass(segment.start_index, segment.end_index, self.window_s)
        self._passes[segment.key] = WindowPass(plan)

    def forget(self, segment: Segment) -> None:
        self._passes.pop(segment.key, None)

    def final_words(self, segment: Segment) -> tuple[tuple[Word, ...], str] | None:
        state = self._passes.get(segment.key)
        if state is None or not state.plan.done:
            return None
        result = state.plan.result()
        offset_s = samples_to_seconds(segment.start_index)
        words = tuple(w.shifted(offset_s) for w in result.words)
        return words, merged_text(words) or result.text

    # ---- work -----------------------------------------------------------------------------

    def plan(self, free_roles: list[str], now_s: float) -> list[Flight]:
        flights: list[Flight] = []
        free = list(free_roles)
        for segment in self.core.segments():
            state = self._passes.get(segment.key)
            if not free or state is None or state.busy:
                continue
            window = state.plan.next_window()
            if window is None:
                continue
            state.attempts += 1
            state.busy = True
            prompt = state.plan.prompt()
            request = window_request(segment, state.window, state.attempts, *window, prompt)
            flights.append(Flight(free.pop(0), request, segment.key, self, state.window))
        return flights

    def answered(self, flight: Flight, reply: WorkReply, now_s: float) -> list[Message]:
        segment, state = self._current(flight)
        if segment is None or state is None:
            self.core.counters.duplicates_dropped += 1
            return []
        state.busy = False
        if isinstance(reply, TranscribeResult):
            return self._accept(segment, state, Transcription(reply.text, reply.words), now_s)
        if isinstance(reply, WorkerError):
            why = f"{reply.error_kind}: {reply.message}"
            return self._retry(segment, state, why, now_s, retryable=reply.retryable)
        return []

    def lost(self, flight: Flight, why: str, now_s: float) -> list[Message]:
        segment, state = self._current(flight)
        if segment is None or state is None:
            return []
        state.busy = False
        return self._retry(segment, state, why, now_s, retryable=True)

    def unsent(self, flight: Flight) -> None:
        _, state = self._current(flight)
        if state is not None:
            state.busy = False
            state.attempts -= 1

    def _current(self, flight: Flight) -> tuple[Segment | None, WindowPass | None]:
        """The segment and pass ``flight`` belongs to, if it is their window in flight."""
        state = self._passes.get(flight.segment)
        if state is None or not state.busy or state.window != flight.index:
            return None, None
        return self.core.segment(flight.segment), state

    def _accept(
        self,
        segment: Segment,
        state: WindowPass,
        result: Transcription,
        now_s: float,
        may_read_again: bool = True,
    ) -> list[Message]:
        state.plan.accept(result, may_read_again)
        state.window += 1
        state.attempts = 0
        return self.core.complete_if_done(segment, now_s)

    def _retry(
        self, segment: Segment, state: WindowPass, why: str, now_s: float, retryable: bool
    ) -> list[Message]:
        if retryable and self.core.may_send_again(state.attempts):
            logger.info("%s/%d window %d sent again: %s", *segment.key, state.window, why)
            self.core.counters.retries += 1
            return []
        logger.warning(
            "%s/%d window %d given up, its words are missing from the final: %s",
            *segment.key,
            state.window,
            why,
        )
        segment.failed = True
        self.core.counters.chunks_failed += 1
        return self._accept(segment, state, Transcription(""), now_s, may_read_again=False)

    # ---- introspection --------------------------------------------------------------------

    def needed_index(self, segment: Segment) -> int | None:
        state = self._passes.get(segment.key)
        if state is None:
            return segment.start_index if segment.is_open else None
        return None if state.plan.done else state.plan.seek_index

    def queue_depths(self) -> dict[str, int]:
        waiting = sum(1 for s in self._passes.values() if not s.busy and not s.plan.done)
        return {"finals": waiting}

    def sizes(self) -> dict[str, int]:
        return {"window_segments": len(self._passes)}
