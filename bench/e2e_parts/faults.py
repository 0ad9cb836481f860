"""The worker kill the bench claims: SIGKILL an asr worker while a final is in flight, and proof.

The fault run's daemon logs at DEBUG, so the scheduler's dispatch lines (``<request id> ->
asr-N``) say what each worker was sent; request ids name their kind (``.../c<chunk>.<attempt>``
a final chunk, ``.../w<window>.<attempt>`` a window of a long segment, ``.../p<n>e`` an early
final decoded during the hangover, ``.../p<n>`` a partial). A kill counts only when the status
and the log show it happened and what it hit:

- **in flight**: the status shows the worker busy and the last request dispatched to it is a
  final (chunk, window or early final). Without dispatch lines in the log the bench falls back
  to the scheduler's counters: busy, ``requests_sent`` grew since the previous status and
  ``partials_requested`` did not (one worker).
- **restart**: a later status shows the same role with another pid, ready or busy, and its
  ``restarts`` count above the one before the kill; ``run.py status --json`` is asked too.
- **hit a final**: the killed request is sent again (the same chunk or window dispatched with a
  higher attempt, or the scheduler's ``retries`` grew), or it was an early final (the daemon
  falls back to the regular final). A lost partial is never retried.

``KillController`` kills at most ``max_kills`` times in a run and stops after the first kill
that hit a final. ``verify`` names what did not happen, so a run whose fault is missing fails.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
DISPATCH = re.compile(r"scheduler: (\S+) -> (\S+)$")  # "<request id> -> <role>" (DEBUG)
FINAL_ID = re.compile(r"^(.*/[cw]\d+)\.(\d+)$")  # final chunk or window, with its attempt
EARLY_ID = re.compile(r"/p\d+e$")  # an early final (decoded during the hangover)
PARTIAL_ID = re.compile(r"/p\d+$")
RESTART_WAIT_S = 30.0  # a kill whose replacement is not seen ready by then did not restart


@dataclass
class Kill:
    role: str
    victim_pid: int
    killed_at_unix_s: float
    restarts_before: int
    retries_before: int | None
    partials_failed_before: int | None
    chosen_by: str  # what showed a final in flight
    in_flight_id: str | None = None  # the request the log shows the worker was on
    resent_id: str | None = None  # the same final dispatched again after the kill
    replacement_pid: int | None = None
    restarts_after: int | None = None
    ready_polled_unix_s: float | None = None
    retries_after: int | None = None
    partials_failed_after: int | None = None
    status_cli: dict[str, Any] | None = None  # what `run.py status --json` said afterwards
    replacing_logged_unix_s: float | None = None
    ready_logged_unix_s: float | None = None
    load_s: float | None = None
    resent: list[str] = field(default_factory=list)

    @property
    def restarted(self) -> bool:
        return (
            self.replacement_pid is not None
            and self.replacement_pid != self.victim_pid
            and (self.restarts_after or 0) > self.restarts_before
        )

    @property
    def hit(self) -> str:
        """final (sent again), final-early (an early final decoded in the hangover), partial, or
        none (nothing shows a lost request)."""
        if self.in_flight_id is not None and EARLY_ID.search(self.in_flight_id):
            # it counts when the segment's final was then requested again (not left lost)
            return "final-early" if self.resent_id is not None else "early-not-replaced"
        if self.resent_id is not None or any("chunk" in line for line in self.resent):
            return "final"
        if self.retries_before is not None and (self.retries_after or 0) > self.retries_before:
            return "final"
        if self.in_flight_id is not None and PARTIAL_ID.search(self.in_flight_id):
            return "partial"
        before = self.partials_failed_before
        if before is not None and (self.partials_failed_after or 0) > before:
            return "partial"
        return "none"

    def figures(self) -> dict[str, Any]:
        def since_kill(t: float | None) -> float | None:
            return None if t is None or t != t else round(t - self.killed_at_unix_s, 3)

        return {
            "role": self.role,
            "victim_pid": self.victim_pid,
            "replacement_pid": self.replacement_pid,
            "restarts_before": self.restarts_before,
            "restarts_after": self.restarts_after,
            "restarted": self.restarted,
            "killed_request": self.hit,
            "chosen_by": self.chosen_by,
            "in_flight_id": self.in_flight_id,
            "resent_id": self.resent_id,
            "restart_s": since_kill(self.ready_logged_unix_s),
            "detection_s": since_kill(self.replacing_logged_unix_s),
            "load_s": self.load_s,
            "restart_polled_s": since_kill(self.ready_polled_unix_s),
            "status_cli": self.status_cli,
            "resent": self.resent,
        }


def _scheduler(status: dict[str, Any], name: str) -> int | None:
    value = (status.get("scheduler") or {}).get(name)
    return int(value) if isinstance(value, int) else None


def _asr_rows(status: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in status.get("processes", []) if str(r.get("role", "")).startswith("asr")]


class LogTail:
    """The daemon's log read as it grows: the scheduler's dispatch lines, in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial_line = ""
        self.dispatches: list[tuple[float, str, str]] = []  # (log time, request id, role)

    def poll(self) -> None:
        try:
            with self.path.open("rb") as log:
                log.seek(self._offset)
                data = log.read()
        except OSError:
            return
        self._offset += len(data)
        text = self._partial_line + data.decode(errors="replace")
        lines = text.split("\n")
        self._partial_line = lines.pop()
        for line in lines:
            match = DISPATCH.search(line)
            at = log_time(line) if match else None
            if match and at is not None:
                self.dispatches.append((at, match.group(1), match.group(2)))

    def last_to(self, role: str) -> str | None:
        return next((rid for _, rid, r in reversed(self.dispatches) if r == role), None)


