"""``daemon --http HOST:PORT``: the daemon runs the web gateway as a supervised child. A
``kill -9`` of the gateway is restarted and serves again, while the daemon's finals go on."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
import urllib.error
import urllib.request

import psutil
import pytest

from config.schema import Config
from pipeline.bus.endpoints import SOCKET_NAMES, Endpoints
from pipeline.errors import ConfigError
from pipeline.text_metrics import word_error_rate
from tests.daemon_harness import DaemonRun
from tests.data_paths import DATA_DIR
from tests.gateway_harness import free_port, reference
from workers.child_process import reap_all
from workers.daemon_status import render_status_text
from workers.gateway_child import TOKEN_ENV, GatewayChild, parse_http

pytestmark = pytest.mark.timeout(600)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


def _listener(daemon_pid: int, port: int) -> int | None:
    """The pid of the daemon's child listening on ``port`` (None: none does)."""
    for child in psutil.Process(daemon_pid).children():
        try:
            connections = child.net_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections):
            return child.pid
    return None


def _wait(predicate, timeout_s: float, what: str, daemon: DaemonRun):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; log:\n{daemon.log()[-3000:]}")


def _daemon_with_gateway(port: int, *extra: str) -> DaemonRun:
    """A started daemon on looped jfk (a live source: /healthz needs capture and VAD running)
    with its gateway on ``port``."""
    return DaemonRun(
        "--source",
        f"file:{DATA_DIR / 'jfk.flac'}",
        "--pace",
        "realtime",
        "--loop",
        "--http",
        f"127.0.0.1:{port}",
        *extra,
    ).start()


def _gateway_replaced(daemon: DaemonRun, port: int, old: int, what: str) -> int:
    """The pid of the gateway that took over from ``old`` once it serves /healthz again."""
    new = _wait(
        lambda: (pid := _listener(daemon.pid, port)) not in (None, old) and pid, 60, what, daemon
    )
    url = f"http://127.0.0.1:{port}/healthz"
    _wait(lambda: _get(url)[0] == 200, 60, "/healthz 200 again", daemon)
    return new


def test_http_addresses_are_checked(monkeypatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert parse_http("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_http("[::1]:9000") == ("::1", 9000)
    for bad in ("8765", "localhost:", "127.0.0.1:70000", ":80"):
        with pytest.raises(ConfigError, match="HOST:PORT"):
            parse_http(bad)
    with pytest.raises(ConfigError, match=TOKEN_ENV):
        parse_http("0.0.0.0:8765")
    monkeypatch.setenv(TOKEN_ENV, "secret")
    assert parse_http("0.0.0.0:8765") == ("0.0.0.0", 8765)


def test_the_gateway_child_is_restarted_after_a_kill(tmp_path) -> None:
    """The supervisor's side alone, on a real process (no daemon: /healthz answers 503)."""
    port = free_port()
    config = dataclasses.replace(
        Config(), outputs=dataclasses.replace(Config().outputs, http=f"127.0.0.1:{port}")
    )
    endpoints = Endpoints(*(f"ipc://{tmp_path}/x.{name}" for name in SOCKET_NAMES))
    child = GatewayChild(config, "x", endpoints, "WARNING")
    child.start(time.monotonic())
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        deadline = time.monotonic() + 60
        while _get(url)[0] != 503:
            assert time.monotonic() < deadline, "the gateway child did not serve"
            time.sleep(0.2)
        first = child.watched.pid
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while child.watched.pid == first or _get(url)[0] != 503:
            assert time.monotonic() < deadline, "the gateway child was not restarted"
            child.poll(time.monotonic())
            time.sleep(0.1)
        assert child.watched.restarts == 1 and "exited" in child.watched.last_failure
        assert child.row(time.monotonic())["state"] == "running"
    finally:
        child.stop()
        reap_all(10.0)
    assert child.watched.exitcode() is not None and child.poll(time.monotonic()) == ""


def test_the_daemon_supervises_its_gateway(tmp_path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    daemon = _daemon_with_gateway(port)
    try:
        _wait(lambda: _get(f"{url}/healthz")[0] == 200, 180, "/healthz 200", daemon)
        first = _wait(lambda: _listener(daemon.pid, port), 30, "the gateway's pid", daemon)
        assert _get(f"{url}/")[0] == 200
        os.kill(first, signal.SIGKILL)  # the gateway dies; the daemon goes on transcribing
        second = _gateway_replaced(daemon, port, first, "a new gateway listening")
        status = daemon.status()
        row = next(r for r in status["processes"] if r["role"] == "gateway")
        assert row["pid"] == second and row["restarts"] == 1, row
        assert "gateway" in render_status_text(status)  # run.py status shows it
        code, metrics = _get(f"{url}/metrics")
        assert code == 200 and "streamscribe_finals_total" in metrics
        # the daemon's finals were not disturbed by the gateway's death: the first pass of the
        # looped file is all there, and finals go on after the restart
        ref = reference("jfk.flac")
        deadline = time.monotonic() + 120
        while True:
            finals = daemon.journal()
            words = [w for f in finals for w in f["words"] if w["start_s"] < 11.0]
            first_pass = "".join(w["text"] for w in words)  # the file is 11.0 s long
            if finals and finals[-1]["end_s"] > 12.0:
                break
            assert time.monotonic() < deadline, (finals, daemon.log()[-3000:])
            time.sleep(0.5)
        assert word_error_rate(ref, first_pass) < 0.3, first_pass
        seqs = [f["seq"] for f in finals]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # none lost, none twice
    finally:
        daemon.cleanup()
    assert not psutil.pid_exists(second) or psutil.Process(second).status() == "zombie"


def test_a_hung_gateway_is_restarted(tmp_path) -> None:
    """The gateway beats like the other children: its beats reach the daemon (its status row
    has its memory), and a SIGSTOPped gateway falls silent and is replaced."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    daemon = _daemon_with_gateway(port, "--set", "supervisor.heartbeat_timeout_s=3")
    stopped = None
    try:
        _wait(lambda: _get(f"{url}/healthz")[0] == 200, 180, "/healthz 200", daemon)
        stopped = _wait(lambda: _listener(daemon.pid, port), 30, "the gateway's pid", daemon)

        def gateway_row() -> dict:
            return next(r for r in daemon.status()["processes"] if r["role"] == "gateway")

        _wait(lambda: gateway_row()["rss_mb"] > 10, 30, "the gateway's heartbeats", daemon)
        os.kill(stopped, signal.SIGSTOP)  # alive, but neither serving nor beating
        second = _gateway_replaced(daemon, port, stopped, "a new gateway after the hung one")
        row = gateway_row()
        assert row["pid"] == second and row["restarts"] == 1, row
        assert "silent" in row["last_failure"], row
        assert not psutil.pid_exists(stopped) or psutil.Process(stopped).status() == "zombie"
    finally:
        if stopped is not None and psutil.pid_exists(stopped):
            os.kill(stopped, signal.SIGCONT)
        daemon.cleanup()
