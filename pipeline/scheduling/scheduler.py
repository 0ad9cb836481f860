"""The supervisor's scheduling brain: speech events in, work requests out, transcripts back.

Pure logic: no sockets, no processes, no clock (every call that needs time takes ``now_s``,
any monotonic clock in seconds). The supervisor feeds it VAD events, asks it what to send to its
idle workers (``dispatch``), hands it replies, lost workers (``worker_lost``) and undelivered
requests, and publishes what it returns.

This module is the core every kind of work shares: the segments' lifecycle, the ledger of
requests in flight, completion, final order and the retry limit. How the VAD's events open, end,
abandon and drop segments lives in ``speech_events`` (a mixin of the core). What to send and how
to read the answers is up to the ``WorkKind`` strategies it is given (``work_kind``): by default
chunked finals and partials (Whisper), or streamed sessions (``options.streaming``, parakeet).

Guarantees:

- Exactly once: every segment that ended gets exactly one ``TranscriptFinal``, with empty text
  when it held no speech. Audio that could not be transcribed (a non-retryable error such as
  ``ring_overrun``, or ``max_attempts`` sends lost or failed; counted in ``stats``) makes its
  final say so: ``status`` ``audio_lost`` (the ring overran it) or ``failed`` (given up), with
  the range in ``lost_start_s``/``lost_end_s``, so silence and loss differ. A segment
  abandoned while still open (``vad_restarted``) gets none: the restarted VAD detects its audio
  again under a new, higher segment id. A prefix committed while the segment was open
  (``commit``) is a final of its own, and the segment's final covers only the rest.
- Finals of one stream go out in segment order; ``seq`` counts them 1, 2, 3, ... across streams
  in publish order (``final_order``).
- A request whose worker was lost, or that failed retryably, is sent again (any idle worker) as
  a new attempt with a new request id; a reply to an id not in flight is a late duplicate and is
  dropped. One limit, ``options.max_attempts``, bounds the sends of any piece of work.
- Final work does not wait for partials: when it finds every worker busy, the partials in flight
  are cancelled (``preemptions``; the worker stops at its next checkpoint) and the final goes to
  the first worker that answers. A cancelled request is neither a failure nor an attempt.
  ``preempt_grace_s`` (``PREEMPT_GRACE_S``, 0: off) spares partials expected to answer within
  it (by the average time partials of that batch size took): the final waits that long at most
  and their work is kept. While more than one stream is in speech, partials never take the last
  ``reserve_for_finals`` workers (``streams.reserve_for_finals``): they batch on the others, so
  a final usually finds a free worker and no pre-emption is needed (optionally, off by
  default: a worker whose partial is overdue, ``OVERDUE_PARTIAL_INTERVALS``, no longer holds the
  others' partials back). A partial that can commit a sentence's last word (``Flight.urgent``,
  ``sentence_ends``) goes past both the budget and the reserve.
- Memory: a segment is forgotten when its final is published; the only per-stream state is the
  last segment id and the last final text; the stats are counters.

Segment ids of a stream must increase (a restarted VAD starts at one past the highest id seen,
see ``workers/stream_children.py``); an event for an older or unknown id is stale and ignored.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence

from config.schema import Config
from pipeline.audio_format import seconds_to_samples
from pipeline.merging import merged_text
from pipeline.messages.base import Message
from pipeline.messages.transcripts import TranscriptPartial
from pipeline.messages.work import (
    CANCELLED,
    CancelRequest,
    TranscribeBatch,
    TranscribeBatchResult,
    WorkerError,
)
from pipeline.scheduling.batching import (
    BatchPlan,
    cancels,
    extra_seats,
    requests_of,
    unpack,
    waiting_requests,
    worker_of,
)
from pipeline.scheduling.chunked import ChunkedSegments
from pipeline.scheduling.commits import CommittedSegments
from pipeline.scheduling.final_costs import FinalCosts
from pipeline.scheduling.final_order import FIRST_SEQ, FinalOrder
from pipeline.scheduling.flights import WorkRequest, flight_key, reply_key
from pipeline.scheduling.ledger import FlightLedger
from pipeline.scheduling.options import SchedulerOptions
from pipeline.scheduling.partial_budget import PartialBudget
from pipeline.scheduling.partials import Partials
from pipeline.scheduling.requests import prompt_tail
from pipeline.scheduling.segment import Segment, SegmentKey, SegmentTable
from pipeline.scheduling.sentence_ends import SentenceEndsFirst
from pipeline.scheduling.sessions import StreamedSessions
from pipeline.scheduling.speech_events import SpeechEvents
from pipeline.scheduling.stats import SchedulerStats
from pipeline.scheduling.work_kind import FinalWork, Flight, WorkKind
from pipeline.words import Word

logger = logging.getLogger(__name__)

QUEUE_NAMES = ("finals", "partials", "sessions")  # queue depths reported even when zero
# partials join a batch ahead of their time (``partial_align``) only while another worker stays
# free for a final that arrives meanwhile
ALIGN_NEEDS_SPARE = True
SHED_SHARE = 0.25  # while partials are shed, they may fill at most this share of the pool
# a partial (or partial batch) expected to answer within this is left to finish instead of being
# cancelled for final work: the final waits that long at most, and the partial's work is kept
PREEMPT_GRACE_S = 0.0
PARTIAL_TOOK_WEIGHT = 0.2  # weight of the newest answer in the average partial time
# ``streams.reserve_for_finals``: while more than one stream is in speech, partials never take the
# last this many workers: they batch on the others, and a final finds a free worker without
# cancelling them. Simulated (bench/stream_sim.py, 2 workers, share 0.75, max_batch 2, 120 s),
# 0 -> 1: 4 streams: workers busy 0.757 -> 0.555, pre-emptions 28 -> 0, word latency p95 3.23 ->
# 3.19 s; 6 streams: pre-emptions 132 -> 0 (a third of the partials were cancelled), commits
# while speaking 1 -> 81, word latency p95 4.21 -> 3.64 s, final p95 0.51 -> 0.44 s; 2 streams:
# latency unchanged, busy 0.389 -> 0.371.
RESERVE_FOR_FINALS = 1
# a partial (or partial batch) still unanswered this many partial intervals after it was sent no
# longer holds the reserve: the other streams' partials may take the worker kept for finals
# meanwhile (a final arriving then pre-empts one, as without the reserve). Such a partial is
# almost always a short window's suspect result being decoded again on the finals' and the full
# window (~1 s of CPU): in a 2-stream run (bench/streams.py's dictation-00 and -01) 4 of 30
# partials, 27 % of the partial engine time, and one of them held the only partial worker from
# 18.4 to 20.2 s, so dictation-01's merged sentence ("... wood and string. The bakery ...") had
# no partial to commit it and waited for its segment's end (4.1 s after its last word). Off (0):
# with it on (1.0) that sentence took 3.2 s in one real run (load 6, not comparable), still over
# 1.5 s (the sentence is merged with the next, see bench/streams.py), and simulated
# (bench/stream_sim.py --levels 2,4,6 --shares 0.75 --max-batch 2 --reserves 1 --overdues 0,1
# --seconds 120 --slow-partial-every 7): N = 2 unchanged; N = 4 commits 63 -> 73, word latency
# p95 3.61 -> 3.51 s; N = 6 commits 26 -> 14, longest partial gap 2.45 -> 2.88 s.
OVERDUE_PARTIAL_INTERVALS = 0.0
OVERDUE_TOOK_FACTOR = 2.0  # ... and this many times what partials of its batch size take
MAX_PENDING_SEGMENTS = 1024  # ended segments of a stream awaiting their final; beyond: dropped


def default_work(options: SchedulerOptions) -> tuple[WorkKind, ...]:
    """The kinds of work for ``options``, in dispatch priority order (finals first)."""
    if options.streaming:
        return (StreamedSessions(),)
    if options.commit is not None:
        return (SentenceEndsFirst(options.commit, options.sharing),)
    return (ChunkedSegments(), Partials())


class SegmentScheduler(SpeechEvents):
    """Turns speech events into work requests and results into transcripts (see module doc)."""

    def __init__(
        self,
        options: SchedulerOptions,
        rings: Mapping[str, str],
        first_seq: int = FIRST_SEQ,
        *,
        work: Sequence[WorkKind] | None = None,
        max_pending_segments: int = MAX_PENDING_SEGMENTS,
        partial_share: float = 1.0,
        partial_align: float = 0.0,
        reserve_for_finals: int = 0,
    ) -> None:
        """``first_seq``: the seq of the first final (the journal's next seq, so numbering
        continues across daemon restarts). ``work``: the kinds of work, in dispatch priority
        order, exactly one of them a ``FinalWork`` (default: ``default_work(options)``).
        ``partial_share``: the share of the workers' time partials may fill (``partial_budget``;
        1 or more: no budget, partials take every idle worker). ``partial_align``: partials
        due within this fraction of their interval join a partial batch going now
        (``partial_align``; 0: off). ``reserve_for_finals``: workers partials never take while
        more than one stream is in speech (``RESERVE_FOR_FINALS``; 0: off)."""
        self._options = options
        self._kinds = tuple(work) if work is not None else default_work(options)
        finals = [kind for kind in self._kinds if isinstance(kind, FinalWork)]
        if len(finals) != 1:
            raise ValueError(f"exactly one FinalWork is needed, got {len(finals)}")
        self._final_work: FinalWork = finals[0]
        for kind in self._kinds:
            kind.bind(self)
        self._segments = SegmentTable(rings)
        self._ledger = FlightLedger()
        self._order = FinalOrder(options.backend, options.model, first_seq)
        self._costs = FinalCosts()  # engine time and queue wait of each final
        self._stats = SchedulerStats()
        self._max_pending_segments = max_pending_segments
        self._budget = PartialBudget(partial_share)
        # shedding (the adaptation's first level) keeps a trickle of partials: without any, an
        # open segment never commits while speech goes on (commits need agreeing partials); its
        # account is debited the partials' time only, so finals cannot starve them entirely
        self._shed_budget = PartialBudget(SHED_SHARE * min(1.0, partial_share))
        self._shedding = False
        if not 0.0 <= partial_align < 1.0:
            raise ValueError(f"partial_align must be in [0, 1), got {partial_align}")
        self._partial_align = partial_align
        self.preempt_grace_s = PREEMPT_GRACE_S
        # urgent partials (a sentence end's confirming one, a starved segment's) are never
        # cancelled (measured with streams.tentative_preempts; off: any partial may be)
        self.spare_urgent_partials = False
        self.overdue_partial_intervals = OVERDUE_PARTIAL_INTERVALS  # 0: an overdue one holds too
        if reserve_for_finals < 0:
            raise ValueError(f"reserve_for_finals must be >= 0, got {reserve_for_finals}")
        self.reserve_for_finals = reserve_for_finals
        self._pool_workers = 0  # workers at the last dispatch (busy and free)
        self._partial_sent_s: dict[str, tuple[float, int]] = {}  # id -> (sent, batch size)
        self._partial_took_s: dict[int, float] = {}  # batch size -> average time to answer

    @property
    def options(self) -> SchedulerOptions:
        return self._options

    def reconfigure(
        self, config: Config, backend_name: str | None = None, model_name: str | None = None
    ) -> None:
        """Take new chunking, partial, prompt and commit settings (a profile change) for work
        queued from now on; segments already cut keep their chunks. Streaming mode and the retry
        limit stay; backend and model names change only when given."""
        options = SchedulerOptions.from_config(
            config,
            backend_name or self._options.backend,
            model_name or self._options.model,
            self._options.streaming,
            max_attempts=self._options.max_attempts,
        )
        self._options = dataclasses.replace(
            options, prompt_max_chars=self._options.prompt_max_chars
        )
        self._order.backend, self._order.model = options.backend, options.model
        if options.commit is not None:
            for kind in self._kinds:
                if isinstance(kind, CommittedSegments):
                    kind.commit_options = options.commit  # the profile's commits, from now on

    def add_stream(self, stream_id: str, ring_name: str) -> None:
        """Accept events of another stream (or a stream whose ring was recreated)."""
        self._segments.add_stream(stream_id, ring_name)

    def open_segment_start(self, stream_id: str) -> int | None:
        """Where the stream's open segment starts (its first unpublished sample); None when no
        speech is going on. A restarted VAD resumes there."""
        segment = self._segments.open_segment(stream_id)
        return segment.start_index if segment is not None else None

    def stream_pending(self, stream_id: str) -> bool:
        """The stream still has a segment whose final is not out (open, queued, in flight or
        held)."""
        return self._order.pending(stream_id) > 0 or any(
            segment.stream_id == stream_id for segment in self._segments
        )

    def remove_stream(self, stream_id: str) -> None:
        """Forget a closed stream once nothing of it is pending (``stream_pending`` False): its
        ring name, last segment id and last text go; events that still come are refused."""
        self._segments.remove_stream(stream_id)
        self._order.forget_stream(stream_id)
        for kind in self._kinds:
            kind.forget_stream(stream_id)

    def final_lag_s(self, stream_id: str, now_s: float) -> float:
        """How far the stream's finals are behind: the age of its oldest segment that ended
        and has no final yet (0 when none waits)."""
        ages = [
            now_s - segment.ended_at_s
            for segment in self._segments
            if segment.stream_id == stream_id and not segment.is_open
        ]
        return max(ages, default=0.0)

    # ---- dispatch and the ledger of flights -----------------------------------------------

    def dispatch(
        self, idle_roles: list[str], now_s: float, *, shed_partials: bool = False
    ) -> list[tuple[str, WorkRequest | TranscribeBatch]]:
        """What to send now to which idle worker: (role, request) pairs, at most one per role
        (a ``TranscribeBatch`` of finals, or of partials of different streams, when more work
        waits than workers are free and ``options.max_batch`` > 1: ``batching``).

        Roles the scheduler still counts as busy are skipped. The kinds of work are asked in
        priority order, each for the roles the ones before it left. Call it on every loop turn,
        not only on events: partials wait for their interval.

        While more than one stream is in speech, a partial planned goes only while the partial
        budget allows (``partial_budget``), else it is handed back unsent
        (``stats.partials_deferred``) and planned again later; a single speaking stream has
        nothing to share its partials with and is never held back (one stream's latency is the
        same with or without the budget). ``shed_partials`` (the daemon is overloaded):
        partials may fill only ``SHED_SHARE`` of the pool instead, whatever the finals take (the
        account starts at its lowest, so for its first ``2 x BURST_S`` seconds none goes); they
        come rarely but still come, as a continuous stream's commits need them. Those held back
        count as ``stats.partials_shed``. Their workers stay free for finals.
        """
        free = [role for role in dict.fromkeys(idle_roles) if not self._ledger.busy(role)]
        self._pool_workers = len(free) + self._busy_workers()
        self._account(now_s, workers=self._pool_workers)
        if shed_partials and not self._shedding:
            self._shed_budget.empty()  # shedding begins by holding partials back
        self._shedding = shed_partials
        speaking = sum(1 for _ in self._segments.open_segments())  # one per stream in speech
        waiting = waiting_requests(kind.queue_depths() for kind in self._kinds)
        max_audio = seconds_to_samples(self._options.max_batched_audio_s)
        batch = BatchPlan(free, self._options.max_batch, waiting, max_audio)
        free = batch.seats  # the free workers, then their extra seats (batching)
        for kind in self._kinds:
            if not free:
                break
            self._plan(kind, kind.plan(free, now_s), free, batch, now_s, shed_partials, speaking)
        lead_s = self._partial_align * self._options.partial_interval_s
        spare = any(seat == worker_of(seat) for seat in free)  # a worker left free
        if ALIGN_NEEDS_SPARE and not spare:
            lead_s = 0.0
        # partials held off a worker kept for finals go beside those on the others instead
        reserving = self.reserve_for_finals > 0 and speaking > 1
        for kind in self._kinds if lead_s > 0 or reserving else ():
            joining = batch.partial_seats()  # seats beside a partial going now
            if not joining:
                break
            # partials due within lead_s go with it (their cadence counts from the tick they
            # are planned for, so they are not sent more often: ``partial_align``)
            flights = kind.plan(joining, now_s + lead_s)
            self._plan(
                kind, flights, joining, batch, now_s, shed_partials, speaking,
                align=True, early=lead_s > 0,
            )  # fmt: skip
        timed = self.preempt_grace_s > 0 or self.overdue_partial_intervals > 0
        for _, request in batch.pack() if timed else ():
            items = requests_of(request)  # when partials were sent (the grace, the overdue)
            if getattr(items[0], "is_partial", False):
                for item in items:
                    self._partial_sent_s[flight_key(item)] = (now_s, len(items))
        if len(self._partial_sent_s) > len(self._ledger):  # a lost worker's: forget them
            in_flight = {key for key, _ in self._ledger.flights()}
            self._partial_sent_s = {k: v for k, v in self._partial_sent_s.items() if k in in_flight}
        for size in batch.batch_sizes():
            self._stats.batches_sent += 1
            self._stats.batched_requests += size
        packed = batch.pack()
        self._account(now_s)
        return packed

    def _plan(
        self,
        kind: WorkKind,
        flights: list[Flight],
        free: list[str],
        batch: BatchPlan,
        now_s: float,
        shed_partials: bool,
        speaking: int,
        *,
        align: bool = False,
        early: bool = False,
    ) -> None:
        """Send what ``kind`` planned, seat by seat, under the partial budget and the batch
        rules; what may not go is handed back unsent (``free`` and ``batch`` are updated).
        ``align``: planned to join a partial batch (``early``: on a look-ahead clock); only
        partials may go."""
        for flight in flights:
            if flight.role not in free:
                raise RuntimeError(f"{type(kind).__name__} planned busy role {flight.role}")
            partial = getattr(flight.request, "is_partial", False)
            if align and not partial:
                kind.unsent(flight)  # only partials join a partial batch
                if getattr(flight.request, "early_final", False):
                    self._stats.early_finals_requested -= 1  # counted when planned: not sent
                continue
            if partial:
                budget = self._shed_budget if shed_partials else self._budget
                held = shed_partials or (speaking > 1 and not flight.urgent)
                if held and not budget.allows_partial():
                    kind.unsent(flight)  # it goes again when the budget allows
                    self._stats.partials_requested -= 1  # counted when planned: not sent
                    if shed_partials:
                        self._stats.partials_shed += 1
                    else:
                        self._stats.partials_deferred += 1
                    continue
            if (
                partial
                and speaking > 1
                and not (flight.urgent or flight.past_reserve)
                and self._reserved(flight.role, now_s)
            ):
                kind.unsent(flight)  # that worker stays free for finals
                self._stats.partials_requested -= 1
                self._stats.partials_deferred += 1
                continue
            if not batch.admits(flight.role, flight.request):
                if partial:
                    self._stats.partials_requested -= 1  # counted when planned: not sent
                kind.unsent(flight)
                continue
            free.remove(flight.role)
            key = self._ledger.add(flight)
            self._costs.sent(flight, self._segments.get(flight.segment), now_s)
            self._stats.requests_sent += 1
            self._stats.partials_aligned += int(early)
            batch.add(flight.role, flight.request)
            logger.debug("%s -> %s%s", key, flight.role, " (aligned)" if early else "")

    def _reserved(self, seat: str, now_s: float) -> bool:
        """Whether a partial on ``seat`` would take a worker kept free for finals: one not yet
        on partials while ``reserve_for_finals`` workers would no longer be left for them.
        Workers whose partial work is overdue (``OVERDUE_PARTIAL_INTERVALS``) do not count."""
        if self.reserve_for_finals <= 0:
            return False
        overdue_s = self.overdue_partial_intervals * self._options.partial_interval_s
        on_partials: set[str] = set()
        overdue: set[str] = set()
        for key, flight in self._ledger.flights():
            if getattr(flight.request, "is_partial", False):
                sent = self._partial_sent_s.get(key)
                late = (
                    sent is not None
                    and overdue_s > 0
                    and now_s - sent[0]
                    >= max(overdue_s, OVERDUE_TOOK_FACTOR * self._partial_took_s.get(sent[1], 0.0))
                )
                (overdue if late else on_partials).add(worker_of(flight.role))
        if worker_of(seat) in on_partials | overdue:
            return False  # joins a batch of partials on a worker already theirs
        reserve = min(self.reserve_for_finals, self._pool_workers - 1)  # one worker: none kept
        return len(on_partials - overdue) + 1 > self._pool_workers - reserve

    def _busy_workers(self, *, partials_only: bool = False) -> int:
        return len({
            worker_of(role)
            for role, request in self._ledger.in_flight().items()
            if not partials_only or getattr(request, "is_partial", False)
        })  # fmt: skip

    def _account(self, now_s: float, workers: int | None = None) -> None:
        """Bring the partial budget up to ``now_s`` (call before and after the ledger changes)."""
        self._budget.account(now_s, self._busy_workers(), workers)
        self._shed_budget.account(now_s, self._busy_workers(partials_only=True), workers)

    def partial_budget(self) -> dict[str, float]:
        """The partial budget's share and balance (worker-seconds), for status."""
        return {"share": self._budget.share, "balance_s": round(self._budget.balance_s, 3)}

    def preemptions(self, now_s: float) -> list[tuple[str, CancelRequest]]:
        """Cancels to send now (call after ``dispatch``): final work still waits because every
        worker is busy, so partials in flight are cut short, at most one per final request
        waiting, each asked once. Their workers stay busy until they answer: a ``WorkerError``
        of kind ``CANCELLED`` (the partial is then as if never sent, no failure) or, when the
        cancel came too late, their result (read as usual)."""
        waiting = self._final_work.queue_depths().get("finals", 0)
        if not waiting:
            return []
        partials = [
            (flight.role, key)
            for key, flight in self._ledger.flights()
            if getattr(flight.request, "is_partial", False)
        ]
        in_flight = {key for _, key in partials}
        self._partial_sent_s = {k: v for k, v in self._partial_sent_s.items() if k in in_flight}
        if self.spare_urgent_partials:
            urgent = {key for key, flight in self._ledger.flights() if flight.urgent}
            spared = {worker_of(role) for role, key in partials if key in urgent}
            partials = [(role, key) for role, key in partials if worker_of(role) not in spared]
        finishing = self._finishing_workers(partials, now_s)
        waiting -= len(finishing)  # each comes free within the grace: the final takes it
        partials = [(role, key) for role, key in partials if worker_of(role) not in finishing]
        cancelling = {key for _, key in partials if self._ledger.cancelling(key)}
        out: list[tuple[str, CancelRequest]] = []
        for role, cancel_id, keys in cancels(partials, waiting, cancelling):  # a batch: whole
            for key in keys:
                self._ledger.mark_cancelling(key)
                self._stats.partials_preempted += 1
            out.append((role, CancelRequest(cancel_id, "final work waits")))
            logger.debug("%s on %s pre-empted by final work", cancel_id, role)
        return out

    def _finishing_workers(self, partials: list[tuple[str, str]], now_s: float) -> set[str]:
        """Workers whose partial work is expected to answer within ``preempt_grace_s``."""
        if self.preempt_grace_s <= 0:
            return set()
        out = set()
        for role, key in partials:
            sent = self._partial_sent_s.get(key)
            took_s = self._partial_took_s.get(sent[1]) if sent else None
            if sent and took_s is not None and took_s - (now_s - sent[0]) <= self.preempt_grace_s:
                out.add(worker_of(role))
        return out

    def _partial_answered(self, key: str, now_s: float) -> None:
        sent = self._partial_sent_s.pop(key, None)
        if sent is None:
            return
        took_s = now_s - sent[0]
        old = self._partial_took_s.get(sent[1])
        self._partial_took_s[sent[1]] = (
            took_s if old is None else old + (took_s - old) * PARTIAL_TOOK_WEIGHT
        )

    def on_reply(self, role: str, message: Message, now_s: float) -> list[Message]:
        """A worker answered: returns the partials and finals to publish, in order."""
        self._account(now_s)
        try:
            return self._on_reply(role, message, now_s)
        finally:
            self._account(now_s)

    def _on_reply(self, role: str, message: Message, now_s: float) -> list[Message]:
        if isinstance(message, TranscribeBatchResult):  # one reply per request of the batch
            return self._batch_replies(role, message, now_s)
        key = reply_key(message)
        if key is None:
            logger.warning("%s sent %s, which is no reply; ignored", role, message.kind)
            return []
        flight = self._ledger.take(key)
        if flight is None:
            self._stats.duplicates_dropped += 1
            logger.debug("late or duplicate reply %s from %s dropped", key, role)
            return []
        if flight.role != role:
            logger.warning("%s answered by %s, sent to %s", key, role, flight.role)
        if getattr(flight.request, "is_partial", False):
            if isinstance(message, WorkerError):
                self._partial_sent_s.pop(key, None)
            else:
                self._partial_answered(key, now_s)
        if isinstance(message, WorkerError) and message.error_kind == CANCELLED:
            # cut short by a cancel: no failure and no attempt; the work is as if never sent
            self._stats.partials_cut_short += 1
            self._costs.settled(flight, now_s)
            flight.kind.unsent(flight)
            return []
        self._costs.answered(flight, message, now_s)
        return flight.kind.answered(flight, message, now_s)  # type: ignore[arg-type]

    def worker_lost(self, role: str, now_s: float, why: str = "") -> list[Message]:
        """Worker ``role`` died, hung or was replaced (one call per loss): its request in flight
        is sent again elsewhere and state it held (streaming sessions) is rebuilt. Returns the
        finals that giving up completed (publish them)."""
        self._account(now_s)
        try:
            return self._worker_lost(role, now_s, why)
        finally:
            self._account(now_s)

    def _worker_lost(self, role: str, now_s: float, why: str) -> list[Message]:
        why = f"{role} {why or 'lost'}"
        flight = self._ledger.take_role(role)
        if flight is not None:
            self._costs.settled(flight, now_s)
        out = flight.kind.lost(flight, why, now_s) if flight is not None else []
        for seat in extra_seats(role, self._ledger.in_flight()):  # the rest of its batch
            extra = self._ledger.take_role(seat)
            if extra is not None:
                self._costs.settled(extra, now_s)
                out.extend(extra.kind.lost(extra, why, now_s))
        for kind in self._kinds:
            out.extend(kind.worker_lost(role, why, now_s))
        return out

    def on_unsent(self, role: str, request: WorkRequest, now_s: float) -> None:
        """The pool could not deliver ``request`` (``submit`` returned False): it goes back to
        the queue as it was, without counting an attempt."""
        if isinstance(request, TranscribeBatch):
            for item in request.requests:
                self.on_unsent(role, item, now_s)
            return
        flight = self._ledger.take(flight_key(request))
        if flight is None:
            return
        self._stats.requests_sent -= 1
        self._costs.settled(flight, now_s)
        flight.kind.unsent(flight)
        self._account(now_s)

    def _batch_replies(
        self, role: str, message: TranscribeBatchResult, now_s: float
    ) -> list[Message]:
        """Each request of a batch answered as if alone, under the seat it was sent on."""
        seats = {flight_key(r): seat for seat, r in self._ledger.in_flight().items()}
        out: list[Message] = []
        for item in unpack(message):
            seat = seats.get(reply_key(item) or "", role)
            out.extend(self.on_reply(seat if worker_of(seat) == role else role, item, now_s))
        return out

    def cancel(self, flight_id: str) -> None:
        """Forget a request in flight: its worker counts as free, its reply will be dropped."""
        flight = self._ledger.take(flight_id)
        if flight is not None:
            self._costs.settled(flight)

    # ---- services for the kinds of work (``work_kind.Core``) -------------------------------

    @property
    def counters(self) -> SchedulerStats:
        """The live counters (``stats()`` hands out a copy)."""
        return self._stats

    def segment(self, key: SegmentKey) -> Segment | None:
        return self._segments.get(key)

    def segments(self) -> Iterable[Segment]:
        return self._segments

    def open_segments(self) -> Iterable[Segment]:
        return self._segments.open_segments()

    def prompt(self, stream_id: str) -> str:
        if not self._options.use_prompt:
            return ""
        return prompt_tail(self._order.last_text(stream_id), self._options.prompt_max_chars)

    def may_send_again(self, sends: int) -> bool:
        return sends < self._options.max_attempts

    def partial(
        self, segment: Segment, stable: str, unstable: str, end_index: int
    ) -> TranscriptPartial:
        self._stats.partials_published += 1
        backend, model = self._options.backend, self._options.model
        return segment.next_partial(stable, unstable, end_index, backend, model)

    def complete_if_done(self, segment: Segment, now_s: float) -> list[Message]:
        """Hand a finished segment to the final order; returns the finals that go out now."""
        if segment.is_open or segment.complete:
            return []
        final = self._final_work.final_words(segment)
        if final is None:
            return []
        words, text = final
        segment.complete = True
        costs = self._costs.take(segment.key, part=False)
        self._forget(segment)
        assert segment.end_index is not None
        outcome = segment.outcome(segment.end_index, segment.ended_at_s, words, text)
        outcome = dataclasses.replace(outcome, **costs)
        self._stats.finals_failed += int(segment.failed)
        self._stats.finals_empty += int(not text)
        return self._published(self._order.complete(outcome, now_s))

    def commit(
        self, segment: Segment, cut_index: int, words: tuple[Word, ...], now_s: float
    ) -> list[Message]:
        """Publish ``[segment.start_index, cut_index)`` of the open ``segment`` as a final of
        its own: own seq, after the stream's earlier segments and before the rest of this one,
        latency counted from when the audio at the cut was heard (``Segment.heard_at_s``). The
        segment goes on from ``cut_index`` (its partials and its
        final cover only what follows). ``words`` are in stream seconds."""
        if not segment.is_open or self._segments.get(segment.key) is not segment:
            raise ValueError(f"{segment.key} is not an open segment")
        if not segment.start_index < cut_index <= segment.newest_index:
            raise ValueError(
                f"cut {cut_index} of {segment.key} is outside its uncommitted audio "
                f"({segment.start_index}, {segment.newest_index}]"
            )
        heard_s = segment.heard_at_s(cut_index, now_s)
        outcome = segment.outcome(cut_index, heard_s, words, merged_text(words))
        outcome = dataclasses.replace(outcome, **self._costs.take(segment.key, part=True))
        segment.start_index = cut_index
        segment.parts_committed += 1
        self._stats.finals_empty += int(not outcome.text)
        return self._published(self._order.complete_part(outcome, now_s))

    def _published(self, finals: list) -> list[Message]:
        self._stats.finals_published += len(finals)
        return list(finals)

    def _forget(self, segment: Segment) -> None:
        self._segments.remove(segment)
        self._costs.forget(segment.key)
        for kind in self._kinds:
            kind.forget(segment)

    # ---- introspection --------------------------------------------------------------------

    def queue_depths(self) -> dict[str, int]:
        """Work waiting: final chunks, streams due a partial, session messages, held finals."""
        depths = dict.fromkeys(QUEUE_NAMES, 0)
        for kind in self._kinds:
            for name, depth in kind.queue_depths().items():
                depths[name] = depths.get(name, 0) + depth
        depths["held"] = self._order.held()
        return depths

    def oldest_needed_index(self, stream_id: str) -> int | None:
        """Lowest ring index of the stream that queued, in-flight or open work may still read
        (the ring cursor the supervisor holds); None when nothing is needed."""
        needed = [
            index
            for segment in self._segments
            if segment.stream_id == stream_id
            for kind in self._kinds
            if (index := kind.needed_index(segment)) is not None
        ]
        return min(needed) if needed else None

    def stats(self) -> SchedulerStats:
        """A copy of the counters."""
        return SchedulerStats(**self._stats.as_dict())

    def in_flight(self) -> dict[str, WorkRequest]:
        """Worker role -> the request it is working on."""
        return self._ledger.in_flight()

    def idle(self) -> bool:
        """Nothing queued, nothing in flight, no open segment and no final still to publish."""
        return not (
            self._segments
            or self._ledger
            or self._order.held()
            or any(kind.pending() for kind in self._kinds)
        )

    def sizes(self) -> dict[str, int]:
        """Entries of every internal table (tests and memory checks: none grows with uptime)."""
        sizes = {
            **self._segments.sizes(),
            **self._ledger.sizes(),
            "held": self._order.held(),
            "expected_streams": self._order.streams_pending(),
            "final_costs": len(self._costs),
        }
        for kind in self._kinds:
            sizes.update(kind.sizes())
        return sizes
