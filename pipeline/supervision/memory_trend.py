"""Memory growth over a sliding window: a least-squares slope with its standard error.

The supervisor feeds one sample per heartbeat per child and replaces a worker whose slope or
level is over its limit; the soak bench uses the same fit over a whole run.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


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
        """True when the window spans ``min_span_s`` and the slope is over the limit by 2 sigma."""
        fit = self.fit()
        if fit.span_s < min_span_s:
            return False
        slope_mb_h, stderr_mb_h = fit.per_hour()
        return slope_mb_h - 2.0 * stderr_mb_h > limit_mb_per_h
