"""The systemd notify protocol, spoken without a systemd library.

When the service manager sets ``NOTIFY_SOCKET`` (a ``Type=notify`` unit), the daemon sends
newline-separated ``KEY=VALUE`` datagrams to that ``AF_UNIX`` socket: ``READY=1`` once it
serves, ``STATUS=...`` in words, ``WATCHDOG=1`` at half of ``WATCHDOG_USEC`` (a loop that stops
stepping stops petting, and systemd restarts the service), ``STOPPING=1`` when it begins to
stop. A name starting with ``@`` is in the abstract namespace (a leading NUL byte). Without
``NOTIFY_SOCKET`` every call does nothing, so the daemon runs the same outside systemd.

``ServiceNotifier.step`` is called from the supervisor's loop on every step; it sends only when
something is due (READY once, STATUS when it changed, WATCHDOG on its cadence).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

logger = logging.getLogger(__name__)

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV = "WATCHDOG_USEC"
WATCHDOG_PID_ENV = "WATCHDOG_PID"


def watchdog_interval_s(environ: Mapping[str, str], pid: int) -> float | None:
    """Half the watchdog period systemd asked for, or None when it asked for none (or for
    another process: ``WATCHDOG_PID`` names the pid that must pet it)."""
    usec = environ.get(WATCHDOG_USEC_ENV, "")
    owner = environ.get(WATCHDOG_PID_ENV, "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if owner and owner.isdigit() and int(owner) != pid:
        return None
    return int(usec) / 1e6 / 2


def socket_address(name: str) -> str | bytes:
    """``NOTIFY_SOCKET`` as a ``sendto`` address: ``@name`` is abstract (leading NUL)."""
    if name.startswith("@"):
        return b"\0" + name[1:].encode()
    return name


class ServiceNotifier:
    """Talks to ``NOTIFY_SOCKET`` when it is set; a no-op otherwise."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        name = environ.get(NOTIFY_SOCKET_ENV, "")
        self._address = socket_address(name) if name else None
        self._socket: socket.socket | None = None
        if self._address is not None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.setblocking(False)
        self.watchdog_interval_s = watchdog_interval_s(environ, os.getpid())
        self._ready_sent = False
        self._stopping_sent = False
        self._status = ""
        self._last_watchdog_s = float("-inf")
        self.sent = 0  # datagrams that went out
        self.failed = 0  # datagrams the socket refused

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def notify(self, **fields: str | int) -> bool:
        """Send one datagram with ``fields`` (``READY=1``, ``STATUS=...``); never raises."""
        if self._socket is None or self._address is None:
            return False
        payload = "\n".join(f"{key}={value}" for key, value in fields.items())
        try:
            self._socket.sendto(payload.encode(), self._address)
        except OSError as e:
            self.failed += 1
            logger.debug("sd_notify %s failed: %s", payload, e)
            return False
        self.sent += 1
        return True

    def step(self, now_s: float, ready: bool, status: str) -> None:
        """READY once ``ready``, STATUS when ``status`` changed, WATCHDOG when due (also while
        stopping: a drain that steps is alive)."""
        if self._socket is None:
            return
        fields: dict[str, str | int] = {}
        if ready and not self._ready_sent and not self._stopping_sent:
            fields["READY"] = 1
            self._ready_sent = True
        if status != self._status and not self._stopping_sent:
            fields["STATUS"] = status
            self._status = status
        if (
            self.watchdog_interval_s is not None
            and now_s - self._last_watchdog_s >= self.watchdog_interval_s
        ):
            fields["WATCHDOG"] = 1
            self._last_watchdog_s = now_s
        if fields:
            self.notify(**fields)

    def stopping(self, status: str) -> None:
        """STOPPING=1 (once), with why in STATUS."""
        if self._socket is None or self._stopping_sent:
            return
        self._stopping_sent = True
        self.notify(STOPPING=1, STATUS=status)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
