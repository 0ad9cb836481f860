"""The gateway as a child process of the daemon (``daemon --http HOST:PORT``): the entry module
``workers.gateway_child`` names, run by the daemon's child bootstrap with plain settings.

Besides serving, the child beats like the daemon's other children: a ``Heartbeat`` (role
``gateway``) on the daemon's events socket every ``heartbeat_interval_s``, sent from a task of
the same asyncio loop that serves the clients, so a stalled loop (or a stopped process) goes
silent and the daemon restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

import psutil
import zmq

from gateway.app import serve
from gateway.options import GatewayOptions
from pipeline.bus.frames import send_message
from pipeline.bus.sockets import open_socket
from pipeline.errors import BusError
from pipeline.messages.work import Heartbeat

logger = logging.getLogger(__name__)

ROLE = "gateway"


def main(settings: dict[str, Any]) -> None:
    """Serve until killed (the daemon stops it with SIGTERM, or it dies with the daemon)."""
    options = GatewayOptions(
        host=settings["host"],
        port=int(settings["port"]),
        token=settings.get("token", ""),
        control_endpoint=settings["control_endpoint"],
        transcript_endpoint=settings["transcript_endpoint"],
        open_streams=bool(settings.get("open_streams", False)),
    )
    logger.info(
        "gateway for daemon %r on %s:%d", settings.get("instance"), options.host, options.port
    )
    asyncio.run(_serve_and_beat(options, settings))


async def _serve_and_beat(options: GatewayOptions, settings: dict[str, Any]) -> None:
    endpoint = settings.get("events_endpoint", "")
    beat = asyncio.create_task(_beat(endpoint, float(settings["heartbeat_interval_s"])))
    try:
        await serve(options)
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat


async def _beat(endpoint: str, interval_s: float) -> None:
    """Send a heartbeat every ``interval_s`` (never blocks: a beat without room is dropped)."""
    if not endpoint:
        return
    context = zmq.Context()
    socket = open_socket(context, zmq.PUSH, endpoint, bind=False)
    process = psutil.Process(os.getpid())
    try:
        while True:
            try:
                beat = Heartbeat(role=ROLE, pid=os.getpid(), rss_bytes=process.memory_info().rss)
                send_message(socket, beat, block=False)
            except (BusError, zmq.ZMQError, psutil.Error) as e:
                logger.warning("heartbeat not sent: %s", e)
            await asyncio.sleep(interval_s)
    finally:
        socket.close(linger=0)
        context.term()
