"""The daemon speaks the systemd notify protocol on a real AF_UNIX datagram socket."""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pipeline.supervision.sd_notify import ServiceNotifier, watchdog_interval_s
from tests.daemon_harness import DaemonRun
from tests.data_paths import DATA_DIR

HARVARD = DATA_DIR / "harvard_list72_8k.wav"


def _datagrams(server: socket.socket) -> list[dict[str, str]]:
    received = []
    while True:
        try:
            payload = server.recv(4096)
        except BlockingIOError:
            return received
        fields = dict(line.split("=", 1) for line in payload.decode().splitlines() if line)
        received.append(fields)


def test_watchdog_interval_is_half_of_what_systemd_asks_for_this_pid() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "4000000"}, pid=7) == 2.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "7"}, pid=7) == 2.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "8"}, pid=7) is None
    assert watchdog_interval_s({}, pid=7) is None
    assert not ServiceNotifier({}).enabled  # no NOTIFY_SOCKET: nothing to do, nothing sent
    assert not ServiceNotifier({}).notify(READY=1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux's")
def test_abstract_namespace_socket() -> None:
    name = f"streamscribe-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(b"\0" + name.encode())
    server.setblocking(False)
    notifier = ServiceNotifier({"NOTIFY_SOCKET": f"@{name}", "WATCHDOG_USEC": "1000000"})
    try:
        notifier.step(0.0, ready=True, status="1/1 workers ready")
        notifier.step(0.1, ready=True, status="1/1 workers ready")  # nothing due
        notifier.step(0.6, ready=True, status="1/1 workers ready")  # watchdog due (0.5 s)
        notifier.stopping("signal SIGTERM")  # the caller words it
        time.sleep(0.1)
        got = _datagrams(server)
        assert got == [
            {"READY": "1", "STATUS": "1/1 workers ready", "WATCHDOG": "1"},
            {"WATCHDOG": "1"},
            {"STOPPING": "1", "STATUS": "signal SIGTERM"},
        ]
    finally:
        notifier.close()
        server.close()


def test_the_real_daemon_sends_ready_watchdog_and_stopping() -> None:
    directory = Path(tempfile.mkdtemp(prefix="ss", dir="/tmp"))
    path = directory / "notify"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.setblocking(False)
    saved = {name: os.environ.get(name) for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    os.environ.update({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1000000"})
    try:
        run = DaemonRun(
            "--source", f"file:{HARVARD}", "--pace", "realtime", "--workers", "1"
        ).start()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    try:
        received: list[dict[str, str]] = []
        deadline = time.monotonic() + 120
        while not any("READY" in d for d in received) and time.monotonic() < deadline:
            assert run.process.poll() is None, run.log()[-3000:]
            received += _datagrams(server)
            time.sleep(0.1)
        time.sleep(2.0)  # a watchdog every 0.5 s meanwhile
        run.stop()  # SIGTERM
        received += _datagrams(server)
        ready = next(i for i, d in enumerate(received) if d.get("READY") == "1")
        stopping = next(i for i, d in enumerate(received) if d.get("STOPPING") == "1")
        watchdogs = [i for i, d in enumerate(received) if d.get("WATCHDOG") == "1"]
        assert ready < stopping
        assert len([i for i in watchdogs if ready <= i < stopping]) >= 3, received
        assert "workers ready" in received[ready].get("STATUS", ""), received[ready]
        assert "SIGTERM" in received[stopping]["STATUS"]
    finally:
        run.cleanup()
        server.close()
        path.unlink(missing_ok=True)
        directory.rmdir()
