"""The supervisor's scheduling brain: speech events in, work requests out, transcripts back.

Pure logic: no sockets, no processes, no clock (every call that needs time takes ``now_s``,
any monotonic clock in seconds). The supervisor feeds it VAD events, asks it what to send to its
idle workers (``dispatch``), hands it replies and lost requests, and publishes what it returns.

Guarantees:

- Exactly once: every segment that ended gets exactly one ``TranscriptFinal``, with empty text
  when it held no speech or its audio could not be transcribed (a non-retryable error such as
  ``ring_overrun``, or ``max_attempts`` sends lost or failed; counted in ``stats``). A segment
  abandoned while still open (``vad_restarted``) gets none: the restarted VAD detects its audio
  again under a new, higher segment id.
- Finals of one stream go out in segment order; ``seq`` counts them 1, 2, 3, ... across streams
  in publish order (``final_order``).
- A request whose worker was lost, or that failed retryably, is sent again (any idle worker) as
  a new attempt with a new request id; a reply to an id not in flight is a late duplicate and is
  dropped. Partials are never retried: the next one supersedes them.
- Memory: a segment is forgotten when its final is published; the only per-stream state is the
  last segment id and the last final text; the stats are counters.

Segment ids of a stream must increase (a restarted VAD starts at one past the highest id seen,
see ``workers/stream_children.py``); an event for an older or unknown id is stale and ignored.
See ``plans`` for the dispatch policy (finals first; the streaming queue order).
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
from collections.abc import Mapping

from config.schema import Config
from pipeline.audio_format import samples_to_seconds
from pipeline.local_agreement import LocalAgreement
from pipeline.merging import ChunkWords, merged_text
from pipeline.messages.base import Message
from pipeline.messages.speech import SpeechEnded, SpeechOngoing, SpeechStarted
from pipeline.messages.transcripts import SpeechEvent, TranscriptPartial
from pipeline.messages.work import (
    StreamClose,
    StreamFeed,
    StreamOpen,
    StreamUpdate,
    TranscribeRequest,
    TranscribeResult,
    WorkerError,
)
from pipeline.scheduling.final_order import FIRST_SEQ, FinalOrder, SegmentOutcome
from pipeline.scheduling.final_words import ChunkResult, assemble_final
from pipeline.scheduling.flights import Flight, Purpose, WorkRequest, flight_key
from pipeline.scheduling.options import SchedulerOptions
from pipeline.scheduling.plans import partial_candidates, partial_span, plan_sessions
from pipeline.scheduling.requests import chunk_request, partial_request, prompt_tail
from pipeline.scheduling.segment import Segment, SegmentKey
from pipeline.scheduling.stats import SchedulerStats
from pipeline.scheduling.stream_session import StreamSession

logger = logging.getLogger(__name__)

UNKNOWN_SESSION = "unknown_session"  # WorkerError kind: the worker no longer holds the session


class SegmentScheduler:
    """Turns speech events into work requests and results into transcripts (see module doc)."""

    def __init__(
        self, options: SchedulerOptions, rings: Mapping[str, str], first_seq: int = FIRST_SEQ
    ) -> None:
        """``first_seq``: the seq of the first final (the journal's next seq, so numbering
        continues across daemon restarts)."""
        self.options = options
        self._rings = dict(rings)  # stream id -> ring name
        self._segments: dict[SegmentKey, Segment] = {}  # started, final not yet out
        self._open: dict[str, SegmentKey] = {}  # stream -> its segment in speech
        self._last_segment_id: dict[str, int] = {}  # stream -> highest segment id seen
        self._final_queue: list[tuple[int, int, str, int]] = []  # heap of (order, chunk, key)
        self._flights: dict[str, Flight] = {}  # request or session id -> what is in flight
        self._busy_roles: dict[str, str] = {}  # worker role -> the id it works on
        self._partial_streams: set[str] = set()  # streams with a partial in flight
        self._order = FinalOrder(options.backend, options.model, first_seq)
        self._stats = SchedulerStats()
        self._next_order = 0

    def reconfigure(
        self, config: Config, backend_name: str | None = None, model_name: str | None = None
    ) -> None:
        """Take new chunking, partial and prompt settings (a profile change) for work queued
        from now on; segments already cut keep their chunks. Streaming mode and the retry limit
        stay; backend and model names change only when given."""
        options = SchedulerOptions.from_config(
            config,
            backend_name or self.options.backend,
            model_name or self.options.model,
            self.options.streaming,
            max_attempts=self.options.max_attempts,
        )
        self.options = dataclasses.replace(options, prompt_max_chars=self.options.prompt_max_chars)
        self._order.backend, self._order.model = options.backend, options.model

    def add_stream(self, stream_id: str, ring_name: str) -> None:
        """Accept events of another stream (or a stream whose ring was recreated)."""
        self._rings[stream_id] = ring_name

    # ---- speech events --------------------------------------------------------------------

    def speech_started(self, message: SpeechStarted, now_s: float) -> list[Message]:
        """A segment begins: returns its ``SpeechEvent("started")``."""
        stream_id = message.stream_id
        if not self._accepts_new(stream_id, message.segment_id, message.kind):
            return []
        if stream_id in self._open:
            logger.warning(
                "%s: segment %d started while %d is open; dropping the open one",
                stream_id,
                message.segment_id,
                self._open[stream_id][1],
            )
            self._abandon(stream_id)
        self._begin(stream_id, message.segment_id, message.start_index)
        return [SpeechEvent(stream_id, message.segment_id, "started", _s(message.start_index))]

    def speech_ongoing(self, message: SpeechOngoing, now_s: float) -> list[Message]:
        """Speech goes on: remember the newest audio (for partials or the session's feed)."""
        segment = self._open_segment(message.stream_id, message.segment_id, message.kind)
        if segment is not None:
            segment.newest_index = max(segment.newest_index, message.current_index)
        return []

    def speech_ended(self, message: SpeechEnded, now_s: float) -> list[Message]:
        """A segment is complete: queue its final work; returns ``SpeechEvent("ended")`` (and
        its final at once when it holds no audio and nothing is ahead of it)."""
        stream_id = message.stream_id
        out: list[Message] = []
        segment = self._segments.get((stream_id, message.segment_id))
        if segment is None or not segment.is_open:
            # An end whose start was missed opens and ends the segment at once.
            if not self._accepts_new(stream_id, message.segment_id, message.kind):
                return []
            if stream_id in self._open:
                self._abandon(stream_id)
            segment = self._begin(stream_id, message.segment_id, message.start_index)
            out.append(
                SpeechEvent(stream_id, segment.segment_id, "started", _s(segment.start_index))
            )
        del self._open[stream_id]
        chunking = None if self.options.streaming else self.options.chunking
        segment.end(message.end_index, now_s, chunking, self.options.workers)
        out.append(SpeechEvent(stream_id, segment.segment_id, "ended", _s(segment.end_index or 0)))
        session = segment.session
        if session is not None and segment.end_index == session.open_index and not session.opened:
            session.give_up()  # no audio, no session needed
        for chunk in segment.chunks:
            heapq.heappush(self._final_queue, (segment.order, chunk.index, *segment.key))
        out.extend(self._complete_if_done(segment, now_s))
        return out

    def vad_restarted(self, stream_id: str) -> None:
        """The stream's VAD was restarted: its open segment is dropped without a final (the new
        VAD detects that audio again under a new segment id)."""
        if stream_id in self._open:
            self._abandon(stream_id)

    # ---- dispatch -------------------------------------------------------------------------

    def dispatch(self, idle_roles: list[str], now_s: float) -> list[tuple[str, WorkRequest]]:
        """What to send now to which idle worker: (role, request) pairs, at most one per role.

        Roles the scheduler still counts as busy are skipped. Call it on every loop turn, not
        only on events: partials wait for their interval.
        """
        free = [role for role in dict.fromkeys(idle_roles) if role not in self._busy_roles]
        out: list[tuple[str, WorkRequest]] = []
        if self.options.streaming:
            for role, segment, message in plan_sessions(list(self._segments.values()), free):
                assert segment.session is not None
                segment.session.sent(message, role)
                self._send(out, role, Flight(role, message, segment.key, Purpose.SESSION))
            return out
        while free and self._final_queue:
            _, chunk_index, stream_id, segment_id = heapq.heappop(self._final_queue)
            segment = self._segments.get((stream_id, segment_id))
            if segment is None or segment.chunk_settled(chunk_index):
                continue
            role = free.pop(0)
            request = self._chunk_request(segment, chunk_index)
            self._send(out, role, Flight(role, request, segment.key, Purpose.CHUNK, chunk_index))
        if free:
            for segment in partial_candidates(
                [self._segments[key] for key in self._open.values()],
                self._partial_streams,
                now_s,
                self.options.partial_min_audio_samples,
                self.options.partial_interval_s,
            ):
                if not free:
                    break
                role = free.pop(0)
                request = self._partial_request(segment, now_s)
                serial = segment.partial_serial
                self._send(out, role, Flight(role, request, segment.key, Purpose.PARTIAL, serial))
        return out

    def _chunk_request(self, segment: Segment, chunk_index: int) -> TranscribeRequest:
        attempt = segment.attempts.get(chunk_index, 0) + 1
        segment.attempts[chunk_index] = attempt
        return chunk_request(segment, chunk_index, attempt, self._prompt(segment.stream_id))

    def _partial_request(self, segment: Segment, now_s: float) -> TranscribeRequest:
        start_index, end_index = partial_span(segment, self.options.window_samples)
        segment.partial_serial += 1
        segment.last_partial_request_s = now_s
        segment.last_partial_end_index = end_index
        self._partial_streams.add(segment.stream_id)
        self._stats.partials_requested += 1
        prompt = self._prompt(segment.stream_id)
        return partial_request(segment, segment.partial_serial, start_index, end_index, prompt)

    def _send(self, out: list[tuple[str, WorkRequest]], role: str, flight: Flight) -> None:
        key = flight_key(flight.request)
        self._flights[key] = flight
        self._busy_roles[role] = key
        self._stats.requests_sent += 1
        out.append((role, flight.request))
        logger.debug("%s -> %s", key, role)

    def _prompt(self, stream_id: str) -> str:
        if not self.options.use_prompt:
            return ""
        return prompt_tail(self._order.last_text(stream_id), self.options.prompt_max_chars)

    # ---- replies and losses ---------------------------------------------------------------

    def on_reply(self, role: str, message: Message, now_s: float) -> list[Message]:
        """A worker answered: returns the partials and finals to publish, in order."""
        if not isinstance(message, TranscribeResult | WorkerError | StreamUpdate):
            logger.warning("%s sent %s, which is no reply; ignored", role, message.kind)
            return []
        key = message.session_id if isinstance(message, StreamUpdate) else message.request_id
        flight = self._flights.pop(key, None)
        if flight is None:
            self._stats.duplicates_dropped += 1
            logger.debug("late or duplicate reply %s from %s dropped", key, role)
            return []
        self._release(key, flight)
        if flight.role != role:
            logger.warning("%s answered by %s, sent to %s", key, role, flight.role)
        if flight.purpose is Purpose.CHUNK:
            return self._on_chunk_reply(flight, message, now_s)
        if flight.purpose is Purpose.PARTIAL:
            return self._on_partial_reply(flight, message)
        return self._on_session_reply(flight, message, now_s)

    def on_lost(self, role: str, request: WorkRequest, now_s: float) -> list[Message]:
        """``request``'s worker died or hung: send it again elsewhere (streaming: reopen every
        session that worker owned). Returns finals that giving up completed (publish them)."""
        key = flight_key(request)
        flight = self._flights.pop(key, None)
        if flight is None:
            logger.debug("lost request %s is not in flight; ignored", key)
            return []
        self._release(key, flight)
        segment = self._segments.get(flight.segment)
        why = f"{flight.role} lost"
        out: list[Message] = []
        if flight.purpose is Purpose.PARTIAL:
            self._partial_streams.discard(flight.segment[0])
            self._stats.partials_failed += 1
        elif segment is not None and flight.purpose is Purpose.CHUNK:
            out.extend(self._retry_chunk(segment, flight.index, why, now_s))
        elif self._current_session(segment, key):
            assert segment is not None
            out.extend(self._reopen(segment, why, now_s))
        out.extend(self._reopen_owned_by(flight.role, why, now_s))
        return out

    def worker_restarted(self, role: str, now_s: float) -> list[Message]:
        """Everything on ``role`` is gone (the pool replaced it): its request in flight is lost
        and the sessions it owned are reopened. Idempotent with ``on_lost``."""
        key = self._busy_roles.get(role)
        if key is not None:
            return self.on_lost(role, self._flights[key].request, now_s)
        return self._reopen_owned_by(role, f"{role} restarted", now_s)

    def on_unsent(self, role: str, request: WorkRequest, now_s: float) -> None:
        """The pool could not deliver ``request`` (``submit`` returned False): it goes back to
        the queue as it was, without counting an attempt."""
        key = flight_key(request)
        flight = self._flights.pop(key, None)
        if flight is None:
            return
        self._release(key, flight)
        self._stats.requests_sent -= 1
        segment = self._segments.get(flight.segment)
        if flight.purpose is Purpose.PARTIAL:
            self._partial_streams.discard(flight.segment[0])
            if segment is not None:
                segment.last_partial_request_s = None
                segment.last_partial_end_index = segment.start_index
        elif segment is not None and flight.purpose is Purpose.CHUNK:
            segment.attempts[flight.index] -= 1
            heapq.heappush(self._final_queue, (segment.order, flight.index, *segment.key))
        elif self._current_session(segment, key):
            assert segment is not None and segment.session is not None
            assert isinstance(request, StreamOpen | StreamFeed | StreamClose)
            segment.session.unsent(request)

    @staticmethod
    def _current_session(segment: Segment | None, key: str) -> bool:
        """Whether ``key`` is the id of ``segment``'s current session generation."""
        return (
            segment is not None
            and segment.session is not None
            and segment.session.session_id == key
        )

    def _release(self, key: str, flight: Flight) -> None:
        if self._busy_roles.get(flight.role) == key:
            del self._busy_roles[flight.role]

    def _on_chunk_reply(self, flight: Flight, message: Message, now_s: float) -> list[Message]:
        segment = self._segments.get(flight.segment)
        chunk_index = flight.index
        if segment is None or segment.chunk_settled(chunk_index):
            self._stats.duplicates_dropped += 1
            return []
        if isinstance(message, TranscribeResult):
            request = flight.request
            assert isinstance(request, TranscribeRequest)
            words = ChunkWords.from_relative(
                chunk_index, _s(request.start_index), _s(request.end_index), message.words
            )
            segment.results[chunk_index] = ChunkResult(words, message.text)
            return self._complete_if_done(segment, now_s)
        assert isinstance(message, WorkerError)
        why = f"{message.error_kind}: {message.message}"
        if message.retryable:
            return self._retry_chunk(segment, chunk_index, why, now_s)
        self._fail_chunk(segment, chunk_index, why)
        return self._complete_if_done(segment, now_s)

    def _retry_chunk(
        self, segment: Segment, chunk_index: int, why: str, now_s: float
    ) -> list[Message]:
        if segment.attempts.get(chunk_index, 0) >= self.options.max_attempts:
            self._fail_chunk(
                segment, chunk_index, f"{why} (after {self.options.max_attempts} sends)"
            )
            return self._complete_if_done(segment, now_s)
        logger.info("%s/%d chunk %d sent again: %s", *segment.key, chunk_index, why)
        self._stats.retries += 1
        heapq.heappush(self._final_queue, (segment.order, chunk_index, *segment.key))
        return []

    def _fail_chunk(self, segment: Segment, chunk_index: int, why: str) -> None:
        logger.warning(
            "%s/%d chunk %d given up, its words are missing from the final: %s",
            *segment.key,
            chunk_index,
            why,
        )
        segment.failed_chunks.add(chunk_index)
        segment.failed = True
        self._stats.chunks_failed += 1

    def _on_partial_reply(self, flight: Flight, message: Message) -> list[Message]:
        stream_id = flight.segment[0]
        self._partial_streams.discard(stream_id)
        if not isinstance(message, TranscribeResult):
            self._stats.partials_failed += 1
            return []
        segment = self._segments.get(flight.segment)
        if (
            segment is None
            or not segment.is_open
            or segment.agreement is None
            or flight.index <= segment.last_partial_serial
        ):
            self._stats.partials_stale += 1
            return []
        request = flight.request
        assert isinstance(request, TranscribeRequest)
        offset_s = _s(request.start_index)
        partial = segment.agreement.update([w.shifted(offset_s) for w in message.words])
        segment.last_partial_serial = flight.index
        return [self._partial(segment, partial.stable, partial.unstable, request.end_index)]

    def _on_session_reply(self, flight: Flight, message: Message, now_s: float) -> list[Message]:
        segment = self._segments.get(flight.segment)
        session = segment.session if segment is not None else None
        if segment is None or session is None or session.session_id != flight_key(flight.request):
            self._stats.duplicates_dropped += 1  # abandoned segment or superseded generation
            return []
        request = flight.request
        assert isinstance(request, StreamOpen | StreamFeed | StreamClose)
        if isinstance(message, WorkerError):
            return self._on_session_error(segment, session, request, message, now_s)
        if not isinstance(message, StreamUpdate):
            return []
        session.apply(message)
        if session.finished:
            return self._complete_if_done(segment, now_s)
        if not segment.is_open:
            self._stats.partials_stale += 1  # the final is coming
            return []
        stable, unstable = merged_text(session.stable_words), merged_text(session.draft)
        if (stable, unstable) == segment.last_partial_text:
            return []
        end_index = request.end_index if isinstance(request, StreamFeed) else session.open_index
        return [self._partial(segment, stable, unstable, end_index)]

    def _on_session_error(
        self,
        segment: Segment,
        session: StreamSession,
        request: StreamOpen | StreamFeed | StreamClose,
        error: WorkerError,
        now_s: float,
    ) -> list[Message]:
        why = f"{error.error_kind}: {error.message}"
        if error.error_kind == UNKNOWN_SESSION:
            return self._reopen(segment, why, now_s)
        if error.retryable and session.failures + 1 < self.options.max_attempts:
            session.failures += 1
            session.unsent(request)
            self._stats.retries += 1
            logger.info("session %s: %s sent again: %s", session.session_id, request.kind, why)
            return []
        return self._give_up_session(segment, why, now_s)

    def _reopen_owned_by(self, role: str, why: str, now_s: float) -> list[Message]:
        out: list[Message] = []
        for segment in list(self._segments.values()):
            session = segment.session
            if session is not None and session.owner == role and not session.finished:
                out.extend(self._reopen(segment, why, now_s))
        return out

    def _reopen(self, segment: Segment, why: str, now_s: float) -> list[Message]:
        session = segment.session
        assert session is not None
        busy_key = session.session_id if session.busy else None
        if busy_key is not None and busy_key in self._flights:
            # Defensive: a superseded generation keeps no flight (its reply would be dropped).
            self._release(busy_key, self._flights.pop(busy_key))
        if session.generation >= self.options.max_attempts:
            return self._give_up_session(
                segment, f"{why} (after {session.generation} sessions)", now_s
            )
        old_id = session.session_id
        session.reopen()
        self._stats.retries += 1
        logger.info(
            "session %s reopened as %s from index %d: %s",
            old_id,
            session.session_id,
            session.open_index,
            why,
        )
        return []

    def _give_up_session(self, segment: Segment, why: str, now_s: float) -> list[Message]:
        assert segment.session is not None
        logger.warning(
            "session of %s/%d given up, its final keeps the words finalized so far: %s",
            *segment.key,
            why,
        )
        segment.session.give_up()
        segment.failed = True
        self._stats.chunks_failed += 1
        return self._complete_if_done(segment, now_s)

    # ---- completion -----------------------------------------------------------------------

    def _partial(
        self, segment: Segment, stable: str, unstable: str, end_index: int
    ) -> TranscriptPartial:
        partial = TranscriptPartial(
            stream_id=segment.stream_id,
            segment_id=segment.segment_id,
            revision=segment.partial_revision,
            start_s=_s(segment.start_index),
            end_s=_s(max(end_index, segment.start_index)),
            stable=stable,
            unstable=unstable,
            backend=self.options.backend,
            model=self.options.model,
        )
        segment.partial_revision += 1
        segment.last_partial_text = (stable, unstable)
        self._stats.partials_published += 1
        return partial

    def _complete_if_done(self, segment: Segment, now_s: float) -> list[Message]:
        """Hand a finished segment to the final order; returns the finals that go out now."""
        if segment.is_open or segment.complete:
            return []
        if segment.session is not None:
            if not segment.session.finished:
                return []
            words = segment.session.stable_words
            text = merged_text(words)
        else:
            if segment.chunks_pending:
                return []
            words, text = assemble_final(segment.results.values())
        segment.complete = True
        del self._segments[segment.key]
        assert segment.end_index is not None
        outcome = SegmentOutcome(
            segment.stream_id,
            segment.segment_id,
            segment.start_index,
            segment.end_index,
            segment.ended_at_s,
            words,
            text,
            segment.failed,
        )
        self._stats.finals_failed += int(segment.failed)
        self._stats.finals_empty += int(not text)
        finals = self._order.complete(outcome, now_s)
        self._stats.finals_published += len(finals)
        return list(finals)

    # ---- segments -------------------------------------------------------------------------

    def _accepts_new(self, stream_id: str, segment_id: int, kind: str) -> bool:
        if stream_id not in self._rings:
            logger.warning("%s for unknown stream %r ignored", kind, stream_id)
            self._stats.events_ignored += 1
            return False
        last = self._last_segment_id.get(stream_id)
        if last is not None and segment_id <= last:
            logger.warning(
                "%s of %s/%d ignored: segment ids of the stream are past %d (stale event)",
                kind,
                stream_id,
                segment_id,
                last,
            )
            self._stats.events_ignored += 1
            return False
        return True

    def _begin(self, stream_id: str, segment_id: int, start_index: int) -> Segment:
        ring_name = self._rings[stream_id]
        segment = Segment(
            stream_id=stream_id,
            segment_id=segment_id,
            order=self._next_order,
            ring_name=ring_name,
            start_index=start_index,
            newest_index=start_index,
            last_partial_end_index=start_index,
        )
        if self.options.streaming:
            segment.session = StreamSession(stream_id, segment_id, ring_name, start_index)
        else:
            segment.agreement = LocalAgreement()
        self._next_order += 1
        self._last_segment_id[stream_id] = segment_id
        self._segments[segment.key] = segment
        self._open[stream_id] = segment.key
        self._order.expect(stream_id, segment_id)
        self._stats.segments_started += 1
        return segment

    def _open_segment(self, stream_id: str, segment_id: int, kind: str) -> Segment | None:
        key = self._open.get(stream_id)
        if key is None or key[1] != segment_id:
            logger.debug("%s of %s/%d: no such open segment; ignored", kind, stream_id, segment_id)
            self._stats.events_ignored += 1
            return None
        return self._segments[key]

    def _abandon(self, stream_id: str) -> None:
        key = self._open.pop(stream_id)
        self._segments.pop(key)
        self._order.abandon(*key)
        self._stats.segments_abandoned += 1
        logger.info("%s/%d abandoned while open: no final", *key)

    # ---- introspection --------------------------------------------------------------------

    def queue_depths(self) -> dict[str, int]:
        """Work waiting: final chunks, streams due a partial, session messages, held finals."""
        sessions = sum(
            1
            for segment in self._segments.values()
            if segment.session is not None
            and segment.session.next_message(segment.newest_index, segment.end_index) is not None
        )
        partials = sum(
            1
            for key in self._open.values()
            if key[0] not in self._partial_streams
            and self._segments[key].session is None
            and self._segments[key].has_new_partial_audio(self.options.partial_min_audio_samples)
        )
        return {
            "finals": len(self._final_queue),
            "partials": partials,
            "sessions": sessions,
            "held": self._order.held(),
        }

    def oldest_needed_index(self, stream_id: str) -> int | None:
        """Lowest ring index of the stream that queued, in-flight or open work may still read
        (the ring cursor the supervisor holds); None when nothing is needed."""
        needed = [
            index
            for segment in self._segments.values()
            if segment.stream_id == stream_id and (index := segment.needed_index()) is not None
        ]
        return min(needed) if needed else None

    def in_flight(self) -> dict[str, WorkRequest]:
        """Worker role -> the request it is working on."""
        return {role: self._flights[key].request for role, key in self._busy_roles.items()}

    def stats(self) -> SchedulerStats:
        """A copy of the counters."""
        return SchedulerStats(**self._stats.as_dict())

    def idle(self) -> bool:
        """Nothing queued, nothing in flight, no open segment and no final still to publish."""
        return not (self._segments or self._flights or self._final_queue or self._order.held())

    def sizes(self) -> dict[str, int]:
        """Entries of every internal table (tests and memory checks: none grows with uptime)."""
        return {
            "segments": len(self._segments),
            "open": len(self._open),
            "final_queue": len(self._final_queue),
            "flights": len(self._flights),
            "busy_roles": len(self._busy_roles),
            "partial_streams": len(self._partial_streams),
            "held": self._order.held(),
            "expected_streams": self._order.streams_pending(),
            "streams_known": len(self._last_segment_id),
        }


def _s(index: int) -> float:
    """Stream seconds of a ring index."""
    return samples_to_seconds(index)
