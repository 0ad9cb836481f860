"""The faults of ``bench/chaos.py``: each one is done, then shown to have happened.

Every ``do_*`` function takes the running chaos (``bench/chaos.py``'s ``Chaos``: its daemon,
``pump(seconds)`` that keeps the subscriber read and status polled, ``status()``) and returns a
``FaultRecord``. ``proven`` is True only when the effect was seen: the role's pid changed and its
restart counter moved, the supervisor died of the signal and a new one answers, the journal was
reported degraded and then ok, the rejected-frame counter moved by the frames sent, ...
A chaos run whose claimed faults did not happen fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

KINDS = (
    "kill:child",
    "stop:child",
    "kill:supervisor",
    "term:supervisor",
    "replay_flood",
    "malformed",
    "slow_subscriber",
    "disk_full",
)
CHILD_REPLACE_TIMEOUT_S = 60.0  # a killed or stopped child must have a successor by then
FLOOD_REQUESTS = 40  # replay requests of one flood, all sent at once
FLOOD_MAX_COUNT = 1_000_000  # finals asked for by each
MALFORMED_FRAMES = 10_000
SLOW_WINDOW_S = 15.0  # a subscriber and a control client that stop reading, for this long
DISK_FULL_HOLD_S = 10.0  # the journal's file system stays full this long after it degraded
DEGRADE_TIMEOUT_S = 60.0  # a final must arrive (and fail to be written) by then
IN_SPEECH_WAIT_S = 15.0  # how long a SIGTERM waits for an utterance to be open


@dataclass
class FaultRecord:
    kind: str
    target: str
    wall_s: float
    proven: bool = False
    proof: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def row_of(status: dict[str, Any] | None, role: str) -> dict[str, Any]:
    for row in (status or {}).get("processes", []):
        if row.get("role") == role:
            return row
    return {}


def children_roles(status: dict[str, Any]) -> list[str]:
    return sorted(
        row["role"] for row in status.get("processes", []) if row.get("pid") and row.get("role")
    )


def wait_until(chaos: Any, predicate: Any, timeout_s: float) -> dict[str, Any] | None:
    """Pump until ``predicate(status)``; the status that satisfied it, else None."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        chaos.pump(0.25)
        status = chaos.last_status
        if status is not None and predicate(status):
            return status
    return None


def do_child_signal(chaos: Any, role: str, stop: bool) -> FaultRecord:
    """SIGKILL or SIGSTOP a child; proven when the role has a new pid and a higher restart count
    (a stopped child must be found hung by its missing heartbeats and replaced)."""
    record = FaultRecord("stop:child" if stop else "kill:child", role, chaos.wall())
    before = row_of(chaos.status(), role)
    pid, restarts = before.get("pid"), before.get("restarts", 0)
    if not pid:
        record.proof = f"{role} has no pid"
        return record
    os.kill(int(pid), signal.SIGSTOP if stop else signal.SIGKILL)
    after = wait_until(
        chaos,
        lambda s: (
            row_of(s, role).get("pid") not in (None, pid)
            and row_of(s, role).get("restarts", 0) > restarts
        ),
        CHILD_REPLACE_TIMEOUT_S,
    )
    if stop:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGCONT)  # normally long dead
    if after is None:
        record.proof = f"{role} pid {pid} not replaced within {CHILD_REPLACE_TIMEOUT_S:.0f} s"
        return record
    new = row_of(after, role)
    record.proven = True
    record.proof = f"pid {pid} -> {new['pid']}, restarts {restarts} -> {new['restarts']}"
    record.details = {"old_pid": pid, "new_pid": new["pid"], "replaced_after_s": 0.0}
    record.details["replaced_after_s"] = round(chaos.wall() - record.wall_s, 2)
    return record


def do_kill_supervisor(chaos: Any) -> FaultRecord:
    """SIGKILL the daemon, check its children die (orphans otherwise), start it again."""
    record = FaultRecord("kill:supervisor", "supervisor", chaos.wall())
    old_pid = chaos.daemon.pid
    chaos.end_run("kill:supervisor", signal.SIGKILL)
    code = chaos.runs[-1].exit_code
    chaos.restart()
    fresh = chaos.status()
    record.proven = code == -signal.SIGKILL and fresh is not None and chaos.daemon.pid != old_pid
    record.proof = f"pid {old_pid} exit {code}; pid {chaos.daemon.pid} answers status"
    record.details = {"orphans": chaos.runs[-2].orphans}
    return record


def do_term_supervisor(chaos: Any) -> FaultRecord:
    """SIGTERM while an utterance is open (waits for one), time the exit, start again."""
    record = FaultRecord("term:supervisor", "supervisor", chaos.wall())
    deadline = time.monotonic() + IN_SPEECH_WAIT_S
    while chaos.open_segment_start_s() is None and time.monotonic() < deadline:
        chaos.pump(0.05)
    run = chaos.runs[-1]
    run.open_at_term_s = chaos.open_segment_start_s()
    status = chaos.status()
    run.audio_at_term_s = float(status["ring"]["write_s"]) if status else None
    old_pid = chaos.daemon.pid
    chaos.end_run("term:supervisor", signal.SIGTERM)
    code = run.exit_code
    chaos.restart()
    record.proven = code is not None and chaos.daemon.pid != old_pid and run.exit_wall_s is not None
    record.proof = (
        f"pid {old_pid} exit {code} after {run.exit_after_s} s "
        f"({'mid-utterance' if run.open_at_term_s is not None else 'between utterances'})"
    )
    record.details = {
        "exit_code": code,
        "exit_after_s": run.exit_after_s,
        "mid_utterance": run.open_at_term_s is not None,
        "shutdown_timeout_logged": run.shutdown_timeout_logged,
    }
    return record


