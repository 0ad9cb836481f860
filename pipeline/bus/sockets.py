"""Contexts and sockets with the project's options applied.

Make the context inside the process that uses it (``new_context()`` after a spawn), never at
import time, and never use it across a fork: ``open_socket`` refuses a context from another pid.
Every socket gets linger 0, send/receive high-water marks (a PUB drops messages for a slow
subscriber past its HWM instead of growing memory), ``MAXMSGSIZE`` (libzmq disconnects a peer
that sends a larger frame), ``ROUTER_MANDATORY`` on ROUTER sockets and CURVE when keys are given.
A tcp endpoint without CURVE keys is refused here, loopback included (``BusError``), whoever
builds the endpoint: the socket layer itself never opens an unauthenticated tcp socket.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

import zmq

from pipeline.bus.curve import ClientKeys, ServerKeys
from pipeline.bus.runtime_dir import check_socket_path
from pipeline.errors import BusError
from pipeline.messages import DEFAULT_MAX_FRAME_BYTES

logger = logging.getLogger(__name__)

_CONTEXT_PIDS: weakref.WeakKeyDictionary[zmq.Context, int] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class SocketOptions:
    high_water_mark: int = 1000  # messages queued per peer before dropping (PUB) or blocking
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES  # larger inbound frames: peer dropped; -1: none
    linger_ms: int = 0  # close never waits for unsent messages
    curve_server: ServerKeys | None = None  # bind side of a CURVE endpoint
    curve_client: ClientKeys | None = None  # connect side of a CURVE endpoint

    def __post_init__(self) -> None:
        if self.curve_server is not None and self.curve_client is not None:
            raise BusError("a socket is either a CURVE server or a CURVE client, not both")
        if self.high_water_mark < 0:
            raise BusError(f"high_water_mark {self.high_water_mark} must be >= 0")


def new_context() -> zmq.Context:
    """A fresh ZeroMQ context owned by this process. Call it after the process has started."""
    context = zmq.Context()
    _CONTEXT_PIDS[context] = os.getpid()
    return context


def open_socket(
    context: zmq.Context,
    socket_type: int,
    endpoint: str,
    *,
    bind: bool,
    options: SocketOptions | None = None,
    subscribe: Iterable[bytes] = (),
    identity: bytes | None = None,
) -> zmq.Socket:
    """A socket of ``socket_type`` (``zmq.PUB``, ...) bound or connected to ``endpoint``.

    ``subscribe``: topic prefixes for a SUB socket (``b""`` for all). ``identity``: the routing
    id of a DEALER (e.g. the worker id), so a ROUTER can address it across reconnects.
    """
    options = options or SocketOptions()
    owner = _CONTEXT_PIDS.get(context)
    if owner is not None and owner != os.getpid():
        raise BusError(
            f"ZeroMQ context made in pid {owner} used in pid {os.getpid()}: "
            "make a new context in each process (after fork or spawn)"
        )
    if endpoint.startswith("ipc://"):
        check_socket_path(endpoint[len("ipc://") :])
    socket = context.socket(socket_type)
    try:
        _apply_options(socket, socket_type, endpoint, options, identity)
        for topic in subscribe:
            socket.setsockopt(zmq.SUBSCRIBE, topic)
        if bind:
            socket.bind(endpoint)
        else:
            socket.connect(endpoint)
    except zmq.ZMQError as e:
        socket.close(linger=0)
        action = "bind" if bind else "connect"
        raise BusError(
            f"cannot {action} a {_type_name(socket_type)} socket to {endpoint}: {e}"
        ) from e
    except BaseException:
        socket.close(linger=0)
        raise
    logger.debug(
        "%s %s %s", _type_name(socket_type), "bound to" if bind else "connected to", endpoint
    )
    return socket


def _apply_options(
    socket: zmq.Socket,
    socket_type: int,
    endpoint: str,
    options: SocketOptions,
    identity: bytes | None,
) -> None:
    socket.setsockopt(zmq.LINGER, options.linger_ms)
    socket.setsockopt(zmq.SNDHWM, options.high_water_mark)
    socket.setsockopt(zmq.RCVHWM, options.high_water_mark)
    socket.setsockopt(zmq.MAXMSGSIZE, options.max_frame_bytes)
    if endpoint.startswith("tcp://["):
        socket.setsockopt(zmq.IPV6, 1)
    if socket_type == zmq.ROUTER:
        socket.setsockopt(zmq.ROUTER_MANDATORY, 1)  # sending to a gone peer raises, not drops
        socket.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a restarted worker may reuse its id
    if identity is not None:
        socket.setsockopt(zmq.ROUTING_ID, identity)
    if options.curve_server is not None:
        socket.setsockopt(zmq.CURVE_SERVER, 1)
        socket.setsockopt(zmq.CURVE_PUBLICKEY, options.curve_server.public)
        socket.setsockopt(zmq.CURVE_SECRETKEY, options.curve_server.secret)
    elif options.curve_client is not None:
        socket.setsockopt(zmq.CURVE_SERVERKEY, options.curve_client.server_public)
        socket.setsockopt(zmq.CURVE_PUBLICKEY, options.curve_client.public)
        socket.setsockopt(zmq.CURVE_SECRETKEY, options.curve_client.secret)
    elif endpoint.startswith("tcp://"):
        # loopback too: any local user can connect to a port, and read or command the daemon
        raise BusError(
            f"{endpoint}: CURVE keys are required for a tcp socket, loopback included "
            "(SocketOptions.curve_server to bind, curve_client to connect; keys from "
            "'run.py keys generate DIR'), or use an ipc endpoint"
        )


def _type_name(socket_type: int) -> str:
    try:
        return zmq.SocketType(socket_type).name
    except ValueError:
        return str(socket_type)
