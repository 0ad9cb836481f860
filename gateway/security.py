"""Who may connect: the token, the browser Origin, and the connection count."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from aiohttp import web

from gateway.options import GatewayOptions

TOKEN_SUBPROTOCOL = "token"  # Sec-WebSocket-Protocol: token, SECRET (browsers cannot set headers)


def offered_token(request: web.Request) -> str:
    """The token a request carries: ``Authorization: Token X`` / ``Bearer X``, or the
    subprotocol pair ``token, X``."""
    authorization = request.headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() in ("token", "bearer") and value.strip():
        return value.strip()
    protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if TOKEN_SUBPROTOCOL in protocols:
        index = protocols.index(TOKEN_SUBPROTOCOL)
        if index + 1 < len(protocols):
            return protocols[index + 1]
    return ""


def check_token(options: GatewayOptions, request: web.Request) -> str:
    """ "" when the request may go on, else why not."""
    if not options.token:
        return ""
    offered = offered_token(request)
    if not offered:
        return "a token is required (Authorization: Token X, or subprotocols 'token, X')"
    if not hmac.compare_digest(offered.encode(), options.token.encode()):
        return "wrong token"
    return ""


def check_origin(options: GatewayOptions, request: web.Request) -> str:
    """Browsers send Origin: it must be this gateway's own or one allowed; other clients
    (no Origin header) pass."""
    origin = request.headers.get("Origin")
    if origin is None:
        return ""
    if origin in options.allowed_origins:
        return ""
    parts = urlsplit(origin)
    if parts.netloc and parts.netloc == request.host:
        return ""
    return f"origin {origin!r} is not allowed (only this gateway's page, or --allow-origin)"


class ConnectionCounter:
    """Open WebSocket connections, bounded."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.refused = 0

    def enter(self) -> bool:
        if self.open >= self.limit:
            self.refused += 1
            return False
        self.open += 1
        return True

    def leave(self) -> None:
        self.open -= 1


class RateLimit:
    """A token bucket: ``rate_per_s`` messages sustained, bursts of ``burst_s`` seconds' worth."""

    def __init__(self, rate_per_s: float, burst_s: float = 2.0) -> None:
        self.rate_per_s = rate_per_s
        self.capacity = rate_per_s * burst_s
        self.tokens = self.capacity
        self.last_s: float | None = None

    def allow(self, now_s: float) -> bool:
        if self.last_s is not None:
            self.tokens = min(self.capacity, self.tokens + (now_s - self.last_s) * self.rate_per_s)
        self.last_s = now_s
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True
