"""Private by default, on the real daemon: TCP without CURVE keys (loopback included) refuses to
start with a clear message; under umask 022 every file, socket and directory the daemon creates
is private (files 0600, directories 0700), and so are the CURVE keys ``keys generate`` writes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import bus
from pipeline.errors import BusError
from tests.daemon_harness import DaemonRun, process_row, shm_segments_of
from tests.data_paths import DATA_DIR, REPO_ROOT

HARVARD = DATA_DIR / "harvard_list72_8k.wav"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_tcp_without_keys_is_refused(host: str) -> None:
    with pytest.raises(BusError, match="requires CURVE keys") as refused:
        bus.tcp_endpoints(host, 47800, curve_keys_dir="")
    assert "a loopback address" in str(refused.value)
    assert "keys generate" in str(refused.value)


def test_the_daemon_refuses_loopback_tcp_without_keys() -> None:
    run = DaemonRun(
        "--source",
        f"file:{HARVARD}",
        "--set",
        "outputs.transport=tcp",
        "--set",
        "outputs.tcp_host=127.0.0.1",
        "--set",
        "outputs.tcp_base_port=47940",
    ).start()
    try:
        assert run.wait(60) == 2
        log = run.log()
        assert "requires CURVE keys" in log and "curve_keys_dir" in log, log[-2000:]
        assert "Traceback" not in log
        assert not list(run.runtime_dir.glob("t.finals*")), "refused before the journal opened"
    finally:
        run.cleanup()


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_everything_the_daemon_creates_is_private_under_umask_022(tmp_path: Path) -> None:
    journal = tmp_path / "new" / "journal" / "t.finals.jsonl"
    keys = tmp_path / "keys"
    previous = os.umask(0o022)
    try:
        generated = subprocess.run(
            [sys.executable, str(REPO_ROOT / "run.py"), "keys", "generate", str(keys)],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
        )
        run = DaemonRun(
            "--source",
            f"file:{HARVARD}",
            "--pace",
            "realtime",
            "--set",
            f"outputs.journal_path={journal}",
        ).start()
    finally:
        os.umask(previous)
    try:
        assert generated.returncode == 0, generated.stderr
        for path in [keys, *keys.rglob("*")]:
            assert _mode(path) == (0o700 if path.is_dir() else 0o600), path
        run.wait_for(lambda s: process_row(s, "asr-1")["state"] == "ready", 120, "a ready worker")
        created = [p for p in run.runtime_dir.iterdir() if p.name != "t.log"]  # the test's log
        names = {p.name for p in created}
        assert {"t.pid", "t.control", "t.transcript", "t.work"} <= names, names
        for path in created:
            kind = os.lstat(path).st_mode
            if stat.S_ISDIR(kind):
                assert _mode(path) == 0o700, path
            else:
                assert _mode(path) & 0o077 == 0, f"{path.name} is {_mode(path):04o}"
        for directory in (journal.parent.parent, journal.parent):
            assert _mode(directory) == 0o700, directory
        for path in journal.parent.iterdir():
            assert _mode(path) == 0o600, path
        assert {p.name for p in journal.parent.iterdir()} >= {journal.name, journal.name + ".seq"}
        segments = shm_segments_of(run.pid)
        assert segments
        for name in segments:
            assert _mode(Path("/dev/shm") / name) == 0o600, name
    finally:
        run.cleanup()
