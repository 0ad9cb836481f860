"""Memory growth over a sliding window: a least-squares slope with its standard error.

The supervisor feeds one sample per heartbeat per child and replaces a worker whose slope or
level is over its limit; the soak bench uses the same fit over a whole run.

A worker's RSS read mid-request is its plateau plus that request's buffers (up to ~70 MB on a
30 s window), and a worker also steps once to a new plateau when it first meets a longer or
larger batch. When streams open, more samples land mid-request and the first big batches come:
the raw slope then reads as growth for minutes (``bench/streams.py`` at N = 6 recycled both
workers 4 s before the level closed). So growth also needs the window's *floor* to climb: the
window is cut into ``FLOOR_PARTS`` parts of equal time and the lowest sample of each part must
be above the part's before it, by at least ``FLOOR_RISE_SHARE`` of what the limit allows over a
part. A leak lifts every floor; one step, or more samples taken mid-request, does not.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass

FLOOR_PARTS = 4  # the window's floor is checked in this many parts of equal time
FLOOR_RISE_SHARE = 0.5  # each part's floor rises at least this share of the limit's growth


@dataclass(frozen=True)
class SlopeFit:
    slope_per_s: float  # growth of the value per second (value units / s)
    stderr_per_s: float  # standard error of the slope (inf with fewer than 3 samples)
    sample_count: int
    span_s: float  # time between first and last sample

    def per_hour(self) -> tuple[float, float]:
        """Slope and its standard error per hour."""
        return self.slope_per_s * 3600.0, self.stderr_per_s * 3600.0


def fit_slope(times_s: list[float], values: list[float]) -> SlopeFit:
    """Ordinary least squares of ``values`` over ``times_s`` (same length)."""
    count = len(times_s)
    if count < 2:
        return SlopeFit(0.0, math.inf, count, 0.0)
    mean_t = sum(times_s) / count
    mean_v = sum(values) / count
    sxx = sum((t - mean_t) ** 2 for t in times_s)
    span_s = times_s[-1] - times_s[0]
    if sxx <= 0.0:
        return SlopeFit(0.0, math.inf, count, span_s)
    sxy = sum((t - mean_t) * (v - mean_v) for t, v in zip(times_s, values, strict=True))
    slope = sxy / sxx
    if count < 3:
        return SlopeFit(slope, math.inf, count, span_s)
    intercept = mean_v - slope * mean_t
    residual = sum((v - (intercept + slope * t)) ** 2 for t, v in zip(times_s, values, strict=True))
    stderr = math.sqrt(residual / (count - 2) / sxx)
    return SlopeFit(slope, stderr, count, span_s)


class MemoryTrend:
    """A sliding window of (time, megabytes) samples of one process."""

    def __init__(self, window_s: float, max_samples: int = 4096) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, float]] = deque(maxlen=max_samples)

    def add(self, now_s: float, value_mb: float) -> None:
        self._samples.append((now_s, value_mb))
        while self._samples and self._samples[0][0] < now_s - self.window_s:
            self._samples.popleft()

    @property
    def latest_mb(self) -> float:
        return self._samples[-1][1] if self._samples else 0.0

    def fit(self) -> SlopeFit:
        times = [t for t, _ in self._samples]
        values = [v for _, v in self._samples]
        return fit_slope(times, values)

    def growing_faster_than(self, limit_mb_per_h: float, min_span_s: float) -> bool:
        """True when the window spans ``min_span_s``, the slope is over the limit by 2 sigma and
        every part's floor climbs (``floors_climb``)."""
        fit = self.fit()
        if fit.span_s < min_span_s:
            return False
        slope_mb_h, stderr_mb_h = fit.per_hour()
        if slope_mb_h - 2.0 * stderr_mb_h <= limit_mb_per_h:
            return False
        return self.floors_climb(limit_mb_per_h)

    def floors(self) -> list[float]:
        """The lowest sample of each of ``FLOOR_PARTS`` parts of equal time (empty parts
        skipped)."""
        if not self._samples:
            return []
        first_s = self._samples[0][0]
        part_s = max(self._samples[-1][0] - first_s, 1e-9) / FLOOR_PARTS
        lowest: dict[int, float] = {}
        for time_s, value in self._samples:
            part = min(int((time_s - first_s) / part_s), FLOOR_PARTS - 1)
            lowest[part] = min(value, lowest.get(part, math.inf))
        return [lowest[part] for part in sorted(lowest)]

    def floors_climb(self, limit_mb_per_h: float) -> bool:
        """True when each part's floor is above the one before by ``FLOOR_RISE_SHARE`` of the
        growth ``limit_mb_per_h`` allows over a part."""
        floors = self.floors()
        if len(floors) < FLOOR_PARTS:
            return False
        span_s = self._samples[-1][0] - self._samples[0][0]
        least_rise = FLOOR_RISE_SHARE * limit_mb_per_h / 3600.0 * span_s / FLOOR_PARTS
        return all(after - before >= least_rise for before, after in itertools.pairwise(floors))
