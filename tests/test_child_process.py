"""Children start with the spawn context, log their role and pid, and stop gracefully or by force."""

from __future__ import annotations

import os
import signal
import time

from workers.child_process import ChildProcess, ChildSpec, reap


def test_child_runs_entry_and_exits_cleanly(tmp_path) -> None:
    marker = tmp_path / "ran.txt"
    child = ChildProcess(
        ChildSpec(
            role="probe",
            entry_module="tests.child_entries",
            settings={"action": "write", "path": str(marker)},
            environment={"STREAMSCRIBE_PROBE_ENV": "yes"},
        )
    )
    child.start()
    assert child.pid and child.pid > 0
    assert child.join(timeout_s=30.0)
    assert child.exitcode == 0
    assert marker.read_text() == f"yes {child.pid}"


def test_stop_escalates_to_sigterm_and_sigkill_for_a_stubborn_child(tmp_path) -> None:
    child = _started(tmp_path, "ignore_term")
    exitcode = child.stop(grace_s=0.2)
    assert exitcode == -signal.SIGKILL
    assert not child.is_alive()


def test_kill_reaches_a_stopped_child(tmp_path) -> None:
    child = _started(tmp_path, "sleep")
    child.signal(signal.SIGSTOP)
    child.kill(wait_s=5.0)
    assert child.exitcode == -signal.SIGKILL


def _started(tmp_path, action: str) -> ChildProcess:
    ready = tmp_path / "ready.txt"
    child = ChildProcess(
        ChildSpec(
            role=action,
            entry_module="tests.child_entries",
            settings={"action": action, "path": str(ready)},
        )
    )
    child.start()
    for _ in range(300):
        if ready.exists():
            break
        child.join(0.1)
    assert ready.exists(), "child did not start"
    return child


def _reap_until_gone(pid: int, timeout_s: float) -> float:
    """Call reap() as the supervisor's loop does; the time until ``pid`` is reaped."""
    started_s = time.monotonic()
    while time.monotonic() - started_s < timeout_s:
        reap()
        try:
            os.kill(pid, 0)  # a zombie still answers: gone means reaped
        except ProcessLookupError:
            return time.monotonic() - started_s
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} not reaped within {timeout_s} s")


def test_kill_never_waits_and_reap_collects_a_stopped_child(tmp_path) -> None:
    child = _started(tmp_path, "sleep")
    pid = child.pid
    child.signal(signal.SIGSTOP)
    started_s = time.monotonic()
    child.kill()
    assert time.monotonic() - started_s < 0.05  # signals only: no join on the caller's path
    _reap_until_gone(pid, timeout_s=5.0)
    assert child.exitcode == -signal.SIGKILL
    assert reap() == 0


def test_retire_lets_the_child_go_and_forces_it_after_the_grace(tmp_path) -> None:
    """A retired child that ignores the request and SIGTERM is SIGKILLed by reap() at its
    deadline; the caller never waited."""
    child = _started(tmp_path, "ignore_term")
    pid = child.pid
    started_s = time.monotonic()
    child.retire(grace_s=0.3, now_s=started_s)
    assert time.monotonic() - started_s < 0.05
    gone_after_s = _reap_until_gone(pid, timeout_s=10.0)
    assert 2.3 <= gone_after_s < 6.0  # grace, SIGTERM ignored for 2 s, then SIGKILL
    assert child.exitcode == -signal.SIGKILL


def test_stop_without_grace_kills_at_once_without_waiting(tmp_path) -> None:
    """``stop(0)`` on the supervisor's loop (a closing stream): SIGKILL, nothing joined, even
    for a child that ignores SIGTERM; reap() collects it."""
    child = _started(tmp_path, "ignore_term")
    pid = child.pid
    started_s = time.monotonic()
    child.stop(grace_s=0.0)
    assert time.monotonic() - started_s < 0.05
    _reap_until_gone(pid, timeout_s=5.0)
    assert child.exitcode == -signal.SIGKILL


def test_fast_exit_skips_the_interpreter_teardown(tmp_path) -> None:
    """A child with ``fast_exit`` leaves as soon as its entry returns (a recycled worker within
    its grace); the same child without it sits in its teardown (here a 5 s exit handler)."""
    gone_after_s = {}
    for fast in (True, False):
        marker = tmp_path / f"returned-{fast}.txt"
        child = ChildProcess(
            ChildSpec(
                role="teardown",
                entry_module="tests.child_entries",
                settings={"action": "slow_teardown", "path": str(marker)},
                fast_exit=fast,
            )
        )
        child.start()
        deadline_s = time.monotonic() + 60.0
        while not marker.exists() and time.monotonic() < deadline_s:
            time.sleep(0.01)
        assert marker.exists(), "child did not run"
        returned_s = time.monotonic()
        assert child.join(timeout_s=30.0)
        gone_after_s[fast] = time.monotonic() - returned_s
        assert child.exitcode == 0
    assert gone_after_s[True] < 1.5 and gone_after_s[False] >= 4.5, gone_after_s
