"""The strategy interface of the scheduler: one ``WorkKind`` per kind of work done for segments.

The scheduler core (``scheduler.SegmentScheduler``) owns what every kind of work shares: the
segments' lifecycle, the ledger of requests in flight, completion, final order and seq, and the
retry limit. What differs lives in a ``WorkKind``, the way openai/whisper puts ``GreedyDecoder``
and ``BeamSearchDecoder`` behind ``TokenDecoder``:

- ``chunked.ChunkedSegments`` (a ``FinalWork``): an ended segment cut into chunks, each one
  request, merged into the final (Whisper).
- ``sessions.StreamedSessions`` (a ``FinalWork``): a stateful session owned by one worker, fed as
  audio arrives, reopened elsewhere from its last finalized index (parakeet).
- ``partials.Partials``: the newest audio of open segments, newest-only per stream, with local
  agreement.
- ``commits.CommittedSegments`` (a ``FinalWork``): stable words a margin behind the newest audio
  committed as finals of their own while speech goes on (``core.commit``).
- ``windows.SequentialWindows`` (a ``FinalWork``): one window after another, each prompted with
  the words before it (the reference pass of ``run.py transcribe --compare``).

A kind keeps its per-segment state in its own table, plans requests for idle workers, reads the
replies to them, and tells the core when something is ready to publish through the narrow
``Core`` protocol below: a partial (``core.partial``), a segment whose final may be complete
(``core.complete_if_done``), or a committed prefix of an open segment that becomes a final of
its own while speech goes on (``core.commit``). Exactly one kind of a scheduler is its
``FinalWork``: it says what a segment's final holds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from pipeline.messages.base import Message
from pipeline.messages.transcripts import TranscriptPartial
from pipeline.scheduling.flights import WorkReply, WorkRequest
from pipeline.scheduling.options import SchedulerOptions
from pipeline.scheduling.segment import Segment, SegmentKey
from pipeline.scheduling.stats import SchedulerStats
from pipeline.words import Word


@dataclass(frozen=True, slots=True)
class Flight:
    """One request sent and not yet answered or lost (the core's ledger holds these)."""

    role: str  # the worker it went to
    request: WorkRequest
    segment: SegmentKey
    kind: WorkKind  # the kind of work that planned it, and reads its reply
    index: int = 0  # the kind's own number for it (chunk index, partial serial, window)
    # a partial that goes past the partial budget and the worker kept for finals (it confirms a
    # sentence end, or serves a starved segment: ``sentence_ends``)
    urgent: bool = False
    # a partial that goes past the worker kept for finals but is held by the partial budget (a
    # starved segment's, ``streams.starved_priority`` reserve)
    past_reserve: bool = False


class Core(Protocol):
    """What a ``WorkKind`` may ask of the scheduler core (and all it may touch)."""

    @property
    def options(self) -> SchedulerOptions: ...

    @property
    def counters(self) -> SchedulerStats:
        """The scheduler's live counters (a kind adds to them)."""

    def segment(self, key: SegmentKey) -> Segment | None:
        """The segment not yet published under ``key`` (None: published or abandoned)."""

    def segments(self) -> Iterable[Segment]:
        """Every segment not yet published, in start order."""

    def open_segments(self) -> Iterable[Segment]:
        """Segments still in speech, one per stream at most."""

    def prompt(self, stream_id: str) -> str:
        """The prompt for the stream's next request ("" when prompts are off)."""

    def may_send_again(self, sends: int) -> bool:
        """The one retry limit: whether work already sent ``sends`` times may be sent again."""

    def partial(
        self, segment: Segment, stable: str, unstable: str, end_index: int
    ) -> TranscriptPartial:
        """The segment's next partial, numbered and counted (publish what it returns)."""

    def complete_if_done(self, segment: Segment, now_s: float) -> list[Message]:
        """Hand the segment to the final order if its final is ready; the finals that go out."""

    def commit(
        self, segment: Segment, cut_index: int, words: tuple[Word, ...], now_s: float
    ) -> list[Message]:
        """Publish ``[segment.start_index, cut_index)`` of an open segment as a final of its own
        (own seq, before the rest of the segment); the segment goes on from ``cut_index``."""

    def cancel(self, flight_id: str) -> None:
        """Forget a request in flight: its worker counts as free, its reply will be dropped."""


class WorkKind(ABC):
    """One kind of work for segments: plans requests, reads their replies (see module doc).

    Every hook that returns messages returns what must be published, in order.
    """

    core: Core

    def bind(self, core: Core) -> None:
        """Called once by the core that drives this kind."""
        self.core = core

    # ---- segment lifecycle (the core calls these for every segment) -----------------------

    def began(self, segment: Segment) -> None:  # noqa: B027 - optional hook
        """A segment started."""

    def ended(self, segment: Segment, now_s: float) -> None:  # noqa: B027 - optional hook
        """A segment's speech ended (``segment.end_index`` is set): queue its final work."""

    def paused(
        self,
        segment: Segment,
        pause_index: int,
        decided_index: int,
        pause_number: int,
        now_s: float,
        *,
        confirm_index: int | None = None,
    ) -> list[Message]:
        """Silence began at ``pause_index`` inside the open segment (seen up to
        ``decided_index``); pause ``pause_number`` of it. Returns what to publish."""
        return []

    def resumed(
        self, segment: Segment, pause_number: int, now_s: float, *, resume_index: int | None = None
    ) -> list[Message]:
        """Speech came back (at ``resume_index`` when known) after pause ``pause_number`` of
        the open segment."""
        return []

    @abstractmethod
    def forget(self, segment: Segment) -> None:
        """The segment was published or abandoned: drop every state kept for it."""

    # ---- work -----------------------------------------------------------------------------

    @abstractmethod
    def plan(self, free_roles: list[str], now_s: float) -> list[Flight]:
        """Requests to send now, at most one per role of ``free_roles`` (idle workers, in the
        caller's order)."""

    @abstractmethod
    def answered(self, flight: Flight, reply: WorkReply, now_s: float) -> list[Message]:
        """The worker answered ``flight`` (a result, an error, or a session update)."""

    @abstractmethod
    def lost(self, flight: Flight, why: str, now_s: float) -> list[Message]:
        """``flight``'s worker died or hung: its request got no answer."""

    @abstractmethod
    def unsent(self, flight: Flight) -> None:
        """``flight`` never left (the pool could not deliver it): undo what sending it did."""

    def forget_stream(self, stream_id: str) -> None:  # noqa: B027 - optional hook
        """A closed stream with nothing pending: drop every per-stream state kept for it."""

    def worker_lost(self, role: str, why: str, now_s: float) -> list[Message]:
        """Worker ``role`` was replaced: state it held (beyond its flight) is gone."""
        return []

    # ---- introspection --------------------------------------------------------------------

    def needed_index(self, segment: Segment) -> int | None:
        """Lowest ring index of ``segment`` this kind may still read (None: nothing)."""
        return None

    def queue_depths(self) -> dict[str, int]:
        """Work waiting, by the names ``SegmentScheduler.queue_depths`` reports."""
        return {}

    def pending(self) -> bool:
        """Work queued beyond the segments' own state (the core is idle only without it)."""
        return False

    @abstractmethod
    def sizes(self) -> dict[str, int]:
        """Entries of every table this kind keeps (none may grow with uptime)."""


class FinalWork(WorkKind):
    """The kind of work whose results make a segment's final."""

    @abstractmethod
    def final_words(self, segment: Segment) -> tuple[tuple[Word, ...], str] | None:
        """(words in stream seconds, text) of the ended segment's final; None while its work
        is not done."""
