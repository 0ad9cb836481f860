"""Chunked segments (Whisper): an ended segment cut into chunks, each one request, merged.

When a segment ends it is cut by ``pipeline.chunking.plan_chunks`` (one request when it fits the
chunk length, else equal overlapping chunks balanced over the workers), or by the ``planner``
given (``run.py transcribe`` moves seams into pauses). Chunks wait in one queue, oldest segment
first (start order across streams), a segment's longest chunks first (the short one last, so no
worker idles at the end while another reads a long one), and go to any idle worker.
Results come back in any order; when every chunk is answered or given up, the words are merged
(``final_words``) into the segment's final.

Retries: a chunk whose worker was lost, or that failed retryably, is queued again and sent as a
new attempt with a new request id, until the core's retry limit; then it is given up and the
final is published without its words (the segment counts as failed). A non-retryable error
(``ring_overrun``: the audio is gone) gives the chunk up at once.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.audio_format import samples_to_seconds
from pipeline.chunking import Chunk, plan_chunks
from pipeline.merging import ChunkWords
from pipeline.messages.base import Message
from pipeline.messages.work import TranscribeRequest, TranscribeResult, WorkerError
from pipeline.scheduling.final_words import ChunkResult, assemble_final
from pipeline.scheduling.flights import WorkReply
from pipeline.scheduling.requests import chunk_request
from pipeline.scheduling.segment import Segment, SegmentKey
from pipeline.scheduling.work_kind import FinalWork, Flight
from pipeline.words import Word

logger = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class ChunkedWork:
    """The final work of one ended segment."""

    chunks: tuple[Chunk, ...]
    results: dict[int, ChunkResult] = field(default_factory=dict)  # chunk index -> result
    failed_chunks: set[int] = field(default_factory=set)  # given up: their audio is missing
    attempts: dict[int, int] = field(default_factory=dict)  # chunk index -> sends so far
    rank: dict[int, int] = field(default_factory=dict)  # chunk index -> place, longest first

    def __post_init__(self) -> None:
        longest_first = sorted(self.chunks, key=lambda c: (-c.sample_count, c.index))
        self.rank = {chunk.index: place for place, chunk in enumerate(longest_first)}

    @property
    def pending(self) -> int:
        """Chunks neither answered nor given up."""
        return len(self.chunks) - len(self.results) - len(self.failed_chunks)

    def settled(self, chunk_index: int) -> bool:
        return chunk_index in self.results or chunk_index in self.failed_chunks


class ChunkedSegments(FinalWork):
    """Final chunks of ended segments on any idle worker (see module doc)."""

    def __init__(self, planner: Callable[[int, int], tuple[Chunk, ...]] | None = None) -> None:
        self._planner = planner  # (start, end) -> chunks; None: plan_chunks with the options
        self._work: dict[SegmentKey, ChunkedWork] = {}
        # heap of ((end of speech, start order), rank, chunk, *key): across streams the segment
        # whose speech ended first is served first; within a segment its longest chunks first
        self._queue: list[tuple[tuple[float, int], int, int, str, int]] = []

    def ended(self, segment: Segment, now_s: float) -> None:
        assert segment.end_index is not None
        options = self.core.options
        start = self._final_start(segment)
        if self._planner is not None:
            chunks = self._planner(start, segment.end_index)
        else:
            chunks = plan_chunks(start, segment.end_index, options.chunking, options.workers)
        self._work[segment.key] = ChunkedWork(chunks)
        for chunk in chunks:
            self._push(segment, chunk.index)

    def _final_start(self, segment: Segment) -> int:
        """Where the ended segment's chunks start (a subclass may add audio heard before)."""
        return segment.start_index

    def _prompt(self, segment: Segment) -> str:
        """The prompt of the segment's first chunk."""
        return self.core.prompt(segment.stream_id)

    def _prefix(self, segment: Segment) -> str:
        """Words the first chunk's head is known to hold, forced as its first words (none)."""
        return ""

    def _draft(self, segment: Segment) -> str:
        """Words the first chunk likely says after its prefix (``TranscribeRequest.draft``;
        none)."""
        return ""

    def forget(self, segment: Segment) -> None:
        if self._work.pop(segment.key, None) is not None and self._queue:
            # chunks still queued (a segment dropped unserved): nothing may keep them
            kept = [entry for entry in self._queue if (entry[3], entry[4]) != segment.key]
            if len(kept) != len(self._queue):
                heapq.heapify(kept)
                self._queue = kept

    def final_words(self, segment: Segment) -> tuple[tuple[Word, ...], str] | None:
        work = self._work.get(segment.key)
        if work is None or work.pending:
            return None
        return assemble_final(work.results.values())

    # ---- work -----------------------------------------------------------------------------

    def plan(self, free_roles: list[str], now_s: float) -> list[Flight]:
        free = list(free_roles)
        flights: list[Flight] = []
        while free and self._queue:
            _, _, chunk_index, stream_id, segment_id = heapq.heappop(self._queue)
            segment = self.core.segment((stream_id, segment_id))
            work = self._work.get((stream_id, segment_id))
            if segment is None or work is None or work.settled(chunk_index):
                continue
            attempt = work.attempts.get(chunk_index, 0) + 1
            work.attempts[chunk_index] = attempt
            prompt = self._prompt(segment)
            chunk = work.chunks[chunk_index]
            request = chunk_request(
                segment,
                chunk,
                len(work.chunks),
                attempt,
                prompt,
                self._prefix(segment),
                self._draft(segment),
            )
            flights.append(Flight(free.pop(0), request, segment.key, self, chunk_index))
        return flights

    def answered(self, flight: Flight, reply: WorkReply, now_s: float) -> list[Message]:
        segment = self.core.segment(flight.segment)
        work = self._work.get(flight.segment)
        chunk_index = flight.index
        if segment is None or work is None or work.settled(chunk_index):
            self.core.counters.duplicates_dropped += 1
            return []
        if isinstance(reply, TranscribeResult):
            request = flight.request
            assert isinstance(request, TranscribeRequest)
            words = ChunkWords.from_relative(
                chunk_index,
                samples_to_seconds(request.start_index),
                samples_to_seconds(request.end_index),
                reply.words,
            )
            work.results[chunk_index] = ChunkResult(words, reply.text)
            return self.core.complete_if_done(segment, now_s)
        if not isinstance(reply, WorkerError):
            logger.warning(
                "%s answered chunk %s with %s; ignored", flight.role, flight.index, reply.kind
            )
            return []
        why = f"{reply.error_kind}: {reply.message}"
        if reply.retryable:
            return self._retry(segment, work, chunk_index, why, now_s)
        status = "audio_lost" if reply.error_kind == "ring_overrun" else "failed"
        self._give_up(segment, work, chunk_index, why, status)
        return self.core.complete_if_done(segment, now_s)

    def lost(self, flight: Flight, why: str, now_s: float) -> list[Message]:
        segment = self.core.segment(flight.segment)
        work = self._work.get(flight.segment)
        if segment is None or work is None or work.settled(flight.index):
            return []
        return self._retry(segment, work, flight.index, why, now_s)

    def unsent(self, flight: Flight) -> None:
        segment = self.core.segment(flight.segment)
        work = self._work.get(flight.segment)
        if segment is None or work is None:
            return
        work.attempts[flight.index] -= 1
        self._push(segment, flight.index)

    def _retry(
        self, segment: Segment, work: ChunkedWork, chunk_index: int, why: str, now_s: float
    ) -> list[Message]:
        sends = work.attempts.get(chunk_index, 0)
        if not self.core.may_send_again(sends):
            self._give_up(segment, work, chunk_index, f"{why} (after {sends} sends)")
            return self.core.complete_if_done(segment, now_s)
        logger.info("%s/%d chunk %d sent again: %s", *segment.key, chunk_index, why)
        self.core.counters.retries += 1
        self._push(segment, chunk_index)
        return []

    def _give_up(
        self,
        segment: Segment,
        work: ChunkedWork,
        chunk_index: int,
        why: str,
        status: str = "failed",
    ) -> None:
        logger.warning(
            "%s/%d chunk %d given up, its words are missing from the final: %s",
            *segment.key,
            chunk_index,
            why,
        )
        work.failed_chunks.add(chunk_index)
        chunk = work.chunks[chunk_index]
        segment.lose(chunk.start_index, chunk.end_index, status)  # the final says so
        self.core.counters.chunks_failed += 1

    def _push(self, segment: Segment, chunk_index: int) -> None:
        priority = (segment.ended_at_s, segment.order)
        rank = self._work[segment.key].rank.get(chunk_index, chunk_index)
        heapq.heappush(self._queue, (priority, rank, chunk_index, *segment.key))

    # ---- introspection --------------------------------------------------------------------

    def needed_index(self, segment: Segment) -> int | None:
        work = self._work.get(segment.key)
        if work is None:
            return segment.start_index if segment.is_open else None
        pending = [c.start_index for c in work.chunks if not work.settled(c.index)]
        return min(pending) if pending else None

    def queue_depths(self) -> dict[str, int]:
        return {"finals": len(self._queue)}

    def pending(self) -> bool:
        return bool(self._queue)

    def sizes(self) -> dict[str, int]:
        return {"final_queue": len(self._queue), "chunked_segments": len(self._work)}
