"""Streamed sessions (parakeet): one stateful session per segment, owned by one worker.

Each segment gets a ``StreamSession`` when it starts. The worker that takes its ``StreamOpen``
owns its state while the segment lasts; every later message (feeds as audio arrives, the close
when speech ends) goes to that worker only. Updates carry finalized and draft words, published
as partials; the final update's finalized words are the segment's final.

Dispatch order on idle workers:

1. Work bound to an owner, on owners that are idle: closes (they produce finals) before feeds,
   oldest segment first. An owner with several sessions serves one of them per dispatch.
2. Then opens of new (or reopened) sessions, oldest first, each on the idle worker that owns the
   fewest unfinished sessions, so streams spread over the workers. Opening late loses nothing:
   the audio stays in the ring (``needed_index``) and the first feed catches up.

When the owner is lost (or answers ``unknown_session``) the session is reopened on any worker as
a new generation from its last finalized index, up to the core's retry limit; a retryable error
sends the same message again. Past the limit, or on a non-retryable error, the session is given
up and the final keeps the words finalized so far.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pipeline.merging import merged_text
from pipeline.messages.base import Message
from pipeline.messages.work import StreamClose, StreamFeed, StreamOpen, StreamUpdate, WorkerError
from pipeline.scheduling.flights import WorkReply, flight_key
from pipeline.scheduling.segment import Segment, SegmentKey
from pipeline.scheduling.stream_session import SessionMessage, StreamSession
from pipeline.scheduling.work_kind import FinalWork, Flight
from pipeline.words import Word

logger = logging.getLogger(__name__)

UNKNOWN_SESSION = "unknown_session"  # WorkerError kind: the worker no longer holds the session


class StreamedSessions(FinalWork):
    """Stateful streaming sessions, one per segment (see module doc)."""

    def __init__(self) -> None:
        self._sessions: dict[SegmentKey, StreamSession] = {}

    def began(self, segment: Segment) -> None:
        self._sessions[segment.key] = StreamSession(
            segment.stream_id, segment.segment_id, segment.ring_name, segment.start_index
        )

    def ended(self, segment: Segment, now_s: float) -> None:
        session = self._sessions.get(segment.key)
        if session is not None and segment.end_index == session.open_index and not session.opened:
            session.give_up()  # no audio, no session needed

    def forget(self, segment: Segment) -> None:
        self._sessions.pop(segment.key, None)

    def final_words(self, segment: Segment) -> tuple[tuple[Word, ...], str] | None:
        session = self._sessions.get(segment.key)
        if session is None or not session.finished:
            return None
        words = session.stable_words
        return words, merged_text(words)

    # ---- work -----------------------------------------------------------------------------

    def plan(self, free_roles: list[str], now_s: float) -> list[Flight]:
        flights = []
        for role, segment, message in self._plan(free_roles):
            session = self._sessions[segment.key]
            session.sent(message, role)
            flights.append(Flight(role, message, segment.key, self))
        return flights

    def _plan(self, free_roles: Sequence[str]) -> list[tuple[str, Segment, SessionMessage]]:
        free = list(free_roles)
        owned = dict.fromkeys(free, 0)
        bound: list[tuple[int, int, str, Segment, SessionMessage]] = []
        opens: list[tuple[int, Segment, SessionMessage]] = []
        for segment in self.core.segments():
            session = self._sessions.get(segment.key)
            if session is None or session.finished:
                continue
            if session.owner in owned:
                owned[session.owner] += 1
            message = session.next_message(segment.newest_index, segment.end_index)
            if message is None:
                continue
            if isinstance(message, StreamOpen):
                opens.append((segment.order, segment, message))
            elif session.owner in owned:
                rank = 0 if isinstance(message, StreamClose) else 1
                bound.append((rank, segment.order, session.owner, segment, message))
        plan: list[tuple[str, Segment, SessionMessage]] = []
        bound.sort(key=lambda item: item[:2])
        for _, _, owner, segment, message in bound:
            if owner in free:
                free.remove(owner)
                plan.append((owner, segment, message))
        opens.sort(key=lambda item: item[0])
        for _, segment, message in opens:
            if not free:
                break
            role = min(free, key=lambda r: owned[r])  # ties: the order the caller gave
            free.remove(role)
            owned[role] += 1
            plan.append((role, segment, message))
        return plan

    def answered(self, flight: Flight, reply: WorkReply, now_s: float) -> list[Message]:
        segment = self.core.segment(flight.segment)
        session = self._current(flight)
        if segment is None or session is None:
            self.core.counters.duplicates_dropped += 1  # abandoned segment or superseded generation
            return []
        request = flight.request
        assert isinstance(request, StreamOpen | StreamFeed | StreamClose)
        if isinstance(reply, WorkerError):
            return self._on_error(segment, session, request, reply, now_s)
        if not isinstance(reply, StreamUpdate):
            return []
        session.apply(reply)
        if session.finished:
            return self.core.complete_if_done(segment, now_s)
        if not segment.is_open:
            self.core.counters.partials_stale += 1  # the final is coming
            return []
        stable, unstable = merged_text(session.stable_words), merged_text(session.draft)
        if (stable, unstable) == segment.last_partial_text:
            return []
        end_index = request.end_index if isinstance(request, StreamFeed) else session.open_index
        return [self.core.partial(segment, stable, unstable, end_index)]

    def lost(self, flight: Flight, why: str, now_s: float) -> list[Message]:
        segment = self.core.segment(flight.segment)
        if segment is None or self._current(flight) is None:
            return []
        return self._reopen(segment, why, now_s)

    def unsent(self, flight: Flight) -> None:
        session = self._current(flight)
        if session is not None:
            assert isinstance(flight.request, StreamOpen | StreamFeed | StreamClose)
            session.unsent(flight.request)

    def worker_lost(self, role: str, why: str, now_s: float) -> list[Message]:
        out: list[Message] = []
        for segment in list(self.core.segments()):
            session = self._sessions.get(segment.key)
            if session is not None and session.owner == role and not session.finished:
                out.extend(self._reopen(segment, why, now_s))
        return out

    def _current(self, flight: Flight) -> StreamSession | None:
        """The session ``flight`` belongs to, if it is still that session's generation."""
        session = self._sessions.get(flight.segment)
        if session is None or session.session_id != flight_key(flight.request):
            return None
        return session

    def _on_error(
        self,
        segment: Segment,
        session: StreamSession,
        request: SessionMessage,
        error: WorkerError,
        now_s: float,
    ) -> list[Message]:
        why = f"{error.error_kind}: {error.message}"
        if error.error_kind == UNKNOWN_SESSION:
            return self._reopen(segment, why, now_s)
        if error.retryable and self.core.may_send_again(session.failures + 1):
            session.failures += 1
            session.unsent(request)
            self.core.counters.retries += 1
            logger.info("session %s: %s sent again: %s", session.session_id, request.kind, why)
            return []
        status = "audio_lost" if error.error_kind == "ring_overrun" else "failed"
        return self._give_up(segment, why, now_s, status)

    def _reopen(self, segment: Segment, why: str, now_s: float) -> list[Message]:
        session = self._sessions[segment.key]
        if session.busy:
            # Defensive: a superseded generation keeps no flight (its reply would be dropped).
            self.core.cancel(session.session_id)
        if not self.core.may_send_again(session.generation):
            return self._give_up(segment, f"{why} (after {session.generation} sessions)", now_s)
        old_id = session.session_id
        session.reopen()
        self.core.counters.retries += 1
        logger.info(
            "session %s reopened as %s from index %d: %s",
            old_id,
            session.session_id,
            session.open_index,
            why,
        )
        return []

    def _give_up(
        self, segment: Segment, why: str, now_s: float, status: str = "failed"
    ) -> list[Message]:
        logger.warning(
            "session of %s/%d given up, its final keeps the words finalized so far: %s",
            *segment.key,
            why,
        )
        session = self._sessions[segment.key]
        segment.lose(session.resume_index, None, status)  # after its finalized words
        session.give_up()
        self.core.counters.chunks_failed += 1
        return self.core.complete_if_done(segment, now_s)

    # ---- introspection --------------------------------------------------------------------

    def needed_index(self, segment: Segment) -> int | None:
        session = self._sessions.get(segment.key)
        return session.resume_index if session is not None else None

    def queue_depths(self) -> dict[str, int]:
        waiting = 0
        for segment in self.core.segments():
            session = self._sessions.get(segment.key)
            message = (
                session.next_message(segment.newest_index, segment.end_index)
                if session is not None
                else None
            )
            waiting += message is not None
        return {"sessions": waiting}

    def sizes(self) -> dict[str, int]:
        return {"sessions": len(self._sessions)}
