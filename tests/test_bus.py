"""Bus: runtime directory, endpoints, CURVE keys, socket options, send and receive."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import zmq

from pipeline import bus
from pipeline.bus import sockets as sockets_module
from pipeline.errors import BusError
from pipeline.messages import (
    Message,
    ShutdownAck,
    SpeechStarted,
    StatusReply,
    StatusRequest,
    encode,
)

RECEIVE_MS = 3000


def outputs(**overrides: object) -> SimpleNamespace:
    values = dict(
        runtime_dir="",
        transport="ipc",
        tcp_host="127.0.0.1",
        tcp_base_port=47800,
        curve_keys_dir="",
    )
    values.update(overrides)
    return SimpleNamespace(**values)


@pytest.fixture
def context():
    ctx = bus.new_context()
    yield ctx
    ctx.destroy(linger=0)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# --- runtime directory -------------------------------------------------------------------------


def test_runtime_dir_is_created_private(tmp_path: Path) -> None:
    path = bus.ensure_private_dir(tmp_path / "a" / "rt")
    assert path.is_dir() and mode_of(path) == 0o700


def test_default_runtime_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    path = bus.resolve_runtime_dir("")
    assert path == tmp_path / "streamscribe" and mode_of(path) == 0o700
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert bus.default_runtime_dir().name == f"streamscribe-{os.getuid()}"


def test_world_readable_dir_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "open"
    path.mkdir()
    os.chmod(path, 0o755)
    with pytest.raises(BusError, match=r"0755.*chmod 700"):
        bus.resolve_runtime_dir(str(path))
    assert mode_of(path) == 0o755


def test_our_default_dir_with_loose_mode_is_repaired(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    (tmp_path / "streamscribe").mkdir(mode=0o777)
    os.chmod(tmp_path / "streamscribe", 0o777)
    assert mode_of(bus.resolve_runtime_dir("")) == 0o700


def test_dir_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.getuid() == 0:
        path = tmp_path / "theirs"
        path.mkdir(mode=0o700)
        os.chown(path, 65534, 65534)
    else:
        path = Path("/usr")
    with pytest.raises(BusError, match="owned by uid"):
        bus.ensure_private_dir(path)


def test_symlink_and_file_are_refused(tmp_path: Path) -> None:
    target = bus.ensure_private_dir(tmp_path / "real")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(BusError, match="symlink"):
        bus.ensure_private_dir(tmp_path / "link")
    (tmp_path / "file").write_text("x")
    with pytest.raises(BusError, match="not a directory"):
        bus.ensure_private_dir(tmp_path / "file")


# --- endpoints -----------------------------------------------------------------------------


def test_ipc_endpoints_live_in_the_runtime_dir(tmp_path: Path) -> None:
    endpoints = bus.endpoints_from_outputs(outputs(runtime_dir=str(tmp_path / "rt")), "inst-1")
    assert tuple(endpoints.as_dict()) == bus.SOCKET_NAMES
    for name, address in endpoints.as_dict().items():
        assert address == f"ipc://{tmp_path / 'rt'}/inst-1.{name}"
    assert not endpoints.curve
    with pytest.raises(BusError, match="instance name"):
        bus.ipc_endpoints(tmp_path, "../escape")


def test_socket_path_too_long_is_a_clear_error(tmp_path: Path, context: zmq.Context) -> None:
    long_dir = tmp_path / ("d" * 110)
    with pytest.raises(BusError, match=r"ipc socket path .*dddd.* bytes"):
        bus.ipc_endpoints(long_dir)
    with pytest.raises(BusError, match="ipc socket path"):
        bus.open_socket(context, zmq.PULL, f"ipc://{long_dir}/x", bind=True)


def test_tcp_endpoints_use_consecutive_ports() -> None:
    endpoints = bus.endpoints_from_outputs(
        outputs(transport="tcp", tcp_base_port=40000, curve_keys_dir="/k")
    )
    assert endpoints.audio == "tcp://127.0.0.1:40000"
    assert endpoints.control == "tcp://127.0.0.1:40004"
    assert bus.tcp_endpoints("::1", 40000, curve_keys_dir="/k").work == "tcp://[::1]:40002"


@pytest.mark.parametrize("host", ["192.168.1.20", "0.0.0.0", "*", "example.com", "::"])
def test_non_loopback_tcp_without_keys_is_refused(host: str, context: zmq.Context) -> None:
    assert not bus.is_loopback(host)
    with pytest.raises(BusError, match="curve_keys_dir"):
        bus.endpoints_from_outputs(outputs(transport="tcp", tcp_host=host))
    with pytest.raises(BusError, match="CURVE keys are required"):
        bus.open_socket(context, zmq.PUB, "tcp://192.168.1.20:47800", bind=False)


@pytest.mark.parametrize("bind", [True, False])
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_loopback_tcp_without_keys_is_refused_by_the_socket_layer(
    host: str, bind: bool, context: zmq.Context
) -> None:
    """Not only endpoint building refuses it: ``open_socket`` itself, for a raw tcp endpoint."""
    endpoint = f"tcp://{host}:{'*' if bind else '47800'}"
    with pytest.raises(BusError, match="CURVE keys are required for a tcp socket, loopback"):
        bus.open_socket(context, zmq.PUB, endpoint, bind=bind)
    with pytest.raises(BusError, match="CURVE keys are required"):  # any socket type
        bus.open_socket(context, zmq.ROUTER, endpoint, bind=bind, options=bus.SocketOptions())


def test_non_loopback_tcp_with_keys_is_allowed(tmp_path: Path) -> None:
    endpoints = bus.tcp_endpoints("10.1.2.3", 47800, curve_keys_dir=str(tmp_path))
    assert endpoints.curve and endpoints.events == "tcp://10.1.2.3:47801"


# --- CURVE ---------------------------------------------------------------------------------


def test_generated_keys_are_private(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    written = bus.generate_keys(keys_dir)
    assert mode_of(keys_dir) == 0o700
    secrets = [p for p in written if p.name.endswith("_secret")]
    assert len(secrets) == 2 and all(mode_of(p) == 0o600 for p in secrets)
    with pytest.raises(BusError, match="refusing to overwrite"):
        bus.generate_keys(keys_dir)
    os.chmod(keys_dir / "server.key_secret", 0o644)
    with pytest.raises(BusError, match="chmod 600"):
        bus.load_server_keys(keys_dir)
    with pytest.raises(BusError, match="missing"):
        bus.load_client_keys(tmp_path / "nowhere")


def _curve_client(context: zmq.Context, endpoint: str, keys: bus.ClientKeys | None) -> bool:
    """True when a REQ with ``keys`` gets a status reply over ``endpoint``."""
    options = bus.SocketOptions(curve_client=keys)
    client = bus.open_socket(context, zmq.REQ, endpoint, bind=False, options=options)
    try:
        bus.send_message(client, StatusRequest())
        return bus.Receiver(client).receive(1500 if keys else 500) is not None
    finally:
        client.close(linger=0)


def test_curve_round_trip_on_loopback_tcp(tmp_path: Path, context: zmq.Context) -> None:
    bus.generate_keys(tmp_path / "keys")
    server_keys = bus.load_server_keys(tmp_path / "keys")
    client_keys = bus.load_client_keys(tmp_path / "keys")
    auth = bus.start_authenticator(context, server_keys)
    try:
        options = bus.SocketOptions(curve_server=server_keys)
        server = bus.open_socket(context, zmq.REP, "tcp://127.0.0.1:*", bind=True, options=options)
        endpoint = server.getsockopt_string(zmq.LAST_ENDPOINT)
        poller = bus.Receiver(server)

        def serve() -> None:
            while (got := poller.receive(3000)) is not None:
                assert isinstance(got.message, StatusRequest)
                bus.send_message(server, StatusReply({"ok": True}))

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        assert _curve_client(context, endpoint, client_keys)
        public, secret = zmq.curve_keypair()
        stranger = bus.ClientKeys(public, secret, server_keys.public)
        assert not _curve_client(context, endpoint, stranger)  # not in authorized_clients
        plain = context.socket(zmq.REQ)  # no CURVE at all (a raw socket: ours refuse to open)
        plain.setsockopt(zmq.LINGER, 0)
        plain.connect(endpoint)
        plain.send(encode(StatusRequest()))
        assert not plain.poll(500)  # the server never answers it
        plain.close(linger=0)
        thread.join(5)
        server.close(linger=0)
    finally:
        auth.stop()


# --- sockets, send, receive ------------------------------------------------------------------


def test_context_from_another_process_is_refused(
    context: zmq.Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sockets_module._CONTEXT_PIDS, context, os.getpid() + 1)
    with pytest.raises(BusError, match="new context in each process"):
        bus.open_socket(context, zmq.PUB, "inproc://x", bind=True)


def test_socket_options_are_applied(context: zmq.Context) -> None:
    options = bus.SocketOptions(high_water_mark=7, max_frame_bytes=4096)
    router = bus.open_socket(context, zmq.ROUTER, "inproc://opts", bind=True, options=options)
    assert router.getsockopt(zmq.LINGER) == 0
    assert router.getsockopt(zmq.SNDHWM) == 7 and router.getsockopt(zmq.RCVHWM) == 7
    assert router.getsockopt(zmq.MAXMSGSIZE) == 4096
    router.close()
    with pytest.raises(BusError):
        bus.SocketOptions(
            curve_server=bus.ServerKeys(b"", b""), curve_client=bus.ClientKeys(b"", b"", b"")
        )


def test_router_dealer_round_trip_and_unreachable_peer(
    tmp_path: Path, context: zmq.Context
) -> None:
    endpoint = f"ipc://{bus.ensure_private_dir(tmp_path / 'rt')}/work"
    router = bus.open_socket(context, zmq.ROUTER, endpoint, bind=True)
    dealer = bus.open_socket(context, zmq.DEALER, endpoint, bind=False, identity=b"asr-1")
    bus.send_message(dealer, ShutdownAck())
    got = bus.Receiver(router).receive(RECEIVE_MS)
    assert got is not None and got.identity == (b"asr-1",) and got.message == ShutdownAck()
    bus.send_message(router, SpeechStarted("mic", 1, 2), identity=got.identity)
    assert bus.receive_message(dealer, RECEIVE_MS).message == SpeechStarted("mic", 1, 2)
    with pytest.raises(bus.PeerUnreachable):
        bus.send_message(router, ShutdownAck(), identity=[b"gone"])
    with pytest.raises(BusError, match="identity"):
        bus.send_message(router, ShutdownAck())
    router.close()
    dealer.close()


def test_pub_sub_uses_the_kind_as_topic(context: zmq.Context) -> None:
    pub = bus.open_socket(context, zmq.PUB, "inproc://transcript", bind=True)
    sub = bus.open_socket(
        context, zmq.SUB, "inproc://transcript", bind=False, subscribe=[b"speech."]
    )
    receiver = bus.Receiver(sub)
    for _ in range(50):  # wait out the slow-joiner window
        bus.send_message(pub, SpeechStarted("mic", 0, 0))
        if receiver.receive(50) is not None:
            break
    else:
        pytest.fail("subscription never took effect")
    pub.send_multipart([b"speech.ended", bus_frame(SpeechStarted("mic", 0, 1))])
    pub.send_multipart([b"speech.started", bus_frame(SpeechStarted("mic", 0, 2))])
    got = receiver.receive(RECEIVE_MS)
    assert got is not None and got.topic == b"speech.started" and got.message.start_index == 2
    assert receiver.rejected == {"topic_mismatch": 1}
    pub.close()
    sub.close()


def test_oversize_frame_is_dropped_by_libzmq_and_the_link_recovers(
    tmp_path: Path, context: zmq.Context
) -> None:
    endpoint = f"ipc://{bus.ensure_private_dir(tmp_path / 'rt')}/events"
    options = bus.SocketOptions(max_frame_bytes=4096)
    pull = bus.open_socket(context, zmq.PULL, endpoint, bind=True, options=options)
    push = bus.open_socket(context, zmq.PUSH, endpoint, bind=False)
    receiver = bus.Receiver(pull, max_frame_bytes=4096)
    push.send(b"\x00" * 10_000)
    assert receiver.receive(300) is None  # never delivered: libzmq dropped the peer
    deadline = time.monotonic() + 5
    got = None
    while got is None and time.monotonic() < deadline:  # the PUSH reconnects by itself
        bus.send_message(push, SpeechStarted("mic", 0, 9), block=False)
        got = receiver.receive(200)
    assert got is not None and got.message == SpeechStarted("mic", 0, 9)
    assert receiver.rejected_total == 0
    push.close()
    pull.close()


def test_unexpected_kind_and_wrong_part_count_are_counted(context: zmq.Context) -> None:
    pull = bus.open_socket(context, zmq.PULL, "inproc://ev", bind=True)
    push = bus.open_socket(context, zmq.PUSH, "inproc://ev", bind=False)
    receiver = bus.Receiver(pull, accept=[SpeechStarted])
    bus.send_message(push, ShutdownAck())
    push.send_multipart([b"a", bus_frame(SpeechStarted("mic", 0, 1))])
    bus.send_message(push, SpeechStarted("mic", 0, 3))
    got = receiver.receive(RECEIVE_MS)
    assert got is not None and got.message.start_index == 3
    assert receiver.rejected == {"unexpected_kind": 1, "frames": 1} and receiver.accepted == 1
    pull.close()
    push.close()


def bus_frame(message: Message) -> bytes:
    return encode(message)
