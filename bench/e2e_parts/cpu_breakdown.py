"""Where a daemon run's CPU goes: per process role, and the workers' engine time per request kind.

Per role (``cpu_s_by_role``): psutil samples of the daemon and every descendant, the last one per
pid (a process's CPU after its last sample, while it shuts down, is in ``unattributed``: the
getrusage total of the reaped tree minus the sampled sum). The CPU each process had used when the
stream's audio started flowing (the first status whose ring has a write position) is its start-up
(imports, model load, warm-up; for a worker still loading then, when it is ready):
``cpu_s_start_by_role``; the offline pass the ratio divides by
excludes its model load too, so ``cpu_overhead_ratio_after_start`` leaves it out.

Per request kind (``engine_by_kind``): each asr worker logs its ``pipeline.engine_ledger`` totals
when it stops (partial, final chunk, window, early final: requests, engine wall seconds, CPU
seconds of the worker process during the calls, audio seconds, encoder frames, full-window
retries); ``worker_idle_cpu_s`` is a worker's CPU outside its engine calls after start-up.
"""

from __future__ import annotations

import re
import time
from typing import Any

import psutil

from pipeline.engine_ledger import parse_log_line

CPU_SAMPLE_INTERVAL_S = 0.5  # psutil samples of every daemon process
_LEDGER_ROLE = re.compile(r" INFO (asr-\d+)\[\d+\] ")


def role_name(role: str) -> str:
    """Roles as reported: ``asr-1`` stays apart per worker; ``capture-main`` reads ``capture``."""
    return role if role.startswith("asr-") else role.split("-")[0]


class CpuSampler:
    """Last-seen CPU seconds of the daemon and every descendant (sampled before they exit)."""

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self.cpu_s: dict[int, float] = {}
        self.start_cpu_s: dict[int, float] = {}  # per pid, once the audio flows and it is ready
        self.roles: dict[int, str] = {}
        self._next_s = 0.0

    def sample(
        self,
        roles: dict[int, str],
        streaming: bool,
        force: bool = False,
        states: dict[int, str] | None = None,
    ) -> None:
        """One sample (at most every ``CPU_SAMPLE_INTERVAL_S`` unless ``force``). A process's
        start-up CPU is what it had used at the first sample with ``streaming`` (audio has begun
        to flow) in which its state (status ``processes``) is no longer ``starting``: a worker
        may still be loading its model when the audio starts."""
        states = states or {}
        self.roles.update(roles)
        now_s = time.monotonic()
        unmarked = streaming and any(
            pid not in self.start_cpu_s and states.get(pid) != "starting" for pid in roles
        )
        if now_s < self._next_s and not (force or unmarked):
            return
        self._next_s = now_s + CPU_SAMPLE_INTERVAL_S
        try:
            root = psutil.Process(self.root_pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for process in processes:
            try:
                times = process.cpu_times()
                self.cpu_s[process.pid] = times.user + times.system
                if process.pid not in self.roles:
                    self.roles[process.pid] = (
                        "supervisor" if process.pid == self.root_pid else process.name()
                    )
            except psutil.Error:
                continue  # it exited between the listing and the read
            ready = states.get(process.pid) != "starting"
            if streaming and ready and process.pid not in self.start_cpu_s:
                self.start_cpu_s[process.pid] = self.cpu_s[process.pid]

    def by_role(self) -> dict[str, float]:
        return self._sum(self.cpu_s)

    def start_by_role(self) -> dict[str, float]:
        return self._sum(self.start_cpu_s)

    def _sum(self, per_pid: dict[int, float]) -> dict[str, float]:
        totals: dict[str, float] = {}
        for pid, seconds in per_pid.items():
            role = role_name(self.roles.get(pid, "other"))
            totals[role] = round(totals.get(role, 0.0) + seconds, 3)
        return dict(sorted(totals.items()))


def engine_by_kind(log: str) -> dict[str, dict[str, dict[str, float]]]:
    """Per asr worker role, the ledger totals it logged when it stopped (see module doc)."""
    found: dict[str, dict[str, dict[str, float]]] = {}
    for line in log.splitlines():
        totals = parse_log_line(line)
        if totals is None:
            continue
        match = _LEDGER_ROLE.search(line)
        role = match.group(1) if match else "asr"
        for kind, figures in totals.items():  # a replaced worker's totals add to its role
            into = found.setdefault(role, {}).setdefault(kind, {})
            for name, value in figures.items():
                into[name] = round(into.get(name, 0) + value, 3)
    return found


def sum_kinds(per_role: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """The workers' totals per request kind, every worker together."""
    total: dict[str, dict[str, float]] = {}
    for kinds in per_role.values():
        for kind, figures in kinds.items():
            into = total.setdefault(kind, {})
            for name, value in figures.items():
                into[name] = round(into.get(name, 0) + value, 3)
    return total


def add_roles(into: dict[str, float], more: dict[str, float]) -> dict[str, float]:
    for role, seconds in more.items():
        into[role] = round(into.get(role, 0.0) + seconds, 3)
    return into


def cpu_figures(runs: list[Any], offline_cpu_s: float) -> dict[str, Any]:
    """Per-role and per-kind CPU over ``runs`` (``RunResult``s of one profile), against the
    offline pass's CPU on the same audio."""
    by_role: dict[str, float] = {}
    start_by_role: dict[str, float] = {}
    kinds_per_role: dict[str, dict[str, dict[str, float]]] = {}
    total_s = 0.0
    for run in runs:
        add_roles(by_role, run.cpu_s_by_role)
        add_roles(start_by_role, run.cpu_s_start_by_role)
        total_s += run.cpu_s
        for role, kinds in run.engine_by_kind.items():
            for kind, figures in kinds.items():
                into = kinds_per_role.setdefault(role, {}).setdefault(kind, {})
                for name, value in figures.items():
                    into[name] = round(into.get(name, 0) + value, 3)
    sampled_s = sum(by_role.values())
    start_s = sum(start_by_role.values())
    kinds = sum_kinds(kinds_per_role)
    engine_cpu_s = sum(k["cpu_s"] for k in kinds.values())
    worker_after_start_s = sum(
        by_role.get(role, 0.0) - start_by_role.get(role, 0.0) for role in kinds_per_role
    )
    after_start_s = total_s - start_s
    figures: dict[str, Any] = {
        "cpu_s_by_role": by_role,
        "cpu_s_start_by_role": start_by_role,
        "cpu_s_after_start_by_role": {
            role: round(seconds - start_by_role.get(role, 0.0), 3)
            for role, seconds in by_role.items()
        },
        "cpu_s_unattributed": round(total_s - sampled_s, 3),
        "engine_by_kind": kinds,
        "engine_cpu_s": round(engine_cpu_s, 3),
        "worker_idle_cpu_s": round(worker_after_start_s - engine_cpu_s, 3),
        "cpu_s_after_start": round(after_start_s, 3),
    }
    if offline_cpu_s > 0:
        figures["cpu_overhead_ratio_after_start"] = round(after_start_s / offline_cpu_s, 3)
        figures["engine_cpu_ratio"] = round(engine_cpu_s / offline_cpu_s, 3)
        figures["engine_cpu_ratio_by_kind"] = {
            kind: round(k["cpu_s"] / offline_cpu_s, 3) for kind, k in kinds.items()
        }
    else:
        figures["cpu_overhead_ratio_after_start"] = None
        figures["cpu_overhead_ratio_after_start_reason"] = "the offline pass used no CPU time"
    return figures