def do_replay_flood(chaos: Any) -> FaultRecord:
    """``FLOOD_REQUESTS`` replays of everything at once on DEALER sockets; status is polled
    meanwhile (its latency counts in control_p99_ms); proven when replies with finals came."""
    from pipeline.messages import ReplayReply, ReplayRequest, decode, encode

    record = FaultRecord("replay_flood", "control", chaos.wall())
    sockets = []
    for _ in range(FLOOD_REQUESTS):
        sock = chaos.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(chaos.daemon.endpoint("control"))
        sock.send_multipart([b"", encode(ReplayRequest(since_seq=0, max_count=FLOOD_MAX_COUNT))])
        sockets.append(sock)
    replies = finals = 0
    started = time.monotonic()
    pending = set(range(len(sockets)))
    while pending and time.monotonic() - started < 60.0:
        chaos.pump(0.1)
        for i in list(pending):
            if sockets[i].poll(0):
                frames = sockets[i].recv_multipart()
                pending.discard(i)
                reply = decode(frames[-1])
                if isinstance(reply, ReplayReply):
                    replies += 1
                    finals += len(reply.finals)
    for sock in sockets:
        sock.close(linger=0)
    took_s = time.monotonic() - started
    record.proven = replies == FLOOD_REQUESTS and finals > 0
    record.proof = f"{replies}/{FLOOD_REQUESTS} replies, {finals} finals, in {took_s:.1f} s"
    record.details = {"replies": replies, "finals": finals, "seconds": round(took_s, 2)}
    return record


def do_malformed(chaos: Any) -> FaultRecord:
    """``MALFORMED_FRAMES`` garbage frames on the control socket; proven when the daemon's
    rejected-frame counter moved by as many and status still answers."""
    record = FaultRecord("malformed", "control", chaos.wall())
    before = (chaos.status() or {}).get("control", {}).get("rejected")
    sock = chaos.context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.connect(chaos.daemon.endpoint("control"))
    rng = chaos.rng
    for i in range(MALFORMED_FRAMES):
        garbage = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
        sock.send_multipart([b"", garbage] if i % 2 else [garbage])
        if i % 500 == 0:
            chaos.pump(0.0)
    status = wait_until(
        chaos,
        lambda s: (
            before is not None
            and s.get("control", {}).get("rejected", 0) - before >= MALFORMED_FRAMES
        ),
        30.0,
    )
    sock.close(linger=0)
    after = (chaos.last_status or {}).get("control", {}).get("rejected")
    record.proven = status is not None
    record.proof = f"control rejected {before} -> {after} after {MALFORMED_FRAMES} frames"
    return record


def do_slow_subscriber(chaos: Any) -> FaultRecord:
    """A SUB that reads one message then stops, and a control DEALER that sends requests and
    never reads the replies, for ``SLOW_WINDOW_S``; proven when the SUB got its first message
    and the daemon published finals during the window."""
    from pipeline.messages import StatusRequest, encode

    record = FaultRecord("slow_subscriber", "transcript", chaos.wall())
    sub = chaos.context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, 10)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(chaos.daemon.endpoint("transcript"))
    deaf = chaos.context.socket(zmq.DEALER)
    deaf.setsockopt(zmq.LINGER, 0)
    deaf.connect(chaos.daemon.endpoint("control"))
    got_first = False
    deadline = time.monotonic() + 30.0
    while not got_first and time.monotonic() < deadline:
        chaos.pump(0.1)
        got_first = bool(sub.poll(0))
        if got_first:
            sub.recv_multipart()
    finals_before = (chaos.status() or {}).get("metrics", {}).get("finals", 0)
    for _ in range(200):
        with contextlib.suppress(zmq.Again):
            deaf.send_multipart([b"", encode(StatusRequest())], flags=zmq.NOBLOCK)
    chaos.pump(SLOW_WINDOW_S)  # neither socket is read
    finals_after = (chaos.status() or {}).get("metrics", {}).get("finals", 0)
    sub.close(linger=0)
    deaf.close(linger=0)
    record.proven = got_first and finals_after > finals_before
    record.proof = (
        f"SUB connected ({got_first}) and unread for {SLOW_WINDOW_S:.0f} s; "
        f"finals {finals_before} -> {finals_after} meanwhile"
    )
    return record


def do_disk_full(chaos: Any, fs: Path | None, reason: str) -> FaultRecord:
    """Fill the journal's tmpfs; proven when status says the journal is degraded, then (space
    back) ok again."""
    record = FaultRecord("disk_full", "journal", chaos.wall())
    if fs is None:
        record.proof = f"skipped: {reason}"
        return record
    filler = fs / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 512)

    def journal_state(status: dict[str, Any]) -> str:
        return status.get("metrics", {}).get("journal", {}).get("state", "")

    degraded = wait_until(chaos, lambda s: journal_state(s) == "degraded", DEGRADE_TIMEOUT_S)
    if degraded is not None:
        chaos.pump(DISK_FULL_HOLD_S)
    filler.unlink()
    recovered = wait_until(chaos, lambda s: journal_state(s) == "ok", 30.0)
    record.proven = degraded is not None and recovered is not None
    record.proof = (
        f"journal degraded: {degraded is not None}"
        + (f" ({journal_reason(degraded)})" if degraded else "")
        + f"; recovered: {recovered is not None}"
    )
    return record


def journal_reason(status: dict[str, Any]) -> str:
    return str(status.get("metrics", {}).get("journal", {}).get("reason", ""))
