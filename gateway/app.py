"""The aiohttp application: the page, the two audio WebSockets, ``/metrics`` and ``/healthz``.

aiohttp serves HTTP and WebSockets from one maintained asyncio library (its own frame-size limit,
close codes and handshake checks), and its client doubles as the command-line client and the
test client, so the gateway adds one runtime dependency besides the Prometheus client.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from gateway.connection import GatewayState, close, serve_audio
from gateway.daemon_link import DaemonLink
from gateway.dialects import DeepgramDialect, StreamDialect, deepgram_start
from gateway.options import GatewayOptions
from gateway.prom import GatewayMetrics
from gateway.protocol import (
    CLOSE_BAD_DATA,
    CLOSE_BAD_START,
    CLOSE_TRY_LATER,
    ProtocolError,
    parse_start,
)
from gateway.security import TOKEN_SUBPROTOCOL, ConnectionCounter, check_origin, check_token
from gateway.session import StreamSlot

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
STATE = web.AppKey("state", GatewayState)
OPTIONS = web.AppKey("options", GatewayOptions)
CONNECTIONS = web.AppKey("connections", ConnectionCounter)
METRICS = web.AppKey("metrics", GatewayMetrics)


def make_app(options: GatewayOptions) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    link = DaemonLink(
        options.control_endpoint, options.transcript_endpoint, options.status_interval_s
    )
    state = GatewayState(link, StreamSlot(), options.limits, open_streams=options.open_streams)
    connections = ConnectionCounter(options.limits.max_connections)
    app[STATE] = state
    app[OPTIONS] = options
    app[CONNECTIONS] = connections
    app[METRICS] = GatewayMetrics(state, connections)
    app.router.add_get("/", page)
    app.router.add_static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False)
    app.router.add_get("/v1/stream", stream_socket)
    app.router.add_get("/v1/listen", listen_socket)
    app.router.add_get("/v1/status", daemon_status)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
    return app


async def _start(app: web.Application) -> None:
    state = app[STATE]
    await state.link.start()
    state.link.listen(app[METRICS].observe)


async def _stop(app: web.Application) -> None:
    await app[STATE].link.close()


async def page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


async def healthz(request: web.Request) -> web.Response:
    healthy, why = request.app[STATE].link.health()
    return web.Response(status=200 if healthy else 503, text=why + "\n")


async def metrics(request: web.Request) -> web.Response:
    refusal = _refusal(request)  # with a token set, scrapers send it (Authorization: Bearer X)
    if refusal is not None:
        return refusal
    body = request.app[METRICS].render()
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


async def daemon_status(request: web.Request) -> web.Response:
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    link = request.app[STATE].link
    status = link.fresh_status()
    healthy, why = link.health()
    return web.json_response(
        {
            "daemon": status,
            "health": {"ok": healthy, "detail": why},
            "gateway": {
                "connections": request.app[CONNECTIONS].open,
                "stream_holder": request.app[STATE].slot.holder,
                "counters": request.app[STATE].counters,
                "transcript_messages": link.received,
            },
        }
    )


def _refusal(request: web.Request) -> web.Response | None:
    """An HTTP refusal before any upgrade: a missing token (401) or a foreign Origin (403)."""
    options = request.app[OPTIONS]
    why = check_token(options, request)
    if why:
        return web.Response(status=401, text=why + "\n")
    why = check_origin(options, request)
    if why:
        return web.Response(status=403, text=why + "\n")
    return None


async def _open_socket(request: web.Request) -> web.WebSocketResponse | web.Response:
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    limits = request.app[OPTIONS].limits
    ws = web.WebSocketResponse(
        max_msg_size=limits.max_frame_bytes,
        protocols=(TOKEN_SUBPROTOCOL,),
        timeout=2.0,
        receive_timeout=None,
        autoping=True,
    )
    await ws.prepare(request)
    return ws


async def _serve_connection(
    request: web.Request, serve: Callable[[web.WebSocketResponse, GatewayState], Awaitable[None]]
) -> web.StreamResponse:
    """One WebSocket endpoint's frame: the refusals, the connection limit, then ``serve``."""
    ws = await _open_socket(request)
    if not isinstance(ws, web.WebSocketResponse):
        return ws
    connections = request.app[CONNECTIONS]
    if not connections.enter():
        await close(ws, CLOSE_TRY_LATER, f"over {connections.limit} connections")
        return ws
    try:
        await serve(ws, request.app[STATE])
    finally:
        connections.leave()
    return ws


async def stream_socket(request: web.Request) -> web.StreamResponse:
    """``/v1/stream``: our JSON start message, then audio."""

    async def serve(ws: web.WebSocketResponse, state: GatewayState) -> None:
        try:
            message = await ws.receive(timeout=state.limits.start_timeout_s)
        except asyncio.TimeoutError:
            await close(ws, CLOSE_BAD_START, "no start message")
            return
        if message.type != web.WSMsgType.TEXT:
            await close(ws, CLOSE_BAD_DATA, "the first message must be the JSON start message")
            return
        try:
            start = parse_start(message.data)
        except ProtocolError as e:
            await close(ws, e.code, e.reason)
            return
        status = state.link.fresh_status() or {}
        dialect = StreamDialect(start, status.get("profile", ""), state.open_streams)
        await serve_audio(ws, state, start, dialect)

    return await _serve_connection(request, serve)


async def listen_socket(request: web.Request) -> web.StreamResponse:
    """``/v1/listen``: the Deepgram live shape, options in the query string."""

    async def serve(ws: web.WebSocketResponse, state: GatewayState) -> None:
        try:
            start, dg_options = deepgram_start(dict(request.query))
        except ProtocolError as e:
            await close(ws, e.code, e.reason)
            return
        status = state.link.fresh_status() or {}
        model = f"{status.get('backend', 'whisper')}-local"
        await serve_audio(ws, state, start, DeepgramDialect(dg_options, model))

    return await _serve_connection(request, serve)


def ssl_context(options: GatewayOptions) -> ssl.SSLContext | None:
    if not options.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(options.tls_cert, options.tls_key)
    return context


async def serve(options: GatewayOptions, ready: asyncio.Event | None = None) -> None:
    """Run the gateway until cancelled; ``ready`` is set once it listens."""
    app = make_app(options)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.port, ssl_context=ssl_context(options))
    await site.start()
    scheme = "https" if options.tls_cert else "http"
    logger.info("gateway on %s://%s:%d", scheme, options.host, options.port)
    if ready is not None:
        ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
