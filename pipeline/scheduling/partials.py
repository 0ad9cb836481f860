"""Partials of open segments: the newest audio re-transcribed, stable words by local agreement.

Planned only on workers still idle after the final work (the core asks the kinds in order): at
most one partial in flight per stream, for the newest audio of the stream's open segment (built
at dispatch time, so a newer request always replaces an older one that was never sent), and only
when the segment has ``partial_min_audio`` and ``partial_interval`` has passed since its last
partial request. The stream waiting longest since its last partial goes first. A request covers
the segment so far, or its newest window when the segment is longer than one.

Each answer is a hypothesis for ``pipeline.local_agreement``; a word is stable once two
consecutive hypotheses agree on it. A partial answered after a newer one was published, or after
its segment ended, is stale and dropped. Partials are never retried: the next one supersedes a
failed or lost one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.audio_format import samples_to_seconds
from pipeline.local_agreement import LocalAgreement
from pipeline.messages.base import Message
from pipeline.messages.work import TranscribeRequest, TranscribeResult
from pipeline.scheduling.flights import WorkReply
from pipeline.scheduling.partial_cadence import PartialCadence
from pipeline.scheduling.requests import partial_request
from pipeline.scheduling.segment import Segment, SegmentKey
from pipeline.scheduling.work_kind import Flight, WorkKind


@dataclass(eq=False, slots=True)
class PartialState:
    """The partials of one open segment."""

    agreement: LocalAgreement = field(default_factory=LocalAgreement)
    serial: int = 0  # partial requests made
    last_request_s: float | None = None
    last_end_index: int = 0  # end of the newest partial request's audio
    last_serial: int = 0  # serial of the newest partial published (0: none)
    cadence: PartialCadence = field(default_factory=PartialCadence)  # when partials may go

    def has_new_audio(self, segment: Segment, min_audio_samples: int) -> bool:
        """Audio a partial could cover now or once its interval is over."""
        return (
            segment.is_open
            and segment.audio_samples >= max(min_audio_samples, 1)
            and segment.newest_index > self.last_end_index
        )

    def due(
        self, segment: Segment, now_s: float, min_audio_samples: int, interval_s: float
    ) -> bool:
        """Whether a partial request for the newest audio may be made now."""
        return self.has_new_audio(segment, min_audio_samples) and self.cadence.due(
            self.last_request_s, now_s, interval_s
        )


def partial_span(segment: Segment, window_samples: int) -> tuple[int, int]:
    """[start, end) of a partial request: the segment so far, or its newest window."""
    end_index = segment.newest_index
    return max(segment.start_index, end_index - window_samples), end_index


class Partials(WorkKind):
    """Newest-only partials per stream with local agreement (see module doc)."""

    def __init__(self) -> None:
        self._states: dict[SegmentKey, PartialState] = {}  # open segments
        self._busy_streams: set[str] = set()  # streams with a partial in flight

    def began(self, segment: Segment) -> None:
        self._states[segment.key] = PartialState(last_end_index=segment.start_index)

    def ended(self, segment: Segment, now_s: float) -> None:
        self._states.pop(segment.key, None)  # partials are over; late answers are stale

    def forget(self, segment: Segment) -> None:
        self._states.pop(segment.key, None)

    # ---- work -----------------------------------------------------------------------------

    def plan(self, free_roles: list[str], now_s: float) -> list[Flight]:
        options = self.core.options
        due = [
            (segment, state)
            for segment in self.core.open_segments()
            if segment.stream_id not in self._busy_streams
            and (state := self._states.get(segment.key)) is not None
            and state.due(
                segment, now_s, options.partial_min_audio_samples, options.partial_interval_s
            )
        ]
        due.sort(
            key=lambda item: (
                float("-inf") if item[1].last_request_s is None else item[1].last_request_s,
                item[0].order,
            )
        )
        flights = []
        for role, (segment, state) in zip(free_roles, due, strict=False):
            start_index, end_index = partial_span(segment, options.window_samples)
            state.serial += 1
            state.cadence.sent(state.last_request_s)
            state.last_request_s = now_s
            state.last_end_index = end_index
            self._busy_streams.add(segment.stream_id)
            self.core.counters.partials_requested += 1
            prompt = self.core.prompt(segment.stream_id)
            request = partial_request(segment, state.serial, start_index, end_index, prompt)
            flights.append(Flight(role, request, segment.key, self, state.serial))
        return flights

    def answered(self, flight: Flight, reply: WorkReply, now_s: float) -> list[Message]:
        self._busy_streams.discard(flight.segment[0])
        if not isinstance(reply, TranscribeResult):
            self.core.counters.partials_failed += 1
            return []
        segment = self.core.segment(flight.segment)
        state = self._states.get(flight.segment)
        if segment is None or state is None or flight.index <= state.last_serial:
            self.core.counters.partials_stale += 1
            return []
        request = flight.request
        assert isinstance(request, TranscribeRequest)
        offset_s = samples_to_seconds(request.start_index)
        partial = state.agreement.update([w.shifted(offset_s) for w in reply.words])
        state.cadence.heard([w.text for w in reply.words])
        state.last_serial = flight.index
        return [self.core.partial(segment, partial.stable, partial.unstable, request.end_index)]

    def lost(self, flight: Flight, why: str, now_s: float) -> list[Message]:
        self._busy_streams.discard(flight.segment[0])
        self.core.counters.partials_failed += 1
        return []

    def unsent(self, flight: Flight) -> None:
        self._busy_streams.discard(flight.segment[0])
        segment = self.core.segment(flight.segment)
        state = self._states.get(flight.segment)
        if segment is not None and state is not None:
            state.last_request_s = state.cadence.unsent()  # its place in the round-robin kept
            state.last_end_index = segment.start_index

    # ---- introspection --------------------------------------------------------------------

    def queue_depths(self) -> dict[str, int]:
        min_audio = self.core.options.partial_min_audio_samples
        due = sum(
            1
            for segment in self.core.open_segments()
            if segment.stream_id not in self._busy_streams
            and (state := self._states.get(segment.key)) is not None
            and state.has_new_audio(segment, min_audio)
        )
        return {"partials": due}

    def sizes(self) -> dict[str, int]:
        return {"partial_streams": len(self._busy_streams), "partial_segments": len(self._states)}
