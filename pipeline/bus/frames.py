"""Sending messages and receiving them safely.

Frame layouts on the wire:

- plain ``[payload]``: PUSH/PULL, DEALER side, REQ/REP;
- routed ``[identity..., payload]``: what a ROUTER receives and sends;
- topic ``[kind, payload]``: PUB/SUB, the topic being the message ``kind`` (``transcript.final``).

A :class:`Receiver` never raises for bad input: a frame that does not decode, has the wrong
number of parts, a topic that does not match its kind, or a kind the socket does not expect is
dropped, counted in ``rejected`` by reason and logged (warnings for the first few, then debug,
plus a periodic summary so a flood of garbage does not flood the log).
"""

from __future__ import annotations

import enum
import logging
import time
import weakref
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import zmq

from pipeline.errors import BusError
from pipeline.messages import (
    DEFAULT_MAX_FRAME_BYTES,
    REJECTION_REASONS,
    FrameRejected,
    Message,
    decode,
    encode,
)

logger = logging.getLogger(__name__)

MAX_IDENTITY_FRAMES = 8  # envelope depth accepted on a ROUTER
LOUD_REJECTIONS = 5  # rejections logged as warnings before dropping to debug
SUMMARY_INTERVAL_S = 60.0  # at most one summary warning per interval
# Reasons a Receiver counts: the codec's, plus the frame-level ones.
RECEIVE_REJECTION_REASONS = (
    *REJECTION_REASONS,
    "frames",  # wrong number of parts for the socket's layout
    "topic_mismatch",  # a SUB topic that is not the message's kind
    "unexpected_kind",  # a valid message this socket does not take
    "internal",  # a bug while handling the frame (logged; the loop goes on)
)


class Layout(enum.Enum):
    PLAIN = "plain"
    ROUTED = "routed"
    TOPIC = "topic"

    @classmethod
    def of(cls, socket: zmq.Socket) -> Layout:
        socket_type = socket.getsockopt(zmq.TYPE)
        if socket_type == zmq.ROUTER:
            return cls.ROUTED
        if socket_type in (zmq.PUB, zmq.SUB, zmq.XPUB, zmq.XSUB):
            return cls.TOPIC
        return cls.PLAIN


class PeerUnreachable(BusError):
    """A ROUTER send to an identity that is not connected (a worker that died)."""


@dataclass(frozen=True, slots=True)
class Received:
    message: Message
    identity: tuple[bytes, ...] = ()  # routing envelope (ROUTER); reply with it
    topic: bytes = b""  # topic frame (SUB)


def send_message(
    socket: zmq.Socket,
    message: Message,
    *,
    identity: Sequence[bytes] = (),
    block: bool = True,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
) -> bool:
    """Send ``message`` in the socket's layout; False if it would block and ``block`` is off.

    A ROUTER needs ``identity``; a PUB prefixes the kind as topic. Raises FrameRejected for an
    invalid message and PeerUnreachable for a ROUTER peer that is gone.
    """
    payload = encode(message, max_frame_bytes=max_frame_bytes)
    layout = Layout.of(socket)
    if layout is Layout.ROUTED:
        if not identity:
            raise BusError(f"a ROUTER needs the identity of the peer to send {message.kind} to")
        frames = [*identity, payload]
    elif layout is Layout.TOPIC:
        frames = [message.kind.encode(), payload]
    else:
        frames = [payload]
    try:
        socket.send_multipart(frames, flags=0 if block else zmq.NOBLOCK)
    except zmq.Again:
        return False
    except zmq.ZMQError as e:
        if e.errno == zmq.EHOSTUNREACH:
            raise PeerUnreachable(f"peer {list(identity)!r} is not connected") from e
        raise BusError(f"cannot send {message.kind}: {e}") from e
    return True


