"""The message bus: runtime directory, endpoints, CURVE keys, sockets, safe send and receive."""

from pipeline.bus.curve import (
    ClientKeys,
    ServerKeys,
    generate_keys,
    load_client_keys,
    load_server_keys,
    start_authenticator,
)
from pipeline.bus.endpoints import (
    DEFAULT_INSTANCE,
    SOCKET_NAMES,
    Endpoints,
    endpoints_from_outputs,
    ipc_endpoints,
    is_loopback,
    tcp_endpoints,
)
from pipeline.bus.frames import (
    RECEIVE_REJECTION_REASONS,
    Layout,
    PeerUnreachable,
    Received,
    Receiver,
    receive_message,
    receiver_for,
    send_message,
)
from pipeline.bus.runtime_dir import (
    check_socket_path,
    default_runtime_dir,
    ensure_private_dir,
    resolve_runtime_dir,
)
from pipeline.bus.sockets import SocketOptions, new_context, open_socket

__all__ = [
    "DEFAULT_INSTANCE",
    "RECEIVE_REJECTION_REASONS",
    "SOCKET_NAMES",
    "ClientKeys",
    "Endpoints",
    "Layout",
    "PeerUnreachable",
    "Received",
    "Receiver",
    "ServerKeys",
    "SocketOptions",
    "check_socket_path",
    "default_runtime_dir",
    "endpoints_from_outputs",
    "ensure_private_dir",
    "generate_keys",
    "ipc_endpoints",
    "is_loopback",
    "load_client_keys",
    "load_server_keys",
    "new_context",
    "open_socket",
    "receive_message",
    "receiver_for",
    "resolve_runtime_dir",
    "send_message",
    "start_authenticator",
    "tcp_endpoints",
]
