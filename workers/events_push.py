"""What capture and vad send to the parent's events PULL socket, and how.

Both processes PUSH to the parent (the supervisor binds the PULL): speech events, capture
events, ``EndOfStream``, ``RingOverrunReport``, ``VadStats`` and ``Heartbeat``. ``EventsPusher``
sends the ones that matter (speech events, end of stream, errors) reliably: it waits for room
while the parent lives, instead of dropping them. Heartbeats and statistics are sent without
waiting: a late one is worth nothing. ``workers.heartbeat.HeartbeatThread`` beats from its own thread and
socket for a process whose main thread can block (capture waiting on stdin or a device).
"""

from __future__ import annotations

import logging
import os

import zmq

from pipeline.bus.frames import send_message
from pipeline.bus.sockets import SocketOptions, open_socket
from pipeline.errors import BusError
from pipeline.messages import Message

logger = logging.getLogger(__name__)

SEND_POLL_MS = 200  # while waiting for room on the socket, check the parent this often
CLOSE_LINGER_MS = 2000  # at close, time given to reliable messages still queued


class ParentGone(Exception):
    """The process that started this one has exited; there is nobody to report to."""


class EventsPusher:
    """A PUSH socket to the parent's events endpoint, owned by one thread."""

    def __init__(
        self, context: zmq.Context, endpoint: str, options: SocketOptions | None = None
    ) -> None:
        self.socket = open_socket(context, zmq.PUSH, endpoint, bind=False, options=options)
        self.parent_pid = os.getppid()
        self.dropped = 0  # unreliable messages dropped because the parent was not reading

    def parent_alive(self) -> bool:
        return os.getppid() == self.parent_pid

    def push(self, message: Message) -> None:
        """Send ``message``, waiting for room while the parent lives; ``ParentGone`` if not."""
        while not send_message(self.socket, message, block=False):
            if not self.parent_alive():
                raise ParentGone(f"parent {self.parent_pid} is gone; {message.kind} not sent")
            self.socket.poll(SEND_POLL_MS, zmq.POLLOUT)

    def offer(self, message: Message) -> bool:
        """Send ``message`` if there is room now; count it as dropped if not."""
        try:
            sent = send_message(self.socket, message, block=False)
        except BusError as e:
            logger.warning("%s not sent: %s", message.kind, e)
            sent = False
        if not sent:
            self.dropped += 1
            logger.debug("%s dropped: the parent is not reading", message.kind)
        return sent

    def close(self, linger_ms: int = CLOSE_LINGER_MS) -> None:
        """Close, giving queued messages ``linger_ms`` to reach a parent that still lives."""
        self.socket.close(linger=linger_ms if self.parent_alive() else 0)
