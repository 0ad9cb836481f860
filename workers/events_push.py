"""What capture and vad send to the parent's events PULL socket, and how.

Both processes PUSH to the parent (the supervisor binds the PULL): speech events, capture
events, ``EndOfStream``, ``RingOverrunReport``, ``VadStats`` and ``Heartbeat``. ``EventsPusher``
sends the ones that matter (speech events, end of stream, errors) reliably: it waits for room
while the parent lives, instead of dropping them. Heartbeats and statistics are sent without
waiting: a late one is worth nothing. ``PushHeartbeatThread`` beats from its own thread and
socket for a process whose main thread can block (capture waiting on stdin or a device).
"""

from __future__ import annotations

import logging
import os
import threading

import psutil
import zmq

from pipeline.bus.frames import send_message
from pipeline.bus.sockets import SocketOptions, open_socket
from pipeline.errors import BusError
from pipeline.messages import Heartbeat, Message

logger = logging.getLogger(__name__)

SEND_POLL_MS = 200  # while waiting for room on the socket, check the parent this often
CLOSE_LINGER_MS = 2000  # at close, time given to reliable messages still queued


def heartbeat_message(role: str, process: psutil.Process) -> Heartbeat:
    """A ``Heartbeat`` for this process with its current resident memory."""
    return Heartbeat(role=role, pid=os.getpid(), rss_bytes=process.memory_info().rss)


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


class PushHeartbeatThread(threading.Thread):
    """Sends a ``Heartbeat`` every ``interval_s`` on its own PUSH socket, whatever the main
    thread is doing (waiting for stdin, a lost device, or room in the ring)."""

    def __init__(
        self,
        context: zmq.Context,
        endpoint: str,
        role: str,
        interval_s: float,
        options: SocketOptions | None = None,
    ) -> None:
        super().__init__(name=f"{role}-heartbeat", daemon=True)
        self._context = context
        self._endpoint = endpoint
        self._role = role
        self._interval_s = interval_s
        self._options = options
        self._stopping = threading.Event()
        self._process = psutil.Process(os.getpid())

    def run(self) -> None:
        pusher = EventsPusher(self._context, self._endpoint, self._options)
        try:
            while not self._stopping.is_set():
                try:
                    pusher.offer(heartbeat_message(self._role, self._process))
                except psutil.Error as e:
                    logger.warning("heartbeat not sent: %s", e)
                self._stopping.wait(self._interval_s)
        finally:
            pusher.close(linger_ms=0)

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=2.0)
