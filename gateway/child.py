"""The gateway as a child process of the daemon (``daemon --http HOST:PORT``): the entry module
``workers.gateway_child`` names, run by the daemon's child bootstrap with plain settings."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gateway.app import serve
from gateway.options import GatewayOptions

logger = logging.getLogger(__name__)


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
    asyncio.run(serve(options))
