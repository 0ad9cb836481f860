"""No child outlives its supervisor, whenever the supervisor dies, and a stale worker of an
earlier daemon run can never take a slot in the next one."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.daemon_harness import DaemonRun
from tests.data_paths import DATA_DIR
from workers.bootstrap import run_child
from workers.parent_death import EXIT_PARENT_GONE

DICTATION = DATA_DIR / "dictation_dev.wav"


def _wait_for_file(path: Path, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def _gone_within(pids: list[int], timeout_s: float) -> list[int]:
    """The pids still alive (not zombies) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        time.sleep(0.05)
    return alive


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_child_whose_parent_died_before_it_started_exits_at_once(tmp_path) -> None:
    """The parent pid is the one passed at spawn: a child that finds another parent (here: the
    pid of a process that has already exited) leaves at once, instead of recording getppid()."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    marker = tmp_path / "ran.txt"
    process = multiprocessing.get_context("spawn").Process(
        target=run_child,
        args=(
            "tests.orphan_entries",
            "late",
            {"action": "sleep", "path": str(marker)},
            "WARNING",
            dead.pid,
        ),
    )
    process.start()
    process.join(30)
    assert process.exitcode == EXIT_PARENT_GONE
    assert not marker.exists(), "the entry point ran although its parent was gone"


def test_children_die_within_2_s_of_a_sigkilled_parent(tmp_path) -> None:
    path = tmp_path / "parent.pid"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from workers.bootstrap import run_child; "
            f"run_child('tests.orphan_entries', 'parent', {{'action': 'parent', 'path': {str(path)!r}}}, 'WARNING', None)",
        ],
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        _wait_for_file(path, 30)
        grandchild = int(_wait_for_file(path.with_suffix(".grandchild"), 30))
        assert _alive(grandchild)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert _gone_within([grandchild], 2.0) == []
    finally:
        parent.kill()


def test_sigkill_of_the_daemon_during_a_model_load_leaves_no_child(tmp_path) -> None:
    counter = tmp_path / "loads"
    fault = json.dumps({"counter": str(counter), "delay_s": 60})
    os.environ["STREAMSCRIBE_TEST_LOAD_FAULT"] = fault
    try:
        run = DaemonRun("--source", f"file:{DICTATION}", "--workers", "2").start()
    finally:
        del os.environ["STREAMSCRIBE_TEST_LOAD_FAULT"]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _size(counter) < 2:  # both workers are loading
            assert run.process.poll() is None, run.log()[-3000:]
            time.sleep(0.05)
        assert _size(counter) == 2, run.log()[-3000:]
        children = [c.pid for c in psutil.Process(run.pid).children(recursive=True)]
        assert len(children) >= 4, children  # capture, vad, asr-1, asr-2 (both loading)
        run.kill()
        assert _gone_within(children, 2.0) == [], run.log()[-3000:]
    finally:
        run.cleanup()