def is_final_id(request_id: str | None) -> bool:
    return request_id is not None and bool(
        FINAL_ID.match(request_id) or EARLY_ID.search(request_id)
    )


class KillController:
    """Fed every status of a run; kills a worker on a final and follows the restart."""

    def __init__(self, max_kills: int, log: LogTail, status_cli: list[str] | None = None) -> None:
        self.max_kills = max_kills
        self.log = log
        self.status_cli = status_cli  # argv of `run.py status --json` for this daemon
        self.kills: list[Kill] = []
        self._previous: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        """A kill hit a final and its restart was seen, or no kills are left."""
        if self.kills and self.kills[-1].ready_polled_unix_s is None:
            return False
        return len(self.kills) >= self.max_kills or any(
            k.hit.startswith("final") for k in self.kills
        )

    @property
    def following(self) -> bool:
        """A kill's restart is not seen yet (the caller polls fast meanwhile)."""
        return bool(self.kills) and self.kills[-1].ready_polled_unix_s is None

    def observe(self, status: dict[str, Any], final_pending: bool) -> None:
        previous, self._previous = self._previous, status
        self.log.poll()
        if self.following:
            self._follow(status)
            return
        for kill in self.kills:
            kill.resent_id = kill.resent_id or self._sent_again(kill)
        if self.done or previous is None:
            return
        busy = [r for r in _asr_rows(status) if r.get("state") == "busy" and r.get("pid")]
        if len(busy) != 1:
            return
        row = busy[0]
        in_flight = self.log.last_to(row["role"])
        if self.log.dispatches:
            if not is_final_id(in_flight):
                return
            chosen_by = f"log: {in_flight} in flight"
        elif len(_asr_rows(status)) == 1 and self._counters_show_final(status, previous):
            chosen_by = "counters: a non-partial request dispatched since the last status"
        else:
            return
        os.kill(row["pid"], signal.SIGKILL)
        self.kills.append(
            Kill(
                role=row["role"],
                victim_pid=row["pid"],
                killed_at_unix_s=time.time(),
                restarts_before=int(row.get("restarts", 0)),
                retries_before=_scheduler(status, "retries"),
                partials_failed_before=_scheduler(status, "partials_failed"),
                chosen_by=chosen_by,
                in_flight_id=in_flight,
            )
        )
        logger.info("killed %s (pid %d): %s", row["role"], row["pid"], chosen_by)

    @staticmethod
    def _counters_show_final(status: dict[str, Any], previous: dict[str, Any]) -> bool:
        counts = [
            _scheduler(s, name)
            for s in (status, previous)
            for name in ("requests_sent", "partials_requested")
        ]
        if None in counts:
            return False
        sent, partials, sent_before, partials_before = counts
        return sent > sent_before and partials == partials_before

    def _follow(self, status: dict[str, Any]) -> None:
        kill = self.kills[-1]
        kill.retries_after = _scheduler(status, "retries")
        kill.partials_failed_after = _scheduler(status, "partials_failed")
        for row in _asr_rows(status):
            if (
                row["role"] == kill.role
                and row.get("pid") not in (None, kill.victim_pid)
                and row.get("state") in ("ready", "busy")
            ):
                kill.replacement_pid = row["pid"]
                kill.restarts_after = int(row.get("restarts", 0))
                kill.ready_polled_unix_s = time.time()
                kill.status_cli = self._status_from_cli(kill.role)
                return
        if time.time() - kill.killed_at_unix_s > RESTART_WAIT_S:
            kill.ready_polled_unix_s = float("nan")  # stop following: it did not restart
            logger.warning("%s (pid %d): no replacement seen", kill.role, kill.victim_pid)

    def _status_from_cli(self, role: str) -> dict[str, Any] | None:
        """The worker's row as `run.py status --json` reports it (the user's view of the fault)."""
        if self.status_cli is None:
            return None
        import json

        result = subprocess.run(self.status_cli, capture_output=True, text=True, timeout=30)
        try:
            status = json.loads(result.stdout)
        except json.JSONDecodeError:
            return {"error": f"exit {result.returncode}: {result.stderr.strip()[-300:]}"}
        row = next((r for r in status.get("processes", []) if r.get("role") == role), None)
        return None if row is None else {k: row.get(k) for k in ("pid", "state", "restarts")}

    def read_log(self, log: str) -> None:
        """The supervisor's own account of each kill: detection, replacement ready, resends."""
        self.log.poll()
        for kill in self.kills:
            kill.resent_id = self._sent_again(kill)
            ready = re.compile(
                rf"{re.escape(kill.role)} ready \(pid (\d+), .*loaded in ([\d.]+) s\)"
            )
            for line in log.splitlines():
                at = log_time(line)
                if at is None or at < kill.killed_at_unix_s - 1.0:
                    continue
                if f"(pid {kill.victim_pid})" in line and "replacing it" in line:
                    kill.replacing_logged_unix_s = kill.replacing_logged_unix_s or at
                elif (match := ready.search(line)) and int(match.group(1)) != kill.victim_pid:
                    if kill.ready_logged_unix_s is None:
                        kill.ready_logged_unix_s = at
                        kill.load_s = float(match.group(2))
                elif "sent again" in line and at < kill.killed_at_unix_s + RESTART_WAIT_S:
                    kill.resent.append(line.split(": ", 1)[-1])

    def _sent_again(self, kill: Kill) -> str | None:
        """The final dispatched after the kill in place of the one in flight: the same chunk or
        window with a higher attempt, or (for an early final) the segment's regular final."""
        in_flight = kill.in_flight_id or ""
        match = FINAL_ID.match(in_flight)
        segment = in_flight.rsplit("/", 1)[0] + "/"
        for at, request_id, _ in self.log.dispatches:
            if at < kill.killed_at_unix_s - 0.01:
                continue
            again = FINAL_ID.match(request_id)
            same_final_again = (
                match is not None
                and again is not None
                and again.group(1) == match.group(1)
                and int(again.group(2)) > int(match.group(2))
            )
            replaces_early = (
                EARLY_ID.search(in_flight) is not None
                and request_id.startswith(segment)
                and (again is not None or EARLY_ID.search(request_id) is not None)
            )
            if same_final_again or replaces_early:
                return request_id
        return None

    def verify(self) -> list[str]:
        """What the claimed fault lacks: empty when a kill hit a final and the worker restarted."""
        if not self.kills:
            return ["no asr worker was killed: no final request was seen in flight"]
        problems = [
            f"{k.role} (pid {k.victim_pid}) killed, but no replacement with a higher restart "
            f"count was seen within {RESTART_WAIT_S:.0f} s"
            for k in self.kills
            if not k.restarted
        ]
        problems += [
            f"`run.py status --json` after the kill of {k.role} (pid {k.victim_pid}) said "
            f"{k.status_cli}: no new pid with a higher restart count"
            for k in self.kills
            if k.status_cli is not None
            and "pid" in k.status_cli
            and (
                k.status_cli["pid"] == k.victim_pid
                or (k.status_cli.get("restarts") or 0) <= k.restarts_before
            )
        ]
        if not any(k.hit.startswith("final") for k in self.kills):
            problems.append(
                f"{len(self.kills)} kill(s), none hit a final request "
                f"(hit: {[k.hit for k in self.kills]})"
            )
        return problems


def log_time(line: str) -> float | None:
    match = LOG_TIME.match(line)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def status_cli_command(root: Path, instance: str, runtime_dir: Path) -> list[str]:
    return [
        sys.executable, str(root / "run.py"), "status", "--json", "--instance", instance,
        "--set", f"outputs.runtime_dir={runtime_dir}",
    ]  # fmt: skip
