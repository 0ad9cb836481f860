"""The daemon's five endpoints, from the ``outputs`` settings.

ipc (default): ``ipc://<runtime_dir>/<instance>.<socket>``, in a directory only the user can
open. tcp (opt-in): ``tcp://host:port`` on ports ``tcp_base_port`` .. ``tcp_base_port + 4`` in the
order of ``SOCKET_NAMES``. Private by default: every TCP endpoint, loopback included, requires
CURVE keys (``outputs.curve_keys_dir``), since any local user can connect to a loopback port and
would otherwise read every transcript, replay the journal and shut the daemon down.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pipeline.bus.runtime_dir import check_socket_path, resolve_runtime_dir
from pipeline.errors import BusError

SOCKET_NAMES = ("audio", "events", "work", "transcript", "control")
DEFAULT_INSTANCE = "default"
_INSTANCE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


class OutputsLike(Protocol):
    """The fields of ``config.schema.OutputsConfig`` this module reads."""

    runtime_dir: str
    transport: str
    tcp_host: str
    tcp_base_port: int
    curve_keys_dir: str


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Addresses of the daemon's sockets (see DESIGN.md, "Messages and sockets")."""

    audio: str  # PUB, capture: AudioTick, CaptureEvent
    events: str  # PUSH→PULL, vad → supervisor: speech events, VadStats
    work: str  # ROUTER (supervisor) ⇄ DEALER (workers)
    transcript: str  # PUB, supervisor: transcript.*, event.speech, metrics
    control: str  # REP/ROUTER, supervisor: control requests
    curve: bool = False  # sockets must use CURVE (keys from curve_keys_dir)
    curve_keys_dir: str = ""

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in SOCKET_NAMES}


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses; False for anything else, "*" included."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def ipc_endpoints(runtime_dir: Path, instance: str = DEFAULT_INSTANCE) -> Endpoints:
    """ipc endpoints in ``runtime_dir`` (which the caller has checked); BusError if too long."""
    _check_instance(instance)
    addresses = {
        name: "ipc://" + check_socket_path(Path(runtime_dir) / f"{instance}.{name}")
        for name in SOCKET_NAMES
    }
    return Endpoints(**addresses)


def tcp_endpoints(host: str, base_port: int, *, curve_keys_dir: str) -> Endpoints:
    """tcp endpoints on ``base_port`` .. ``base_port + 4``, all with CURVE; BusError without keys
    (loopback included: any local user can reach a loopback port)."""
    if not 1 <= base_port <= 65535 - (len(SOCKET_NAMES) - 1):
        raise BusError(f"tcp_base_port {base_port} leaves no room for {len(SOCKET_NAMES)} ports")
    if not host:
        raise BusError("tcp_host is empty")
    if not curve_keys_dir:
        where = "a loopback address" if is_loopback(host) else "not a loopback address"
        raise BusError(
            f"outputs.transport = 'tcp' (tcp_host {host!r}, {where}) requires CURVE keys: any "
            "local user could otherwise read every transcript and control the daemon. Create "
            "keys with 'run.py keys generate DIR' and set outputs.curve_keys_dir = DIR, or use "
            "outputs.transport = 'ipc'"
        )
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    addresses = {
        name: f"tcp://{shown}:{base_port + offset}" for offset, name in enumerate(SOCKET_NAMES)
    }
    return Endpoints(**addresses, curve=True, curve_keys_dir=curve_keys_dir)


def endpoints_from_outputs(outputs: OutputsLike, instance: str = DEFAULT_INSTANCE) -> Endpoints:
    """The endpoints ``outputs`` describes; creates and checks the runtime directory for ipc."""
    if outputs.transport == "tcp":
        _check_instance(instance)
        return tcp_endpoints(
            outputs.tcp_host, outputs.tcp_base_port, curve_keys_dir=outputs.curve_keys_dir
        )
    if outputs.transport != "ipc":
        raise BusError(f"transport {outputs.transport!r} is not one of 'ipc', 'tcp'")
    return ipc_endpoints(resolve_runtime_dir(outputs.runtime_dir), instance)


def _check_instance(instance: str) -> None:
    if not _INSTANCE_PATTERN.match(instance):
        raise BusError(
            f"instance name {instance!r} must be 1-32 letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
