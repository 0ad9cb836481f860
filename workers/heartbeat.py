"""A background thread that tells the supervisor this child is alive, whatever the main thread
is doing (a long transcription, waiting for stdin, a lost device, room in the ring).

It has its own socket: a DEALER on the work endpoint for asr workers (identity ``<role>:hb``,
so the pool knows whose beat it is; ``<identity>:hb`` when the worker's identity carries
the daemon's run), a PUSH on the events endpoint for capture. A SIGSTOPped or
deadlocked process stops sending and the supervisor notices the silence. A beat that cannot go
out at once is dropped: a late heartbeat is worth nothing.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import psutil
import zmq

from pipeline.backends.base import MemoryStats
from pipeline.bus.frames import send_message
from pipeline.bus.sockets import SocketOptions, open_socket
from pipeline.errors import BusError
from pipeline.messages.work import Heartbeat

logger = logging.getLogger(__name__)


def heartbeat_message(
    role: str,
    process: psutil.Process,
    memory: MemoryStats | None = None,
    busy: str = "",
    position_index: int = 0,
) -> Heartbeat:
    """A ``Heartbeat`` for this process: resident memory, engine memory, current request, and for
    ring readers the position read so far."""
    stats = memory or MemoryStats()
    return Heartbeat(
        role=role,
        pid=os.getpid(),
        rss_bytes=process.memory_info().rss,
        mlx_active_bytes=stats.active_bytes,
        mlx_cache_bytes=stats.cache_bytes,
        busy_request_id=busy,
        position_index=position_index,
    )


class HeartbeatThread(threading.Thread):
    def __init__(
        self,
        context: zmq.Context,
        endpoint: str,
        role: str,
        interval_s: float,
        *,
        socket_type: int = zmq.DEALER,
        identity: str = "",
        busy_request_id: Callable[[], str] = lambda: "",
        memory: Callable[[], MemoryStats] = MemoryStats,
        options: SocketOptions | None = None,
    ) -> None:
        super().__init__(name=f"{role}-heartbeat", daemon=True)
        self._context = context
        self._endpoint = endpoint
        self._role = role
        self._interval_s = interval_s
        self._socket_type = socket_type
        self._identity = identity or role  # DEALER: the worker's identity, ":hb" appended
        self._busy_request_id = busy_request_id
        self._memory = memory
        self._options = options
        self._stopping = threading.Event()
        self._process = psutil.Process(os.getpid())
        self.dropped = 0  # beats that found no room

    def run(self) -> None:
        identity = f"{self._identity}:hb".encode() if self._socket_type == zmq.DEALER else None
        socket = open_socket(
            self._context,
            self._socket_type,
            self._endpoint,
            bind=False,
            options=self._options,
            identity=identity,
        )
        try:
            while not self._stopping.is_set():
                try:
                    message = heartbeat_message(
                        self._role, self._process, self._memory(), self._busy_request_id()
                    )
                    if not send_message(socket, message, block=False):
                        self.dropped += 1
                except (BusError, zmq.ZMQError, psutil.Error) as e:
                    logger.warning("heartbeat not sent: %s", e)
                self._stopping.wait(self._interval_s)
        finally:
            socket.close(linger=0)

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=2.0)
