"""One audio WebSocket, whatever its dialect: the receive loop, the send loop, the limits.

A dialect (``/v1/stream``'s or the Deepgram-shaped ``/v1/listen``) says how daemon messages are
written and what its text messages mean; everything else is here and shared: the bounded send
queue (a client that stops reading is closed, never waited for), the message-rate limit, whole
samples per frame, the silence timeout, the end (the client's speech is closed in the daemon
and the last finals are waited for) and the close with a code and a reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from gateway.daemon_link import DaemonLink
from gateway.options import Limits
from gateway.protocol import (
    CLOSE_BAD_DATA,
    CLOSE_DONE,
    CLOSE_POLICY,
    CLOSE_SILENT,
    CLOSE_TOO_BIG,
    StartMessage,
)
from gateway.security import RateLimit
from gateway.session import Outgoing, SessionError, StreamSession, StreamSlot

logger = logging.getLogger(__name__)

SEND_TIMEOUT_S = 5.0  # one message to a client; longer: it has stopped reading
CLOSE_TIMEOUT_S = 2.0  # the closing handshake
CLIENT_GONE = -1  # the client closed first: nothing more can be sent


class Dialect(Protocol):
    """How a protocol writes daemon messages and reads the client's text messages."""

    def ready(self, session: StreamSession) -> list[dict[str, Any]]: ...

    def encode(self, item: Outgoing, session: StreamSession) -> list[dict[str, Any]]: ...

    def on_text(self, text: str) -> str:
        """``"stop"`` (end of audio), ``"finalize"`` (end the speech now, go on),
        ``"keepalive"``, or ``""`` (ignored)."""
        ...

    def closing(self, session: StreamSession, audio_s: float) -> list[dict[str, Any]]: ...


