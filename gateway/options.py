"""The gateway's settings: where it listens, who may connect, and the limits per connection."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.bus.endpoints import is_loopback
from pipeline.errors import StreamscribeError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


class GatewayError(StreamscribeError):
    """The gateway cannot start as configured (a token missing, a certificate unreadable)."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what one client, and all of them together, may cost."""

    max_connections: int = 64  # WebSocket connections open at once; more are refused (1013)
    max_frame_bytes: int = 256 * 1024  # one binary frame (~8 s of 16 kHz s16le)
    max_messages_per_s: float = 200.0  # sustained frames per connection (a burst of 2 s allowed)
    start_timeout_s: float = 10.0  # the start message must come within this
    silence_timeout_s: float = 30.0  # a client sending nothing for this long is closed
    max_session_s: float = 4 * 3600.0  # one connection's longest life
    drain_timeout_s: float = 120.0  # after the end: longest wait for the last finals
    send_queue_messages: int = 256  # messages queued for a client that stops reading


@dataclass(frozen=True)
class GatewayOptions:
    """Where the gateway listens and which daemon it fronts."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str = ""  # required when ``host`` is not a loopback address
    tls_cert: str = ""  # PEM certificate (chain) file; with ``tls_key`` the gateway speaks TLS
    tls_key: str = ""
    allowed_origins: tuple[str, ...] = ()  # besides the gateway's own origin
    control_endpoint: str = ""
    transcript_endpoint: str = ""
    status_interval_s: float = 1.0  # how often the daemon's status is asked for
    open_streams: bool = False  # each connection opens its own push stream (stream.open);
    # off: every connection shares the daemon's --source push:... stream, one at a time
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and not self.token:
            raise GatewayError(
                f"the gateway listens on {self.host!r}, not a loopback address: set a token "
                "(--token or STREAMSCRIBE_GATEWAY_TOKEN) so only its holders can stream audio"
            )
        if bool(self.tls_cert) != bool(self.tls_key):
            raise GatewayError("TLS needs both a certificate (--tls-cert) and a key (--tls-key)")
        if not 0 <= self.port <= 65535:
            raise GatewayError(f"port {self.port} is out of range 0..65535")
