"""The web gateway as one of the daemon's supervised children (``daemon --http HOST:PORT``,
``outputs.http``).

The gateway stays a client of the daemon (its sockets, never its code: the child's entry module
``gateway.child`` is named here as a string and imported only in the child process); the daemon
never depends on it to transcribe. Its process is watched like capture's and the VAD's: a death
is restarted by the same ``RestartPolicy`` (backoff, then a circuit breaker), and it is stopped
at shutdown. It beats on the events socket like capture (``gateway.child``: from its asyncio
loop, so a stalled loop goes silent too); a gateway silent past the heartbeat timeout (the
start-up timeout until its first beat) is killed and restarted by the same policy.

It serves the daemon's streams with ``--open-streams`` (a push stream per connection) unless
the daemon's own source is a push stream, which its clients then share, one at a time.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

from config.schema import Config
from pipeline.bus.endpoints import Endpoints, is_loopback
from pipeline.errors import ConfigError
from pipeline.messages.work import Heartbeat
from pipeline.supervision.restart_policy import RestartLimits, RestartPolicy
from workers.child_process import ChildSpec
from workers.supervised_child import SupervisedChild

logger = logging.getLogger(__name__)

GATEWAY_ROLE = "gateway"
ENTRY_MODULE = "gateway.child"  # imported in the child only (the daemon never imports gateway)
TOKEN_ENV = "STREAMSCRIBE_GATEWAY_TOKEN"
STOP_GRACE_S = 3.0  # SIGTERM, then this long before SIGKILL at shutdown


def parse_http(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as (host, port); ``ConfigError`` naming it."""
    host, sep, port_text = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        raise ConfigError(f"outputs.http {value!r}: expected HOST:PORT, e.g. 127.0.0.1:8765")
    if not is_loopback(host) and not os.environ.get(TOKEN_ENV):
        raise ConfigError(
            f"outputs.http {value!r} is not a loopback address: set ${TOKEN_ENV} so only its "
            "holders can stream audio"
        )
    return host, int(port_text)


class GatewayChild:
    """The gateway process of one daemon: started, restarted on death, stopped at shutdown."""

    def __init__(self, config: Config, instance: str, endpoints: Endpoints, log_level: str):
        host, port = parse_http(config.outputs.http)
        if endpoints.curve:
            raise ConfigError("outputs.http: the gateway reaches the daemon over ipc only")
        settings: dict[str, Any] = {
            "host": host,
            "port": port,
            "token": os.environ.get(TOKEN_ENV, ""),
            "control_endpoint": endpoints.control,
            "transcript_endpoint": endpoints.transcript,
            "open_streams": not config.capture.source.startswith("push:"),
            "instance": instance,
            "events_endpoint": endpoints.events,
            "heartbeat_interval_s": config.supervisor.heartbeat_interval_s,
        }
        self.heartbeat_timeout_s = config.supervisor.heartbeat_timeout_s
        self.startup_timeout_s = config.supervisor.startup_timeout_s
        self.address = f"http://{host}:{port}/"
        self.spec = ChildSpec(GATEWAY_ROLE, ENTRY_MODULE, settings, log_level)
        policy = RestartPolicy(RestartLimits.from_config(config.supervisor))
        self.watched = SupervisedChild(GATEWAY_ROLE, None, policy)
        self.stopping = False

    def start(self, now_s: float) -> None:
        self.watched.launch(now_s, self.spec)
        logger.info("web gateway on %s (pid %s)", self.address, self.watched.pid)

    def poll(self, now_s: float) -> str:
        """Restart a dead gateway by the policy (call every loop step); returns why it was
        restarted now ("" when nothing happened)."""
        if self.stopping or self.watched.child is None:
            return ""
        if self.watched.restart_due(now_s):
            self.start(now_s)
            return "restarted"
        if self.watched.restart_at_s is not None:
            return ""
        code = self.watched.exitcode()
        if code is not None:
            why = f"exited with {code}"
        else:
            why = self.watched.silent_why(now_s, self.heartbeat_timeout_s, self.startup_timeout_s)
            if not why:
                return ""
        self.watched.last_failure = why
        decision = self.watched.schedule_restart(why, now_s)
        logger.warning("web gateway %s; restart in %.1f s", why, decision.delay_s)
        if decision.delay_s <= 0:
            self.start(now_s)
            return "restarted"
        return ""

    def heard(self, beat: Heartbeat, now_s: float) -> None:
        """A heartbeat on the events socket: the current gateway process is alive."""
        if beat.role == GATEWAY_ROLE and beat.pid == self.watched.pid:
            self.watched.heard(now_s, beat.rss_bytes)

    def stop(self) -> None:
        """At shutdown: SIGTERM, then SIGKILL after ``STOP_GRACE_S`` (reaped by the loop)."""
        self.stopping = True
        child = self.watched.child
        if child is not None and child.is_alive():
            child.signal(signal.SIGTERM)
            child.retire(grace_s=STOP_GRACE_S, now_s=time.monotonic())

    def row(self, now_s: float) -> dict[str, Any]:
        """The gateway's line of ``status["processes"]``."""
        watched = self.watched
        return {
            "role": GATEWAY_ROLE,
            "pid": watched.pid,
            "state": watched.state(now_s),
            "uptime_s": round(now_s - watched.started_at_s, 1) if watched.alive() else 0.0,
            "restarts": watched.restarts,
            "rss_mb": round(watched.rss_bytes / 2**20, 1),
            "last_failure": watched.last_failure,
            "address": self.address,
        }


def gateway_for(
    config: Config, instance: str, endpoints: Endpoints, log_level: str
) -> GatewayChild | None:
    """The daemon's gateway child when ``outputs.http`` asks for one (not started yet); None
    otherwise. A bad address raises ``ConfigError`` before anything is spawned."""
    if not config.outputs.http:
        return None
    return GatewayChild(config, instance, endpoints, log_level)