@dataclass
class GatewayState:
    """What every connection shares."""

    link: DaemonLink
    slot: StreamSlot
    limits: Limits
    counters: dict[str, int] = field(default_factory=dict)
    open_streams: bool = False  # each connection opens a stream of its own (stream.open)

    def count(self, name: str, by: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by


async def close(ws: web.WebSocketResponse, code: int, reason: str) -> None:
    if ws.closed:
        return
    try:
        await asyncio.wait_for(ws.close(code=code, message=reason.encode()[:120]), CLOSE_TIMEOUT_S)
    except (asyncio.TimeoutError, ConnectionError, RuntimeError):
        logger.debug("close handshake with a client did not finish")


async def serve_audio(
    ws: web.WebSocketResponse, state: GatewayState, start: StartMessage, dialect: Dialect
) -> None:
    """Run one audio connection from its start message to its close."""
    client_id = f"ws-{uuid.uuid4().hex[:12]}"
    limits = state.limits
    session = StreamSession(
        state.link, state.slot, client_id, limits.send_queue_messages, state.open_streams
    )
    try:
        await session.open(
            start.sample_format,
            start.sample_rate_hz,
            start.channels,
            start.label,
            start.profile,
            start.overrides(),
        )
    except SessionError as e:
        state.count("refused")
        await close(ws, e.code, e.reason)
        await session.close()
        return
    session.finalize_silence_ms = start.end_silence_ms()
    logger.info("client %s (%s) streams %s", client_id, start.label or "no label", start)
    bytes_per_frame = (4 if start.sample_format == "f32le" else 2) * start.channels
    audio_bytes = 0
    code, reason = CLOSE_DONE, "done"
    sender = asyncio.create_task(_send_loop(ws, session, dialect, state))
    try:
        for message in dialect.ready(session):
            await ws.send_json(message)
        code, reason, audio_bytes = await _receive_loop(ws, session, dialect, limits, start)
        if code in (CLOSE_DONE, CLIENT_GONE):
            await session.finish(limits.drain_timeout_s if code == CLOSE_DONE else 3.0)
    except SessionError as e:
        code, reason = e.code, e.reason
    except (ConnectionError, RuntimeError) as e:
        code, reason = CLIENT_GONE, str(e)
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        if code != CLIENT_GONE and not ws.closed and not session.overflowed:
            await _flush(ws, session, dialect, state)
            audio_s = audio_bytes / bytes_per_frame / start.sample_rate_hz
            for message in dialect.closing(session, audio_s):
                await _send(ws, message)
        if session.overflowed:
            code, reason = CLOSE_POLICY, "the client stopped reading its transcripts"
        await session.close()
        if code != CLIENT_GONE:
            await close(ws, code, reason)
        state.count(f"closed_{code}")
        logger.info("client %s closed: %d %s", client_id, code, reason)


async def _receive_loop(
    ws: web.WebSocketResponse,
    session: StreamSession,
    dialect: Dialect,
    limits: Limits,
    start: StartMessage,
) -> tuple[int, str, int]:
    bytes_per_frame = (4 if start.sample_format == "f32le" else 2) * start.channels
    rate = RateLimit(limits.max_messages_per_s)
    heard_s = opened_s = time.monotonic()  # last sound (a frame not all zero) or keep-alive
    audio_bytes = 0
    while True:
        left_s = limits.silence_timeout_s - (time.monotonic() - heard_s)
        if left_s <= 0:
            return CLOSE_SILENT, f"no sound for {limits.silence_timeout_s:.0f} s", audio_bytes
        try:
            message = await ws.receive(timeout=left_s)
        except asyncio.TimeoutError:
            continue
        if session.overflowed:
            return CLOSE_POLICY, "the client stopped reading its transcripts", audio_bytes
        now_s = time.monotonic()
        if now_s - opened_s > limits.max_session_s:
            return CLOSE_POLICY, f"longer than {limits.max_session_s:.0f} s", audio_bytes
        if message.type == WSMsgType.BINARY:
            if not rate.allow(now_s):
                return CLOSE_POLICY, f"over {limits.max_messages_per_s:.0f} messages/s", audio_bytes
            data = message.data
            if not data:
                return CLOSE_DONE, "done", audio_bytes  # an empty frame ends the audio
            if len(data) % bytes_per_frame:
                return (
                    CLOSE_BAD_DATA,
                    f"a frame of {len(data)} bytes is not whole {bytes_per_frame}-byte samples",
                    audio_bytes,
                )
            audio_bytes += len(data)
            await session.feed(data)  # the first frame waits for the daemon to accept it
            if data.count(0) != len(data):
                heard_s = time.monotonic()  # that wait is not the client's silence
        elif message.type == WSMsgType.TEXT:
            if not rate.allow(now_s):
                return CLOSE_POLICY, f"over {limits.max_messages_per_s:.0f} messages/s", audio_bytes
            action = dialect.on_text(message.data)
            if action == "stop":
                return CLOSE_DONE, "done", audio_bytes
            if action == "finalize":
                await session.finalize(start.finalize_silence_ms())
            if action == "keepalive":
                heard_s = now_s
        elif message.type == WSMsgType.ERROR:
            error = ws.exception()
            return CLOSE_TOO_BIG, f"bad frame: {error}", audio_bytes
        else:  # CLOSE, CLOSING, CLOSED
            return CLIENT_GONE, "the client closed", audio_bytes


async def _send_loop(
    ws: web.WebSocketResponse, session: StreamSession, dialect: Dialect, state: GatewayState
) -> None:
    while True:
        item = await session.outgoing.get()
        await _send_item(ws, item, session, dialect, state)


async def _flush(
    ws: web.WebSocketResponse, session: StreamSession, dialect: Dialect, state: GatewayState
) -> None:
    while not session.outgoing.empty() and not session.overflowed:
        await _send_item(ws, session.outgoing.get_nowait(), session, dialect, state)


async def _send_item(
    ws: web.WebSocketResponse,
    item: Outgoing,
    session: StreamSession,
    dialect: Dialect,
    state: GatewayState,
) -> None:
    for message in dialect.encode(item, session):
        if not await _send(ws, message):
            session.overflowed = True
            await close(ws, CLOSE_POLICY, "the client stopped reading its transcripts")
            return
    seq = getattr(item.message, "seq", None)
    if item.message.kind == "transcript.final" and seq is not None:
        state.count("finals_sent")


async def _send(ws: web.WebSocketResponse, message: dict[str, Any]) -> bool:
    if ws.closed:
        return False
    try:
        await asyncio.wait_for(ws.send_json(message), SEND_TIMEOUT_S)
    except asyncio.TimeoutError:
        return False
    except (ConnectionError, RuntimeError):
        return False
    return True
