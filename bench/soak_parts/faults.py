"""Fault injection: SIGKILL random children, SIGSTOP (hang) a random worker, on a seeded schedule.

Kinds (``--fault-kinds``): ``kill:asr`` (a random asr worker), ``kill:capture``, ``kill:vad``,
``hang:asr`` (and ``hang:capture`` / ``hang:vad`` if asked). A hang is a SIGSTOP: the stopped
process sends no heartbeat, and the supervisor must kill it after
``supervisor.heartbeat_timeout_s`` and start another; once the role has a new pid the soak sends
SIGCONT to the old one (normally already dead), and if no replacement came within
``HANG_GIVE_UP_S`` past the timeout it sends SIGCONT itself and records the hang as undetected.

Schedule: the first fault comes ``first_after_s`` after the first final; the next one a uniform
``[min_gap_s, max_gap_s]`` later, but only when every child is up again (a fault on a daemon still
recovering tests the restart limit, not recovery), no role had more than ``PER_ROLE_PER_WINDOW``
faults in the last ``restart_window_s``, and not in the last ``quiet_tail_s`` of the run (so the
end of the run measures a recovered daemon). Every fault should cost exactly one restart.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
from dataclasses import asdict, dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_KINDS = ("kill:asr", "kill:capture", "kill:vad", "hang:asr")
HANG_GIVE_UP_S = 30.0  # past the heartbeat timeout: a hang nobody noticed
REPLACE_GIVE_UP_S = 60.0  # a killed child with no successor after this long
PER_ROLE_PER_WINDOW = 2  # faults on one role within the restart window
UP_STATES = ("running", "ready", "busy")


@dataclass
class Fault:
    wall_s: float
    audio_s: float
    kind: str  # kill | hang
    role: str
    pid: int
    replaced_after_s: float | None = None  # until status showed another pid for the role
    outcome: str = "pending"  # replaced | not_replaced | hang_not_detected


@dataclass
class FaultInjector:
    seed: int
    kinds: tuple[str, ...] = DEFAULT_KINDS
    min_gap_s: float = 12.0
    max_gap_s: float = 30.0
    first_after_s: float = 8.0
    quiet_tail_s: float = 25.0
    heartbeat_timeout_s: float = 3.0
    restart_window_s: float = 60.0
    faults: list[Fault] = field(default_factory=list)
    _rng: random.Random = field(init=False)
    _next_s: float | None = field(default=None, init=False)
    _stopped: dict[int, Fault] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for kind in self.kinds:
            action, _, target = kind.partition(":")
            if action not in ("kill", "hang") or target not in ("asr", "capture", "vad"):
                raise ValueError(
                    f"unknown fault kind {kind!r}; use e.g. {', '.join(DEFAULT_KINDS)}"
                )
        self._rng = random.Random(self.seed)

    @property
    def pending(self) -> list[Fault]:
        return [f for f in self.faults if f.outcome == "pending"]

    def step(
        self, status: dict[str, Any], wall_s: float, end_wall_s: float, first_final_s: float | None
    ) -> Fault | None:
        """Watch earlier faults, then inject one when it is due; returns a new fault or None."""
        rows = {row["role"]: row for row in status["processes"]}
        self._follow(rows, wall_s)
        if first_final_s is None:
            return None
        if self._next_s is None:
            self._next_s = first_final_s + self.first_after_s
        if wall_s < self._next_s or wall_s > end_wall_s - self.quiet_tail_s or self.pending:
            return None
        if not all(row.get("state") in UP_STATES and row.get("pid") for row in rows.values()):
            return None
        kind = self._rng.choice(self.kinds)
        action, _, target = kind.partition(":")
        candidates = sorted(
            role for role in rows if (role.startswith("asr") if target == "asr" else role == target)
        )
        candidates = [r for r in candidates if self._recent(r, wall_s) < PER_ROLE_PER_WINDOW]
        if not candidates:
            self._next_s = wall_s + 1.0
            return None
        role = self._rng.choice(candidates)
        pid = int(rows[role]["pid"])
        fault = Fault(round(wall_s, 2), float(status["ring"]["write_s"]), action, role, pid)
        try:
            os.kill(pid, signal.SIGKILL if action == "kill" else signal.SIGSTOP)
        except ProcessLookupError:
            self._next_s = wall_s + 1.0
            return None
        if action == "hang":
            self._stopped[pid] = fault
        self.faults.append(fault)
        self._next_s = wall_s + self._rng.uniform(self.min_gap_s, self.max_gap_s)
        logger.info("fault: %s %s (pid %d) at %.1f s", action, role, pid, wall_s)
        return fault

    def _recent(self, role: str, wall_s: float) -> int:
        return sum(
            1 for f in self.faults if f.role == role and wall_s - f.wall_s < self.restart_window_s
        )

    def _follow(self, rows: dict[str, dict[str, Any]], wall_s: float) -> None:
        for fault in self.pending:
            row = rows.get(fault.role, {})
            if row.get("pid") and row["pid"] != fault.pid:
                fault.replaced_after_s = round(wall_s - fault.wall_s, 2)
                fault.outcome = "replaced"
                self._resume(fault.pid)
                continue
            waited_s = wall_s - fault.wall_s
            if fault.kind == "hang" and waited_s > self.heartbeat_timeout_s + HANG_GIVE_UP_S:
                fault.outcome = "hang_not_detected"
                self._resume(fault.pid)
            elif fault.kind == "kill" and waited_s > REPLACE_GIVE_UP_S:
                fault.outcome = "not_replaced"

    def _resume(self, pid: int) -> None:
        if self._stopped.pop(pid, None) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def release_all(self) -> None:
        """SIGCONT every process still stopped (the soak is ending)."""
        for pid in list(self._stopped):
            self._resume(pid)

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for fault in self.faults:
            key = f"{fault.kind}:{fault.role.split('-')[0]}"
            counts[key] = counts.get(key, 0) + 1
        replaced = [f.replaced_after_s for f in self.faults if f.replaced_after_s is not None]
        return {
            "injected": len(self.faults),
            "kills": sum(1 for f in self.faults if f.kind == "kill"),
            "hangs": sum(1 for f in self.faults if f.kind == "hang"),
            "by_kind": counts,
            "not_recovered": [asdict(f) for f in self.faults if f.outcome not in ("replaced",)],
            "recovery_max_s": max(replaced, default=None),
            "events": [asdict(f) for f in self.faults],
        }
