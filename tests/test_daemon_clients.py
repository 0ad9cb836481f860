"""Clients of a running daemon: `run.py status`, `run.py subscribe`, and the README's example."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pipeline.bus import ensure_private_dir
from tests.daemon_harness import DaemonRun
from tests.data_paths import DATA_DIR, REPO_ROOT

DICTATION = DATA_DIR / "dictation_dev.wav"


def _start_daemon():
    """A daemon named "default" under a private XDG_RUNTIME_DIR, looping the dictation."""
    xdg = ensure_private_dir(Path(tempfile.mkdtemp(prefix="ss", dir="/tmp")))
    runtime = ensure_private_dir(xdg / "streamscribe")
    run = DaemonRun(
        "--source",
        f"file:{DICTATION}",
        "--pace",
        "fast",
        "--loop",
        # at pace fast the ring holds minutes of audio nobody will wait for: SIGTERM at teardown
        # would drain the queued finals for the full 10 s default (tests/test_daemon.py tests that)
        "--set",
        "supervisor.shutdown_timeout_s=1",
        instance="default",
        runtime_dir=runtime,
    )
    run.start()
    run.wait_for(lambda s: s["metrics"]["finals"] >= 1, 120, "a first final")
    return run, xdg


@pytest.fixture(scope="module")
def daemon():
    """One daemon shared by the tests that only read from it (status, subscribe, the README's
    example): none changes its state, and each start and stop costs seconds."""
    run, xdg = _start_daemon()
    yield run, xdg
    run.cleanup()


@pytest.fixture
def own_daemon():
    """A daemon of its own, for a test that changes the daemon (its profile)."""
    run, xdg = _start_daemon()
    yield run, xdg
    run.cleanup()


def cli(xdg: Path, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(xdg)}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "run.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
    )


def test_status_text_and_json(daemon) -> None:
    _run, xdg = daemon
    text = cli(xdg, "status")
    assert text.returncode == 0, text.stderr
    for needle in ("daemon default", "asr-1", "capture", "vad", "ring", "latency p50", "control"):
        assert needle in text.stdout
    status = json.loads(cli(xdg, "status", "--json").stdout)
    roles = {row["role"] for row in status["processes"]}
    assert {"capture", "vad", "asr-1"} <= roles
    assert all(
        row["pid"] for row in status["processes"] if row["state"] in ("running", "ready", "busy")
    )
    assert status["endpoints"]["transcript"].endswith("default.transcript")
    assert status["control"]["answered"] >= 1 and status["control"]["errors"] == 0


def test_status_without_a_daemon_is_a_clear_error(tmp_path) -> None:
    xdg = ensure_private_dir(Path(tempfile.mkdtemp(prefix="ss", dir="/tmp")))
    result = cli(xdg, "status", "--timeout", "1")
    assert result.returncode == 2
    assert "no answer from the daemon" in result.stderr and "Traceback" not in result.stderr


def test_subscribe_json_replays_from_seq_and_streams(daemon) -> None:
    _run, xdg = daemon
    env = {**os.environ, "XDG_RUNTIME_DIR": str(xdg)}
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO_ROOT / "run.py"),
            "subscribe",
            "--format",
            "json",
            "--from-seq",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        records = []
        deadline = time.monotonic() + 60
        while len(records) < 4 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if line:
                records.append(json.loads(line))
        assert [r["seq"] for r in records] == list(range(len(records)))
        assert all(r["kind"] == "transcript.final" and "words" in r for r in records)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_readme_subscriber_example_runs_as_written(daemon) -> None:
    _run, xdg = daemon
    readme = (REPO_ROOT / "README.md").read_text()
    snippet = re.search(
        r"### Subscribing from your own program.*?```python\n(.*?)```", readme, re.S
    ).group(1)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(xdg)}
    process = subprocess.Popen(
        [sys.executable, "-c", snippet], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        line = ""
        deadline = time.monotonic() + 60
        while not line.strip() and time.monotonic() < deadline:
            line = process.stdout.readline()
        seq, span, *words = line.split()
        assert int(seq) >= 0 and span.endswith("s") and words
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_set_profile_restarts_the_vad_and_is_reported(own_daemon) -> None:
    from pipeline.messages import SetProfileReply, SetProfileRequest

    run, _xdg = own_daemon
    reply = run.request(SetProfileRequest(profile="low-latency"), timeout_s=30)
    assert isinstance(reply, SetProfileReply) and reply.profile == "low-latency"
    assert "vad" in reply.restarted
    status = run.wait_for(lambda s: s["profile"] == "low-latency", 30, "the new profile")
    vad = next(row for row in status["processes"] if row["role"] == "vad")
    assert vad["restarts"] == 0  # a planned restart is not a failure
    finals = status["metrics"]["finals"]
    run.wait_for(lambda s: s["metrics"]["finals"] > finals, 60, "finals after the switch")
    bad = run.request(SetProfileRequest(profile="turbo"), timeout_s=10)
    assert bad is not None and bad.kind == "control.error" and "turbo" in bad.message
