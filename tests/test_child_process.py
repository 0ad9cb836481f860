"""Children start with the spawn context, log their role and pid, and stop gracefully or by force."""

from __future__ import annotations

import signal

from workers.child_process import ChildProcess, ChildSpec


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
    ready = tmp_path / "ready.txt"
    child = ChildProcess(
        ChildSpec(
            role="stubborn",
            entry_module="tests.child_entries",
            settings={"action": "ignore_term", "path": str(ready)},
        )
    )
    child.start()
    for _ in range(300):
        if ready.exists():
            break
        child.join(0.1)
    assert ready.exists(), "child did not start"
    exitcode = child.stop(grace_s=0.2)
    assert exitcode == -signal.SIGKILL
    assert not child.is_alive()


def test_kill_reaches_a_stopped_child(tmp_path) -> None:
    ready = tmp_path / "ready.txt"
    child = ChildProcess(
        ChildSpec(
            role="sleeper",
            entry_module="tests.child_entries",
            settings={"action": "sleep", "path": str(ready)},
        )
    )
    child.start()
    for _ in range(300):
        if ready.exists():
            break
        child.join(0.1)
    child.signal(signal.SIGSTOP)
    child.kill()
    assert child.exitcode == -signal.SIGKILL
