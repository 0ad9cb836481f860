"""Memory of every daemon process over audio time, and its growth slope after a warm-up.

Each sample: the RSS of every process (psutil on the pids ``status`` names, plus the supervisor
itself) and, for asr workers, the MLX active and cache memory ``status`` reports. The x axis is
audio time (the ring's write position), so slopes are MB per hour of AUDIO.

Restarts: a role (``asr-1``, ``capture``, ``vad``, ``supervisor``) keeps one series across the
processes that fill it. The fit (``fit_role``) uses the samples after the warm-up, drops the
first ``settle_s`` wall seconds of every replacement process (start-up allocations are not a
leak), and fits ONE slope with a separate level per pid segment (a fixed-effects least-squares
fit: each segment is centred on its own means, then ``fit_slope`` runs on the pooled centred
samples, with its standard error corrected for the per-segment levels). A fresh process starting
lower than the one it replaced therefore does not read as a negative slope, nor a saw-tooth as a
flat one.

Comparable samples (``sample_after_requests``): a worker's RSS saw-tooths with every request
(buffers of the request's window, ±70 MB), which drowns a slow leak in noise. So each status poll
also samples every asr worker that is idle (state ``ready``) and has completed a request since its
last such sample: memory right after a request, at the same point of the cycle every time. Workers
report RSS only in their heartbeats (any moment), not after a request, so the soak samples with
psutil itself. These go in ``after_request`` and give the ``rss_after_request`` fit, which is the
worker's slope when it has at least ``MIN_COMPARABLE_SAMPLES`` samples. At pace fast with a
backlog a worker is rarely idle (the next request follows at once), so there is a second
comparable series, the floor (``observe_floor``): every status poll reads each worker's RSS, and
per ``FLOOR_WINDOW_S`` of wall time (or until its pid changes) only the lowest one is kept: the
trough between requests, the same point of the saw-tooth each window. A worker's headline fit is
after-request when it has enough samples, else the floor, else every sample. ``slope_upper`` is a
fit's slope + 2 standard errors; ``worst_upper`` the worst daemon process's.

Memory of the soak itself stays bounded: past ``max_samples`` samples a role's series is thinned
to every other sample and later samples are taken at half the rate (repeatedly, as needed).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from pipeline.supervision.memory_trend import fit_slope

DEFAULT_MAX_SAMPLES = 20_000  # per role, before thinning
SOAK_ROLE = "soak"  # the soak process itself (not a daemon process: not in the worst slope)
SUPERVISOR_ROLE = "supervisor"
VALUES = ("rss_mb", "mlx_active_mb", "mlx_cache_mb")
MIN_COMPARABLE_SAMPLES = 20  # comparable samples a worker's fit needs to stand for it
FLOOR_WINDOW_S = 15.0  # wall seconds per floor sample (the lowest RSS polled in the window)
IDLE_STATE = "ready"  # a worker with no request in flight (``busy`` while it has one)


@dataclass(frozen=True)
class MemorySample:
    wall_s: float
    audio_s: float
    pid: int
    rss_mb: float
    mlx_active_mb: float | None  # asr workers only
    mlx_cache_mb: float | None


class MemorySeries:
    def __init__(self, max_samples: int = DEFAULT_MAX_SAMPLES) -> None:
        self.max_samples = max_samples
        self.samples: dict[str, list[MemorySample]] = {}
        self.first_seen_s: dict[tuple[str, int], float] = {}
        self.restarts: list[dict[str, Any]] = []  # pid changes seen per role
        self._last_pid: dict[str, int] = {}
        self._stride: dict[str, int] = {}
        self._offered: dict[str, int] = {}
        self._processes: dict[int, Any] = {}
        self._completed: dict[tuple[str, int], int] = {}
        self.after_request: MemorySeries | None = None  # created on the first comparable sample
        self.floor: MemorySeries | None = None  # the lowest worker RSS per window
        self._window: dict[str, tuple[float, MemorySample]] = {}  # role -> (start, lowest)

    def observe_floor(self, status: dict[str, Any], wall_s: float, rss_mb_of: Any = None) -> None:
        """Read every asr worker's RSS; keep the lowest per ``FLOOR_WINDOW_S`` (see the module
        docstring)."""
        audio_s = float(status["ring"]["write_s"])
        read = rss_mb_of or self._rss_mb
        for row in status["processes"]:
            role, pid = row.get("role", ""), row.get("pid")
            if not role.startswith("asr") or not pid or row.get("state") in ("failed", "starting"):
                continue
            rss_mb = read(int(pid))
            if rss_mb is None:
                continue
            sample = MemorySample(wall_s, audio_s, int(pid), rss_mb, None, None)
            window = self._window.get(role)
            if window is not None and (
                wall_s - window[0] >= FLOOR_WINDOW_S or window[1].pid != sample.pid
            ):
                if self.floor is None:
                    self.floor = MemorySeries(self.max_samples)
                self.floor._add(role, window[1])
                window = None
            if window is None:
                self._window[role] = (wall_s, sample)
            elif sample.rss_mb < window[1].rss_mb:
                self._window[role] = (window[0], sample)

    def sample_after_requests(
        self, status: dict[str, Any], wall_s: float, rss_mb_of: Any = None
    ) -> int:
        """Sample every asr worker idle right after a request (see the module docstring);
        returns how many samples were taken. ``rss_mb_of(pid)`` defaults to psutil."""
        audio_s = float(status["ring"]["write_s"])
        read = rss_mb_of or self._rss_mb
        taken = 0
        for role, pid in requests_just_completed(status["processes"], self._completed):
            rss_mb = read(pid)
            if rss_mb is None:
                continue
            if self.after_request is None:
                self.after_request = MemorySeries(self.max_samples)
            self.after_request._add(role, MemorySample(wall_s, audio_s, pid, rss_mb, None, None))
            taken += 1
        return taken

    def sample(self, status: dict[str, Any], daemon_pid: int, wall_s: float) -> None:
        """One sample of every process ``status`` names (plus the supervisor and the soak)."""
        audio_s = float(status["ring"]["write_s"])
        rows = [(SUPERVISOR_ROLE, daemon_pid, None, None), (SOAK_ROLE, os.getpid(), None, None)]
        for row in status["processes"]:
            if row.get("pid") and row.get("state") not in ("failed", "finished"):
                rows.append(
                    (row["role"], row["pid"], row.get("mlx_active_mb"), row.get("mlx_cache_mb"))
                )
        for role, pid, active, cache in rows:
            self.observe_pid(role, pid, wall_s, audio_s)
            rss_mb = self._rss_mb(pid)
            if rss_mb is not None:
                self._add(role, MemorySample(wall_s, audio_s, pid, rss_mb, active, cache))

    def observe_pid(self, role: str, pid: int, wall_s: float, audio_s: float) -> bool:
        """Note ``pid`` as ``role``'s process; True when it replaced another one."""
        self.first_seen_s.setdefault((role, pid), wall_s)
        previous = self._last_pid.get(role)
        self._last_pid[role] = pid
        if previous is not None and previous != pid:
            self.restarts.append(
                {
                    "role": role,
                    "wall_s": round(wall_s, 2),
                    "audio_s": round(audio_s, 2),
                    "old_pid": previous,
                    "new_pid": pid,
                }
            )
            return True
        return False

    def _rss_mb(self, pid: int) -> float | None:
        import psutil

        process = self._processes.get(pid)
        try:
            if process is None:
                process = self._processes[pid] = psutil.Process(pid)
            return process.memory_info().rss / 1e6
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            self._processes.pop(pid, None)
            return None

    def _add(self, role: str, sample: MemorySample) -> None:
        offered = self._offered.get(role, 0)
        self._offered[role] = offered + 1
        stride = self._stride.get(role, 1)
        if offered % stride:
            return
        series = self.samples.setdefault(role, [])
        series.append(sample)
        if len(series) > self.max_samples:
            del series[1::2]
            self._stride[role] = stride * 2

    def forget_dead(self, live_pids: set[int]) -> None:
        for pid in [p for p in self._processes if p not in live_pids]:
            del self._processes[pid]


