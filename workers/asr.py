"""The asr worker process: loads one backend once, then answers work requests from the parent.

Settings (plain values, from the parent):
    role            this worker's name, e.g. "asr-1"
    identity        optional: its DEALER identity (default: role); the pool makes it carry the
                    daemon's run, so a stale worker of an earlier run can never take the slot
    config          the configuration tree (``config.loader.as_tree``)
    model_path      what to load (resolved once by the parent)
    work_endpoint   the parent's ROUTER endpoint

Protocol: send ``Ready``; then for each request on the DEALER socket answer one message;
a ``Shutdown`` (or the parent disappearing) ends the loop. Heartbeats go out from a thread.

Cancels: while a ``TranscribeRequest`` or a ``TranscribeBatch`` is computed, the engine's
checkpoints (after the encoder, between decoder steps) read the socket (``CancelWatch``). A
``CancelRequest`` for that request stops it there, and the answer is a ``WorkerError`` of kind
``CANCELLED`` (a batch: one per item, ``batch_requests.cancelled_batch``); a cancel for anything
else is late and ignored. Other messages read meanwhile are handled after the request, in order.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from typing import Any

import zmq

from config.loader import from_tree
from pipeline.backends.cancellation import Cancelled, watching
from pipeline.backends.mlx_runtime import prepare_blas
from pipeline.bus.frames import Receiver, send_message
from pipeline.bus.sockets import SocketOptions, new_context, open_socket
from pipeline.errors import BusError
from pipeline.messages.base import Message
from pipeline.messages.work import (
    CANCELLED,
    CancelRequest,
    Ready,
    Shutdown,
    StreamClose,
    StreamFeed,
    StreamOpen,
    TranscribeBatch,
    TranscribeRequest,
    WorkerError,
)
from workers.heartbeat import HeartbeatThread
from workers.parent_death import spawn_parent_pid

logger = logging.getLogger(__name__)

POLL_MS = 200  # how often the loop checks that the parent is still there
# Test hook for supervision tests (a backend that fails to load, loads slowly, or is slow): a
# JSON map {"counter": PATH, "fail_times": N, "delay_s": S, "request_delay_s": R}. Each load
# attempt appends one byte to PATH; the first N attempts fail; every attempt first sleeps S
# seconds; every transcription request then takes R seconds longer (a slow machine).
LOAD_FAULT_ENV = "STREAMSCRIBE_TEST_LOAD_FAULT"
WORK_MESSAGES = (
    TranscribeRequest,
    TranscribeBatch,
    StreamOpen,
    StreamFeed,
    StreamClose,
    Shutdown,
    CancelRequest,
)
CANCEL_POLL_INTERVAL_S = 0.005  # checkpoints read the socket at most this often


def main(settings: dict[str, Any]) -> None:
    config = from_tree(settings["config"])
    role = settings["role"]
    # BLAS must be chosen before anything imports mlx (the thread count comes from the parent).
    blas = prepare_blas(int(os.environ.get("OPENBLAS_NUM_THREADS", "0") or 0))
    logger.info("BLAS: %s", blas.note)

    from pipeline.backends.factory import build_backend
    from pipeline.transcription_service import TranscriptionService

    load_started_s = time.perf_counter()
    _injected_load_fault()
    backend = build_backend(config.asr, settings["model_path"])
    service = TranscriptionService(backend)
    logger.info("loaded %s in %.2f s", backend.model_name, time.perf_counter() - load_started_s)

    options = SocketOptions(
        high_water_mark=config.outputs.high_water_mark,
        max_frame_bytes=config.outputs.max_frame_bytes,
    )
    context = new_context()
    socket = open_socket(
        context,
        zmq.DEALER,
        settings["work_endpoint"],
        bind=False,
        options=options,
        identity=settings.get("identity", role).encode(),
    )
    heartbeat = HeartbeatThread(
        context,
        settings["work_endpoint"],
        role,
        config.supervisor.heartbeat_interval_s,
        socket_type=zmq.DEALER,
        identity=settings.get("identity", role),
        busy_request_id=lambda: service.busy_request_id,
        memory=backend.memory_stats,
        options=options,
    )
    heartbeat.start()
    parent_pid = spawn_parent_pid()  # as passed at spawn: a getppid() now could already be 1
    try:
        capabilities = ("words", "streaming") if backend.capabilities.streaming else ("words",)
        send_message(
            socket,
            Ready(
                worker_id=role,
                pid=os.getpid(),
                backend=backend.name,
                model=backend.model_name,
                capabilities=capabilities,
            ),
        )
        serve(socket, service, parent_pid, max_frame_bytes=config.outputs.max_frame_bytes)
    finally:
        heartbeat.stop()
        service.close()
        backend.close()
        socket.close(linger=0)
        context.term()
        logger.info("stopped")


def serve(socket: zmq.Socket, service, parent_pid: int, *, max_frame_bytes: int) -> None:
    """Answer requests until ``Shutdown`` or until the parent process is gone."""
    receiver = Receiver(socket, accept=WORK_MESSAGES, max_frame_bytes=max_frame_bytes, name="work")
    watch = CancelWatch(receiver)
    while True:
        message = watch.next_held()
        if message is None:
            received = receiver.receive(timeout_ms=POLL_MS)
            if received is None:
                if os.getppid() != parent_pid:
                    logger.warning("parent %d is gone; exiting", parent_pid)
                    return
                continue
            message = received.message
        if isinstance(message, Shutdown):
            logger.info("shutdown requested: %s", message.reason or "no reason given")
            return
        if isinstance(message, CancelRequest):
            logger.debug("cancel of %s, which is not running: ignored", message.request_id)
            continue
        reply = handle(service, message, watch)
        if reply is not None:
            try:
                send_message(socket, reply)
            except BusError:
                logger.exception("could not send the answer to %s", type(message).__name__)


def handle(service, message: Message, watch: CancelWatch) -> Message | None:
    """The reply to one work message; a transcription may be cancelled while it runs."""
    if not isinstance(message, TranscribeRequest | TranscribeBatch):
        return service.handle(message)
    time.sleep(_injected_request_delay_s())
    watch.start(message.request_id)
    try:
        with watching(watch):
            return service.handle(message)
    except Cancelled:
        logger.debug("%s cancelled after %.3f s", message.request_id, watch.elapsed_s())
        if isinstance(message, TranscribeBatch):  # a partial batch is cancelled as a whole
            from pipeline.batch_requests import cancelled_batch

            return cancelled_batch(message, f"cancelled after {watch.elapsed_s():.3f} s")
        return WorkerError(
            message.request_id,
            CANCELLED,
            f"cancelled after {watch.elapsed_s():.3f} s",
            retryable=True,
        )
    finally:
        watch.stop()


class CancelWatch:
    """The check the engine's checkpoints call while a request runs: reads what arrived on the
    socket; True once a ``CancelRequest`` for that request is there. Other messages are held
    for the loop (``next_held``)."""

    def __init__(self, receiver: Receiver, interval_s: float = CANCEL_POLL_INTERVAL_S) -> None:
        self._receiver = receiver
        self._interval_s = interval_s
        self._held: deque[Message] = deque()
        self._request_id = ""
        self._started_s = 0.0
        self._checked_s = 0.0
        self._cancelled = False

    def start(self, request_id: str) -> None:
        self._request_id = request_id
        self._started_s = time.perf_counter()
        self._checked_s = 0.0
        self._cancelled = False

    def stop(self) -> None:
        self._request_id = ""

    def elapsed_s(self) -> float:
        return time.perf_counter() - self._started_s

    def next_held(self) -> Message | None:
        return self._held.popleft() if self._held else None

    def __call__(self) -> bool:
        now_s = time.perf_counter()
        if self._cancelled or not self._request_id or now_s - self._checked_s < self._interval_s:
            return self._cancelled
        self._checked_s = now_s
        while (received := self._receiver.receive(timeout_ms=0)) is not None:
            message = received.message
            if isinstance(message, CancelRequest):
                if message.request_id == self._request_id:
                    self._cancelled = True
                continue  # a cancel of anything else came too late: nothing to stop
            self._held.append(message)
        return self._cancelled


def _injected_load_fault() -> None:
    """The test hook ``LOAD_FAULT_ENV`` (see above); nothing when it is not set."""
    raw = os.environ.get(LOAD_FAULT_ENV)
    if not raw:
        return
    import json

    from pipeline.errors import BackendError

    fault = json.loads(raw)
    with open(fault["counter"], "ab") as counter:
        counter.write(b".")
        attempt = counter.tell()
    time.sleep(float(fault.get("delay_s", 0.0)))
    if attempt <= int(fault.get("fail_times", 0)):
        raise BackendError(f"injected load failure {attempt} of {fault['fail_times']}")


def _injected_request_delay_s() -> float:
    """The ``request_delay_s`` of the test hook ``LOAD_FAULT_ENV``; 0 when it is not set."""
    raw = os.environ.get(LOAD_FAULT_ENV)
    if not raw:
        return 0.0
    import json

    return float(json.loads(raw).get("request_delay_s", 0.0))
