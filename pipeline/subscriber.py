"""A client of the daemon's transcripts that never loses or repeats a final.

``TranscriptSubscriber`` SUBscribes to the ``transcript`` PUB socket (topic
``transcript.final``, plus ``transcript.partial``, ``event.speech`` and ``metrics`` when asked)
and hands out decoded messages. Finals come out gap-free, in ``seq`` order, each seq once:

- a live final whose seq jumps past the next expected one (the daemon's PUB dropped messages for
  a slow subscriber, or the connection was down) is held back while the missing range is asked
  for with ``ReplayRequest(since_seq)`` on the ``control`` socket and handed out first;
- live finals already handed out by a replay are dropped as duplicates;
- when no final has come for ``idle_check_s``, the subscriber asks anyway, so a lost *last*
  final (no later one reveals the gap) and a daemon whose numbering went back to 0 (its journal
  was lost, see ``pipeline/journal.py``) are noticed too.

Daemon restarts: every final carries the ``run_id`` of the daemon run that published it. A final
whose seq was already handed out, but by *another* run, is not a duplicate: the daemon's
numbering started over (its journal was lost), so it is handed out, logged and counted in
``seq_reuses``, and the new numbering is followed from 0. Seqs skipped where the run changes (a
daemon in ``journal_sync`` ``rotate``/``none`` mode starts past a reserved block after a crash)
are counted in ``skipped_at_restart``, not ``lost``: they were never used or were lost in the crash.

The control socket is a ``ControlClient`` (a REQ used the lazy-pirate way): a request that gets
no answer within ``replay_timeout_ms`` has its socket closed and made again, and is retried
``replay_retries`` times; after that the missing finals are counted as ``lost`` and the stream goes on. ZeroMQ
reconnects the SUB socket by itself after a daemon restart.

Partials, speech events and metrics are live only (never replayed) and may interleave with
finals being caught up. ``run.py subscribe`` is a thin loop over this class::

    with TranscriptSubscriber(endpoints.transcript, endpoints.control, partials=True) as sub:
        for message in sub:
            print(message)
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass

import zmq

from pipeline.bus import ClientKeys, Receiver, SocketOptions, new_context, open_socket
from pipeline.control_client import ControlClient
from pipeline.messages import (
    DEFAULT_MAX_FRAME_BYTES,
    ControlError,
    Message,
    Metrics,
    ReplayReply,
    ReplayRequest,
    SpeechEvent,
    TranscriptFinal,
    TranscriptPartial,
)

logger = logging.getLogger(__name__)

DEFAULT_REPLAY_TIMEOUT_MS = 1000  # one control request, before the REQ socket is remade
DEFAULT_REPLAY_RETRIES = 2  # further tries of one request after a timeout
DEFAULT_REPLAY_BATCH = 500  # finals asked for per ReplayRequest (the daemon may cut it further)
RUN_MEMORY = 1000  # seqs whose run_id is remembered, to tell a reused seq from a duplicate
DEFAULT_IDLE_CHECK_S = 2.0  # without a final for this long, ask the daemon whether one was lost


@dataclass
class SubscriberCounters:
    received: int = 0  # finals that came live off the SUB socket, duplicates included
    replayed: int = 0  # finals handed out from replay answers
    gaps_detected: int = 0  # live finals whose seq jumped past the expected one
    duplicates_dropped: int = 0  # finals seen a second time (live after replay, or replayed twice)
    lost: int = 0  # seqs the daemon no longer holds or could not be asked for
    replay_requests: int = 0  # control requests sent, retries included
    replay_timeouts: int = 0  # control requests that got no answer in time
    resets: int = 0  # the daemon's numbering went backwards: its journal started over
    seq_reuses: int = 0  # finals with a seq seen before from another daemon run: handed out
    skipped_at_restart: int = 0  # seqs jumped over where the daemon run changed


class TranscriptSubscriber:
    """Gap-free finals (and, when asked, partials, speech events, metrics) from a daemon.

    ``from_seq``: None starts with the first live final; a number first replays every final
    from that seq the daemon still holds (0: all of them), e.g. to resume from a saved seq.
    Not thread-safe; one reader.
    """

    def __init__(
        self,
        transcript_endpoint: str,
        control_endpoint: str,
        *,
        partials: bool = False,
        speech_events: bool = False,
        metrics: bool = False,
        from_seq: int | None = None,
        curve_client: ClientKeys | None = None,
        replay_timeout_ms: int = DEFAULT_REPLAY_TIMEOUT_MS,
        replay_retries: int = DEFAULT_REPLAY_RETRIES,
        replay_batch: int = DEFAULT_REPLAY_BATCH,
        idle_check_s: float | None = DEFAULT_IDLE_CHECK_S,
        high_water_mark: int = 1000,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        context: zmq.Context | None = None,
    ) -> None:
        if from_seq is not None and from_seq < 0:
            raise ValueError(f"from_seq {from_seq} must be >= 0")
        if replay_batch < 1:
            raise ValueError(f"replay_batch {replay_batch} must be >= 1")
        self.control_endpoint = control_endpoint
        self.replay_timeout_ms = replay_timeout_ms
        self.replay_retries = replay_retries
        self.replay_batch = replay_batch
        self.idle_check_s = idle_check_s
        self.max_frame_bytes = max_frame_bytes
        self.counters = SubscriberCounters()
        self._options = SocketOptions(
            high_water_mark=high_water_mark,
            max_frame_bytes=max_frame_bytes,
            curve_client=curve_client,
        )
        self._own_context = context is None
        self._context = context or new_context()
        wanted: list[type[Message]] = [TranscriptFinal]
        if partials:
            wanted.append(TranscriptPartial)
        if speech_events:
            wanted.append(SpeechEvent)
        if metrics:
            wanted.append(Metrics)
        try:
            self._sub = open_socket(
                self._context,
                zmq.SUB,
                transcript_endpoint,
                bind=False,
                options=self._options,
                subscribe=[cls.kind.encode() for cls in wanted],
            )
        except BaseException:
            if self._own_context:
                self._context.term()
            raise
        self._receiver = Receiver(
            self._sub, accept=wanted, max_frame_bytes=max_frame_bytes, name="transcripts"
        )
        self._control = ControlClient(
            control_endpoint,
            curve_client=curve_client,
            accept=(ReplayReply, ControlError),
            max_frame_bytes=max_frame_bytes,
            high_water_mark=high_water_mark,
            context=self._context,
        )
        self._ready: deque[Message] = deque()  # to hand out, in order
        self._expected: int | None = from_seq  # the seq of the next final to hand out
        self._held: TranscriptFinal | None = None  # the live final that revealed a gap
        self._runs: OrderedDict[int, str] = OrderedDict()  # recent seq -> run_id handed out
        self._last_run_id = ""  # of the last final handed out
        self._catching_up = from_seq is not None
        self._next_check_at = self._idle_deadline()

    # --- public -------------------------------------------------------------------------------

    @property
    def last_seq(self) -> int | None:
        """The seq of the last final handed out (or to resume after), None before the first."""
        return None if self._expected is None or self._expected == 0 else self._expected - 1

    def receive(self, timeout_ms: int | None = None) -> Message | None:
        """The next message, or None when ``timeout_ms`` passes first (None: wait for one).

        A replay in progress may take up to ``replay_timeout_ms * (replay_retries + 1)``
        beyond ``timeout_ms``.
        """
        deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
        while True:
            if self._ready:
                return self._ready.popleft()
            if (
                deadline is not None
                and time.monotonic() >= deadline
                and (self._catching_up or self._held is None)
            ):
                return None  # a catch-up left (e.g. the daemon is gone) goes on at the next call
            if self._catching_up:
                self._catch_up_once()
                continue
            if self._held is not None:
                held, self._held = self._held, None
                self._on_final(held, live=False)
                continue
            now = time.monotonic()
            check_at = self._next_check_at if self._expected is not None else math.inf
            if now >= check_at:
                self._catching_up = True  # idle: ask whether a final was lost
                continue
            wait_until = min(check_at, math.inf if deadline is None else deadline)
            wait_ms = (
                None if wait_until == math.inf else max(0, math.ceil((wait_until - now) * 1000))
            )
            received = self._receiver.receive(wait_ms)
            if received is not None:
                self._on_live(received.message)  # may hand out nothing (a duplicate, a gap)
            if not self._ready and deadline is not None and time.monotonic() >= deadline:
                return None  # work left (a catch-up, a held final) goes on at the next call

    def __iter__(self) -> Iterator[Message]:
        while True:
            message = self.receive(None)
            if message is not None:
                yield message

    def close(self) -> None:
        self._control.close()
        self._sub.close(linger=0)
        if self._own_context:
            self._context.term()

    def __enter__(self) -> TranscriptSubscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- live messages ------------------------------------------------------------------------

    def _on_live(self, message: Message) -> None:
        if isinstance(message, TranscriptFinal):
            self.counters.received += 1
            self._on_final(message, live=True)
        else:
            self._ready.append(message)

    def _on_final(self, final: TranscriptFinal, *, live: bool) -> None:
        """Hand ``final`` out if it is the next seq; drop it if seen; hold it at a gap."""
        if self._expected is None:
            self._expected = final.seq  # the first final of a subscriber that starts live
        if final.seq < self._expected:
            if self._is_duplicate(final):
                self.counters.duplicates_dropped += 1
                return
            if self._numbering_started_over(final, live=live):
                return
        if final.seq > self._expected:
            if live:
                self.counters.gaps_detected += 1
                logger.info(
                    "gap: got seq %d, expected %d; asking for a replay", final.seq, self._expected
                )
                self._held = final
                self._catching_up = True
                return
            self._skip_or_lose(final, "the daemon did not replay them")
        self._hand_out(final)

    def _hand_out(self, final: TranscriptFinal) -> None:
        self._ready.append(final)
        self._expected = final.seq + 1
        self._next_check_at = self._idle_deadline()
        self._runs[final.seq] = final.run_id
        self._last_run_id = final.run_id
        while len(self._runs) > RUN_MEMORY:
            self._runs.popitem(last=False)

    def _is_duplicate(self, final: TranscriptFinal) -> bool:
        """A seq below the expected one is a duplicate unless another daemon run published it
        (finals without a run_id, from daemons before run ids, always are)."""
        seen_run = self._runs.get(final.seq, self._last_run_id)
        return not final.run_id or not seen_run or seen_run == final.run_id

    def _numbering_started_over(self, final: TranscriptFinal, *, live: bool) -> bool:
        """``final`` reuses a seq handed out by another run: follow the new numbering from 0.
        True when ``final`` is held back while the new run's earlier finals are replayed."""
        self.counters.seq_reuses += 1
        logger.warning(
            "seq %d came again from daemon run %s (it was handed out from run %s): the daemon's "
            "numbering started over (its journal was lost); handing it out and following the "
            "new numbering from 0",
            final.seq,
            final.run_id,
            self._runs.get(final.seq, self._last_run_id),
        )
        self._runs.clear()
        self._last_run_id = final.run_id
        self._expected = 0
        if final.seq > 0 and live:
            self._held = final  # the new run's finals before it come first, by replay
            self._catching_up = True
            return True
        return False

    def _skip_or_lose(self, final: TranscriptFinal, why: str) -> None:
        """Seqs before ``final`` that will not come: skipped at a restart, or lost."""
        assert self._expected is not None
        if final.run_id and self._last_run_id and final.run_id != self._last_run_id:
            count = final.seq - self._expected
            self.counters.skipped_at_restart += count
            logger.warning(
                "seqs %d..%d skipped where the daemon restarted (run %s -> %s): never used, or "
                "lost in a crash of the earlier run",
                self._expected,
                final.seq - 1,
                self._last_run_id,
                final.run_id,
            )
            self._expected = final.seq
            return
        self._lose(final.seq, why)

    def _lose(self, up_to_seq: int, why: str) -> None:
        assert self._expected is not None
        count = up_to_seq - self._expected
        self.counters.lost += count
        logger.warning("finals %d..%d are lost (%s)", self._expected, up_to_seq - 1, why)
        self._expected = up_to_seq

    def _idle_deadline(self) -> float:
        return time.monotonic() + self.idle_check_s if self.idle_check_s else math.inf

    # --- replay -------------------------------------------------------------------------------

    def _catch_up_once(self) -> None:
        """One ReplayRequest from the expected seq; stays catching up while more is pending."""
        assert self._expected is not None
        self._next_check_at = self._idle_deadline()
        reply = self._request(ReplayRequest(since_seq=self._expected, max_count=self.replay_batch))
        self._next_check_at = self._idle_deadline()  # from the answer (or the last timeout) on
        if not isinstance(reply, ReplayReply):
            self._catching_up = False  # a held final now counts its gap as lost
            return
        if not reply.finals and reply.next_seq < self._expected:
            self.counters.resets += 1
            logger.warning(
                "the daemon's next seq is %d but %d finals were seen: its journal started over; "
                "following its new numbering from 0",
                reply.next_seq,
                self._expected,
            )
            self._expected = 0
            return
        for final in reply.finals:
            if final.seq < self._expected and self._is_duplicate(final):
                self.counters.duplicates_dropped += 1
                continue
            if final.seq < self._expected:
                self._numbering_started_over(final, live=False)
            if final.seq > self._expected:
                self._skip_or_lose(final, "the daemon's journal no longer holds them")
            self.counters.replayed += 1
            self._hand_out(final)
        if not reply.finals and reply.next_seq > self._expected and not self._last_run_id:
            self._lose(reply.next_seq, "the daemon's journal no longer holds them")
        # with run ids, such a range is judged when the next final shows its run: skipped at a
        # restart (another run) or lost (the same run)
        # a reply cut by the daemon (max_count, frame size) ends where the next one starts, like
        # one that reached the newest final: ask until a reply brings nothing new
        self._catching_up = bool(reply.finals)

    def _request(self, request: ReplayRequest) -> Message | None:
        """The daemon's answer to ``request``, None after every try timed out (lazy pirate)."""
        for attempt in range(self.replay_retries + 1):
            self.counters.replay_requests += 1
            reply = self._control.ask(request, self.replay_timeout_ms)
            if reply is not None:
                if isinstance(reply, ControlError):
                    logger.warning("replay refused: %s", reply.message)
                    return None
                return reply
            self.counters.replay_timeouts += 1
            logger.warning(
                "no answer from %s to a replay request within %d ms (try %d of %d)",
                self.control_endpoint,
                self.replay_timeout_ms,
                attempt + 1,
                self.replay_retries + 1,
            )
        return None
