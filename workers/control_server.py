"""Answering control requests on the supervisor's ROUTER socket, with handlers it is handed.

The server knows requests and replies, not the daemon: it is given a mapping from request class
to a handler (``request -> reply``); ``daemon_handlers`` builds the daemon's from plain
callables. Every request gets a reply: the handler's, or ``ControlError`` naming what was wrong
(an unexpected kind, a bad argument, a handler that raised, a reply too big for a frame). Frames
that do not decode at all are counted and logged by the ``Receiver`` and never reach a handler.

Nothing a client sends can stop or stall the loop:

- any exception while answering or sending one request becomes an error reply (or, for a send,
  a logged drop) and a count in ``stats()`` (shown by ``status``), never an exit;
- replay replies are cut to the frame limit, with ``next_seq`` telling where to go on;
- replies go out without blocking: a client that never reads loses its replies (counted as
  ``unsent``) once its queue is full;
- one ``serve_pending`` call answers requests for at most ``budget_ms`` (and at most
  ``max_requests`` of them), and at most one slow request (a replay): the rest wait for the
  loop's next step, and cheap requests (``status``) never wait behind slow ones.

A replay of finals older than the journal's in-memory tail reads the journal files; that one
request's cost is the journal's to bound (an index from seq to file offset).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import zmq

from pipeline.bus import PeerUnreachable, Receiver, send_message
from pipeline.errors import StreamscribeError
from pipeline.messages import (
    ControlError,
    FrameRejected,
    Message,
    MetricsReply,
    MetricsRequest,
    ReplayReply,
    ReplayRequest,
    SetProfileReply,
    SetProfileRequest,
    ShutdownAck,
    ShutdownRequest,
    StatusReply,
    StatusRequest,
    StreamCloseReply,
    StreamCloseRequest,
    StreamListReply,
    StreamListRequest,
    StreamOpenReply,
    StreamOpenRequest,
)

logger = logging.getLogger(__name__)

MAX_REQUESTS_PER_STEP = 200  # requests answered in one loop step at most
CONTROL_BUDGET_MS = 5.0  # time one loop step spends answering requests (at least one is served)
STREAM_REPLAY_ROUNDS = 8  # journal reads one stream-filtered replay makes at most
MAX_REPLAY_COUNT = 1000  # finals one replay reply holds at most (the frame limit may cut more)
# A replay reply is cut at this size even when the frame limit is larger: building and encoding
# a reply costs ~0.5 ms per 100-word final inside one loop step, so a full 1 MiB reply stalled the
# loop for 0.3-0.6 s under a replay flood, and a 128 KiB one still took 12-37 ms of CPU per step
# (thread CPU time on a loaded machine: loop p99 25 ms in bench/chaos.py with floods); 32 KiB
# keeps a replay step near the control budget. Clients follow ``next_seq`` either way.
REPLAY_REPLY_MAX_BYTES = 32 * 1024
MAX_SLOW_WAITING = 1000  # slow requests read ahead; beyond, they wait in the socket's queue
REPLIES_QUEUED_PER_CLIENT = 16  # replies (each up to a frame) held for a client that does not read

Handler = Callable[[Any], Message]


class ReplaySource(Protocol):
    def answer(self, request: ReplayRequest, *, max_frame_bytes: int) -> ReplayReply: ...


@dataclass
class ControlCounters:
    answered: int = 0  # replies sent (error replies included)
    refused: int = 0  # requests answered with ControlError: not a control request, bad argument
    errors: int = 0  # requests that failed inside the daemon (answered with ControlError)
    unsent: int = 0  # replies dropped: the client left, or does not read its replies
    deferred_steps: int = 0  # loop steps that left requests waiting for the budget


class ControlServer:
    def __init__(
        self,
        socket: zmq.Socket,
        handlers: Mapping[type[Message], Handler],
        *,
        max_frame_bytes: int,
        budget_ms: float = CONTROL_BUDGET_MS,
        max_requests: int = MAX_REQUESTS_PER_STEP,
        slow_kinds: Sequence[type[Message]] = (ReplayRequest,),
    ) -> None:
        self.socket = socket
        self.handlers = dict(handlers)
        self.max_frame_bytes = max_frame_bytes
        self.budget_ms = budget_ms
        self.max_requests = max_requests
        self.slow_kinds = tuple(slow_kinds)
        self.counters = ControlCounters()
        self._slow: deque[tuple[Sequence[bytes], Message]] = deque()
        # a client that never reads must not hold HWM x frame bytes of replies in the daemon;
        # applies to connections made from now on (before any client: the loop has not started)
        socket.setsockopt(zmq.SNDHWM, REPLIES_QUEUED_PER_CLIENT)
        self.receiver = Receiver(socket, max_frame_bytes=max_frame_bytes, name="control")

    @property
    def rejected(self) -> int:
        return self.receiver.rejected_total

    def stats(self) -> dict[str, int]:
        """Counters for ``status`` (``rejected``: frames that did not decode)."""
        return {
            "answered": self.counters.answered,
            "refused": self.counters.refused,
            "errors": self.counters.errors,
            "unsent": self.counters.unsent,
            "rejected": self.rejected,
            "deferred_steps": self.counters.deferred_steps,
            "waiting": self.waiting,
        }

    def serve_pending(self) -> int:
        """Answer waiting requests within the step's budget; returns how many were answered.

        Cheap requests are answered as they are read; slow ones (``slow_kinds``: replays, which
        may read journal files) wait in a queue and at most one of them is answered per step,
        so a flood of replays never keeps ``status`` waiting behind it.
        """
        deadline_s = time.monotonic() + self.budget_ms / 1000
        served = 0
        while served < self.max_requests and len(self._slow) < MAX_SLOW_WAITING:
            if served and time.monotonic() >= deadline_s:
                self.counters.deferred_steps += 1
                break
            try:
                received = self.receiver.receive(timeout_ms=0)
            except zmq.ZMQError as e:  # the socket itself failed: log, let the loop go on
                logger.warning("control socket: %s", e)
                break
            if received is None:
                break
            request = received.message
            if isinstance(request, self.slow_kinds):
                self._slow.append((received.identity, request))
                continue
            served += 1
            self._send(received.identity, request, self._answer(request))
        if self._slow and (not served or time.monotonic() < deadline_s):
            identity, request = self._slow.popleft()
            served += 1
            self._send(identity, request, self._answer(request))
        elif self._slow:
            self.counters.deferred_steps += 1
        return served

    @property
    def waiting(self) -> int:
        """Slow requests read and not yet answered."""
        return len(self._slow)

    def _answer(self, request: Message) -> Message:
        handler = self.handlers.get(type(request))
        if handler is None:
            self.counters.refused += 1
            return _error(request.kind, f"{request.kind} is not a control request")
        try:
            return handler(request)
        except StreamscribeError as e:  # the request was wrong (an unknown profile, ...)
            self.counters.refused += 1
            details = getattr(e, "details", None)  # e.g. the measured load of a capacity refusal
            return ControlError(
                request_kind=request.kind,
                message=str(e),
                details={str(k): str(v) for k, v in (details or {}).items()},
            )
        except Exception as e:
            logger.exception("control request %s failed", request.kind)
            self.counters.errors += 1
            return _error(request.kind, f"internal error: {type(e).__name__}: {e}")

    def _send(self, identity: Sequence[bytes], request: Message, reply: Message) -> None:
        try:
            try:
                sent = self._deliver(identity, reply)
            except FrameRejected as e:
                logger.warning(
                    "control reply %s not sendable (%s); an error instead", reply.kind, e
                )
                self.counters.errors += 1
                sent = self._deliver(identity, _error(request.kind, f"reply not sendable: {e}"))
        except PeerUnreachable:
            logger.debug("control client left before its reply")
            sent = False
        except Exception:
            logger.exception("sending the reply to %s failed", request.kind)
            self.counters.errors += 1
            sent = False
        if sent:
            self.counters.answered += 1
        else:  # gone, or not reading its replies (its queue is full)
            self.counters.unsent += 1

    def _deliver(self, identity: Sequence[bytes], reply: Message) -> bool:
        return send_message(
            self.socket, reply, identity=identity, block=False, max_frame_bytes=self.max_frame_bytes
        )


def _error(request_kind: str, message: str) -> ControlError:
    return ControlError(request_kind=request_kind, message=message)


def daemon_handlers(
    *,
    status: Callable[[], dict[str, Any]],
    metrics: Callable[[], dict[str, Any]],
    journal: ReplaySource,
    request_stop: Callable[[str], None],
    set_profile: Callable[[str], list[str]],
    max_frame_bytes: int,
    open_stream: Callable[[StreamOpenRequest], StreamOpenReply] | None = None,
    close_stream: Callable[[StreamCloseRequest], StreamCloseReply] | None = None,
    list_streams: Callable[[], list[dict[str, Any]]] | None = None,
) -> dict[type[Message], Handler]:
    """The daemon's control requests, answered by these callables (``stream.*`` only when
    given)."""

    reply_bytes = min(max_frame_bytes, REPLAY_REPLY_MAX_BYTES)

    def replay(request: ReplayRequest) -> ReplayReply:
        max_count = min(request.max_count, MAX_REPLAY_COUNT)
        if not request.stream_id:
            cut = ReplayRequest(since_seq=request.since_seq, max_count=max_count)
            return journal.answer(cut, max_frame_bytes=reply_bytes)
        return _replay_of_stream(journal, request, max_count, reply_bytes)

    def shutdown(request: ShutdownRequest) -> ShutdownAck:
        request_stop(f"shutdown requested: {request.reason or 'no reason given'}")
        return ShutdownAck()

    def switch_profile(request: SetProfileRequest) -> SetProfileReply:
        restarted = set_profile(request.profile)
        return SetProfileReply(profile=request.profile, restarted=tuple(restarted))

    handlers: dict[type[Message], Handler] = {
        StatusRequest: lambda _request: StatusReply(status=status()),
        MetricsRequest: lambda _request: MetricsReply(values=metrics()),
        ReplayRequest: replay,
        ShutdownRequest: shutdown,
        SetProfileRequest: switch_profile,
    }
    if open_stream is not None:
        handlers[StreamOpenRequest] = open_stream
    if close_stream is not None:
        handlers[StreamCloseRequest] = close_stream
    if list_streams is not None:
        handlers[StreamListRequest] = lambda _request: StreamListReply(
            streams=tuple(list_streams())
        )
    return handlers


def _replay_of_stream(
    journal: ReplaySource, request: ReplayRequest, max_count: int, max_frame_bytes: int
) -> ReplayReply:
    """Finals of ``request.stream_id`` only: the journal is read in replies cut as usual and
    the other streams' finals left out, for at most ``STREAM_REPLAY_ROUNDS`` reads; ``next_seq``
    says where the next request goes on (an empty reply with a ``next_seq`` below the daemon's
    next seq means: ask again from there)."""
    since_seq = request.since_seq
    finals: list = []
    size = 0
    for _ in range(STREAM_REPLAY_ROUNDS):
        reply = journal.answer(
            ReplayRequest(since_seq=since_seq, max_count=MAX_REPLAY_COUNT),
            max_frame_bytes=max_frame_bytes,
        )
        for final in reply.finals:
            since_seq = final.seq + 1
            if final.stream_id != request.stream_id:
                continue
            size += final_size_bytes(final)
            if len(finals) >= max_count or size > max_frame_bytes * 3 // 4:
                return ReplayReply(finals=tuple(finals), next_seq=final.seq)
            finals.append(final)
        if not reply.finals:
            return ReplayReply(finals=tuple(finals), next_seq=reply.next_seq)
        since_seq = reply.next_seq
        if finals:
            break
    return ReplayReply(finals=tuple(finals), next_seq=since_seq)


def final_size_bytes(final: Message) -> int:
    from pipeline.messages import encode

    return len(encode(final))