def requests_just_completed(
    rows: list[dict[str, Any]], completed: dict[tuple[str, int], int]
) -> list[tuple[str, int]]:
    """(role, pid) of the asr workers idle now that completed a request since the count kept in
    ``completed`` (updated). A process seen for the first time only sets its count: its first
    sample comes after its next request."""
    out = []
    for row in rows:
        role, pid, count = row.get("role", ""), row.get("pid"), row.get("completed")
        if not role.startswith("asr") or not pid or type(count) is not int:
            continue
        key = (role, int(pid))
        before = completed.get(key)
        if before is None or count < before:
            completed[key] = count
            continue
        if row.get("state") == IDLE_STATE and count > before:
            completed[key] = count
            out.append(key)
    return out


def slope_upper(fit: dict[str, Any]) -> float | None:
    """A fit's slope + 2 standard errors (MB per audio hour); None without both."""
    slope, stderr = fit.get("slope_mb_per_audio_h"), fit.get("stderr_mb_per_audio_h")
    if slope is None or stderr is None:
        return None
    return round(slope + 2 * stderr, 3)


def headline_fit(fits: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The fit that stands for a process: after-request samples when there are enough."""
    for name in ("rss_after_request", "rss_floor"):
        comparable = fits.get(name)
        if comparable and comparable["samples_fitted"] >= MIN_COMPARABLE_SAMPLES:
            return name, comparable
    return "rss", fits["rss"]


def worst_upper(per_process: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """The daemon process with the highest slope + 2 standard errors, or a reason why none."""
    best: dict[str, Any] | None = None
    for role, fits in per_process.items():
        if role == SOAK_ROLE:
            continue
        which, fit = headline_fit(fits)
        upper = slope_upper(fit)
        if upper is not None and (best is None or upper > best["upper"]):
            best = {"role": role, "fit": which, "upper": upper}
    if best is None:
        return {"role": None, "fit": None, "upper": None, "reason": "no process had 3+ samples"}
    return best


def fit_role(
    series: list[MemorySample],
    value: str,
    warmup_audio_s: float,
    settle_s: float,
    first_seen_s: dict[tuple[str, int], float],
    role: str,
) -> dict[str, Any]:
    """Slope of ``value`` in MB per audio hour after the warm-up (see the module docstring)."""
    first_pid = series[0].pid if series else None
    kept: dict[int, list[tuple[float, float]]] = {}
    for sample in series:
        level = getattr(sample, value)
        if level is None or sample.audio_s < warmup_audio_s:
            continue
        if sample.pid != first_pid:
            born_s = first_seen_s.get((role, sample.pid), sample.wall_s)
            if sample.wall_s - born_s < settle_s:
                continue
        kept.setdefault(sample.pid, []).append((sample.audio_s, level))
    times: list[float] = []
    values: list[float] = []
    groups = 0
    for points in kept.values():
        if len(points) < 2:
            continue
        groups += 1
        mean_t = sum(t for t, _ in points) / len(points)
        mean_v = sum(v for _, v in points) / len(points)
        times.extend(t - mean_t for t, _ in points)
        values.extend(v - mean_v for _, v in points)
    order = sorted(range(len(times)), key=times.__getitem__)
    fit = fit_slope([times[i] for i in order], [values[i] for i in order])
    slope_h, stderr_h = fit.per_hour()
    count = fit.sample_count
    if groups > 1 and count - 1 - groups > 0 and math.isfinite(stderr_h):
        stderr_h *= math.sqrt((count - 2) / (count - 1 - groups))  # one level per segment
    levels = [getattr(s, value) for s in series if getattr(s, value) is not None]
    return {
        "slope_mb_per_audio_h": round(slope_h, 3) if count >= 2 else None,
        "stderr_mb_per_audio_h": round(stderr_h, 3) if math.isfinite(stderr_h) else None,
        "samples_fitted": count,
        "pid_segments": groups,
        "first_mb": round(levels[0], 1) if levels else None,
        "last_mb": round(levels[-1], 1) if levels else None,
        "max_mb": round(max(levels), 1) if levels else None,
    }


def fit_all(
    memory: MemorySeries, warmup_audio_s: float, settle_s: float
) -> dict[str, dict[str, Any]]:
    """Per role: the RSS fit, and for asr workers the MLX active and cache fits too."""
    out: dict[str, dict[str, Any]] = {}
    for role, series in sorted(memory.samples.items()):
        fits = {
            "rss": fit_role(series, "rss_mb", warmup_audio_s, settle_s, memory.first_seen_s, role)
        }
        if any(s.mlx_active_mb is not None for s in series):
            for value, name in (("mlx_active_mb", "mlx_active"), ("mlx_cache_mb", "mlx_cache")):
                fits[name] = fit_role(
                    series, value, warmup_audio_s, settle_s, memory.first_seen_s, role
                )
        for name, extra in (
            ("rss_after_request", memory.after_request),
            ("rss_floor", memory.floor),
        ):
            comparable = extra.samples.get(role) if extra is not None else None
            if comparable:
                fits[name] = fit_role(
                    comparable, "rss_mb", warmup_audio_s, settle_s, memory.first_seen_s, role
                )
        for fit in fits.values():
            fit["upper_mb_per_audio_h"] = slope_upper(fit)
        out[role] = fits
    return out
