"""A background thread that tells the supervisor this child is alive, even mid-inference.

It has its own DEALER socket (identity ``<role>:hb``) on the work endpoint, so a long
transcription on the main thread never delays it; a SIGSTOPped or deadlocked process stops
sending and the supervisor notices the silence.
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


class HeartbeatThread(threading.Thread):
    def __init__(
        self,
        context: zmq.Context,
        endpoint: str,
        role: str,
        interval_s: float,
        busy_request_id: Callable[[], str] = lambda: "",
        memory: Callable[[], MemoryStats] = MemoryStats,
        options: SocketOptions | None = None,
    ) -> None:
        super().__init__(name=f"{role}-heartbeat", daemon=True)
        self._context = context
        self._endpoint = endpoint
        self._role = role
        self._interval_s = interval_s
        self._busy_request_id = busy_request_id
        self._memory = memory
        self._options = options
        self._stopping = threading.Event()
        self._process = psutil.Process(os.getpid())

    def beat_once(self, socket: zmq.Socket) -> None:
        stats = self._memory()
        message = Heartbeat(
            role=self._role,
            pid=os.getpid(),
            rss_bytes=self._process.memory_info().rss,
            mlx_active_bytes=stats.active_bytes,
            mlx_cache_bytes=stats.cache_bytes,
            busy_request_id=self._busy_request_id(),
        )
        send_message(socket, message, block=False)

    def run(self) -> None:
        socket = open_socket(
            self._context,
            zmq.DEALER,
            self._endpoint,
            bind=False,
            options=self._options,
            identity=f"{self._role}:hb".encode(),
        )
        try:
            while not self._stopping.is_set():
                try:
                    self.beat_once(socket)
                except (BusError, zmq.ZMQError, psutil.Error) as e:
                    logger.warning("heartbeat not sent: %s", e)
                self._stopping.wait(self._interval_s)
        finally:
            socket.close(linger=0)

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=2.0)
