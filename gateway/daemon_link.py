"""The gateway's link to the daemon: its status (polled) and its transcript topic (fanned out).

One SUB socket serves every connection: each message is handed to the listeners registered
with ``listen`` (a listener must not block; sessions put messages on their own queue).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import zmq
import zmq.asyncio

from pipeline.messages import (
    FrameRejected,
    GapEvent,
    Message,
    Metrics,
    SpeechEvent,
    StatusReply,
    StatusRequest,
    TranscriptFinal,
    TranscriptPartial,
    decode,
    encode,
)
from pipeline.sources.source_spec import SourceSpec, parse_source_spec

logger = logging.getLogger(__name__)

TOPICS = (TranscriptFinal, TranscriptPartial, SpeechEvent, GapEvent, Metrics)
STATUS_TIMEOUT_S = 2.0  # one status request's wait
STALE_STATUS_S = 5.0  # a status older than this says the daemon is not answering
REQUEST_TIMEOUT_S = 10.0  # stream.open starts a capture and a VAD: it may take a while
LIVE_STATES = ("running",)  # capture and VAD rows
WORKER_LIVE_STATES = ("ready", "busy")

Listener = Callable[[Message, float], None]  # (message, time.time() at arrival)


class DaemonLink:
    """Status and transcripts of one daemon, for every connection of the gateway."""

    def __init__(
        self, control_endpoint: str, transcript_endpoint: str, status_interval_s: float = 1.0
    ) -> None:
        self.control_endpoint = control_endpoint
        self.transcript_endpoint = transcript_endpoint
        self.status_interval_s = status_interval_s
        self.context = zmq.asyncio.Context()
        self.status: dict[str, Any] | None = None
        self.status_at_s = 0.0  # time.monotonic() of the last answer
        self.status_error = "no status yet"
        self.received: dict[str, int] = {}  # transcript messages by kind
        self.rejected = 0
        self._listeners: set[Listener] = set()
        self._tasks: list[asyncio.Task] = []
        self._status_changed = asyncio.Event()

    # ---- life ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._poll_status(), name="daemon-status"),
            asyncio.create_task(self._subscribe(), name="daemon-transcripts"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.context.destroy(linger=0)

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Hand every transcript message to ``listener``; returns the call that stops it."""
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    async def request(
        self, message: Message, timeout_s: float = REQUEST_TIMEOUT_S
    ) -> Message | None:
        """One control request (``stream.open``, ``stream.close``); its answer or None."""
        socket = self.context.socket(zmq.REQ)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(self.control_endpoint)
        try:
            await socket.send(encode(message))
            if not await socket.poll(int(timeout_s * 1000)):
                return None
            return decode(await socket.recv())
        except FrameRejected as e:
            logger.warning("bad answer to %s: %s", message.kind, e)
            return None
        finally:
            socket.close(linger=0)

    async def wait_for_status(self, timeout_s: float) -> dict[str, Any] | None:
        """The daemon's status, waiting up to ``timeout_s`` for a first answer."""
        deadline = time.monotonic() + timeout_s
        while self.fresh_status() is None and time.monotonic() < deadline:
            self._status_changed.clear()
            try:
                await asyncio.wait_for(self._status_changed.wait(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                break
        return self.fresh_status()

    # ---- what the gateway asks ----------------------------------------------------------

    def fresh_status(self) -> dict[str, Any] | None:
        if self.status is None or time.monotonic() - self.status_at_s > STALE_STATUS_S:
            return None
        return self.status

    def push_stream(self) -> tuple[str, SourceSpec] | None:
        """The daemon's push endpoint and its stream's format, or None (not a push source)."""
        status = self.fresh_status()
        if status is None or "push" not in status.get("endpoints", {}):
            return None
        return status["endpoints"]["push"], parse_source_spec(status["source"])

    def health(self) -> tuple[bool, str]:
        """Live when capture, VAD and at least one worker are; else False and the reason."""
        status = self.fresh_status()
        if status is None:
            return False, f"the daemon does not answer: {self.status_error}"
        rows = {row["role"]: row for row in status.get("processes", [])}
        for role in ("capture", "vad"):
            state = rows.get(role, {}).get("state", "absent")
            if state not in LIVE_STATES:
                return False, f"{role} is {state}"
        workers = [
            row
            for row in rows.values()
            if row["role"] not in ("capture", "vad") and row["state"] in WORKER_LIVE_STATES
        ]
        if not workers:
            return False, "no worker is ready"
        if status.get("stopping"):
            return False, "the daemon is stopping"
        return True, f"capture, vad and {len(workers)} worker(s) live"

    # ---- loops --------------------------------------------------------------------------

    async def _poll_status(self) -> None:
        while True:
            socket = self.context.socket(zmq.REQ)
            socket.setsockopt(zmq.LINGER, 0)
            socket.connect(self.control_endpoint)
            try:
                while True:
                    await socket.send(encode(StatusRequest()))
                    if not await socket.poll(int(STATUS_TIMEOUT_S * 1000)):
                        self.status_error = f"no answer within {STATUS_TIMEOUT_S} s"
                        break  # a REQ that lost its answer is stuck: a new socket
                    reply = decode(await socket.recv())
                    if isinstance(reply, StatusReply):
                        self.status = dict(reply.status)
                        self.status_at_s = time.monotonic()
                        self.status_error = ""
                        self._status_changed.set()
                    await asyncio.sleep(self.status_interval_s)
            except FrameRejected as e:
                self.status_error = f"bad status reply: {e}"
            except asyncio.CancelledError:
                raise
            except Exception as e:  # keep polling whatever happened
                logger.exception("status poll failed")
                self.status_error = f"{type(e).__name__}: {e}"
            finally:
                socket.close(linger=0)
            await asyncio.sleep(self.status_interval_s)

    async def _subscribe(self) -> None:
        socket = self.context.socket(zmq.SUB)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.RCVHWM, 10_000)
        for message_type in TOPICS:
            socket.setsockopt(zmq.SUBSCRIBE, message_type.kind.encode())
        socket.connect(self.transcript_endpoint)
        try:
            while True:
                parts = await socket.recv_multipart()
                arrived_s = time.time()
                try:
                    if len(parts) != 2:
                        raise FrameRejected("frames", f"{len(parts)} parts")
                    message = decode(parts[1])
                except FrameRejected as e:
                    self.rejected += 1
                    logger.warning("transcript frame rejected: %s", e)
                    continue
                self.received[message.kind] = self.received.get(message.kind, 0) + 1
                for listener in list(self._listeners):
                    try:
                        listener(message, arrived_s)
                    except Exception:
                        logger.exception("a transcript listener failed")
        finally:
            socket.close(linger=0)