class Receiver:
    """Receives whole multipart messages from one socket and turns them into ``Received``."""

    def __init__(
        self,
        socket: zmq.Socket,
        *,
        layout: Layout | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        accept: Iterable[type[Message]] | None = None,
        name: str = "",
    ) -> None:
        self.socket = socket
        self.layout = layout or Layout.of(socket)
        self.max_frame_bytes = max_frame_bytes
        self.accept = frozenset(accept) if accept is not None else None
        self.name = name or self.layout.value
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self._summary_at = time.monotonic()
        self._summary_total = 0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def receive(self, timeout_ms: int | None = None) -> Received | None:
        """The next valid message, or None when ``timeout_ms`` passes first (None: wait forever).

        Invalid messages on the way are counted and skipped.
        """
        deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
        while True:
            wait_ms = (
                None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            )
            if not self.socket.poll(wait_ms, zmq.POLLIN):
                return None
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                continue
            received = self.handle(frames)
            if received is not None:
                return received
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def handle(self, frames: Sequence[bytes]) -> Received | None:
        """Decode one multipart message already received (for callers with their own poller)."""
        try:
            received = self._parse(frames)
        except FrameRejected as e:
            self._reject(e.reason, e.detail)
            return None
        except Exception as e:  # a bug must not take the receive loop down with it
            self._reject("internal", f"{type(e).__name__}: {e}")
            return None
        self.accepted += 1
        return received

    def _parse(self, frames: Sequence[bytes]) -> Received:
        count = len(frames)
        if self.layout is Layout.PLAIN:
            if count != 1:
                raise FrameRejected("frames", f"{count} parts, expected 1")
            return Received(self._decode(frames[0]))
        if self.layout is Layout.ROUTED:
            if not 2 <= count <= MAX_IDENTITY_FRAMES + 1:
                raise FrameRejected("frames", f"{count} parts, expected identity + payload")
            return Received(self._decode(frames[-1]), identity=tuple(frames[:-1]))
        if count != 2:
            raise FrameRejected("frames", f"{count} parts, expected topic + payload")
        message = self._decode(frames[1])
        topic = bytes(frames[0])
        if topic != message.kind.encode():
            raise FrameRejected("topic_mismatch", f"topic {topic[:64]!r} carries {message.kind}")
        return Received(message, topic=topic)

    def _decode(self, payload: bytes) -> Message:
        message = decode(payload, max_frame_bytes=self.max_frame_bytes)
        if self.accept is not None and type(message) not in self.accept:
            raise FrameRejected("unexpected_kind", f"{message.kind} is not expected here")
        return message

    def _reject(self, reason: str, detail: str) -> None:
        self.rejected[reason] += 1
        total = self.rejected_total
        if total <= LOUD_REJECTIONS:
            logger.warning(
                "%s: rejected a message (%s)%s",
                self.name,
                detail,
                "; further rejections are logged at debug" if total == LOUD_REJECTIONS else "",
            )
        else:
            logger.debug("%s: rejected a message (%s)", self.name, detail)
        now = time.monotonic()
        if now - self._summary_at >= SUMMARY_INTERVAL_S and total > self._summary_total:
            logger.warning(
                "%s: %d messages rejected in the last %.0f s; by reason so far: %s",
                self.name,
                total - self._summary_total,
                now - self._summary_at,
                dict(self.rejected),
            )
            self._summary_at = now
            self._summary_total = total


_RECEIVERS: weakref.WeakKeyDictionary[zmq.Socket, Receiver] = weakref.WeakKeyDictionary()


def receive_message(
    socket: zmq.Socket,
    timeout_ms: int | None = None,
    *,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
) -> Received | None:
    """``Receiver.receive`` on a receiver kept per socket (its counts: ``receiver_for(socket)``)."""
    return receiver_for(socket, max_frame_bytes=max_frame_bytes).receive(timeout_ms)


def receiver_for(socket: zmq.Socket, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Receiver:
    """The receiver ``receive_message`` uses for ``socket``, made on first use."""
    receiver = _RECEIVERS.get(socket)
    if receiver is None:
        receiver = Receiver(socket, max_frame_bytes=max_frame_bytes)
        _RECEIVERS[socket] = receiver
    return receiver
