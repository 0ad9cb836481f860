"""How long the supervisor's loop takes per step (the work between two polls), as percentiles.

A fixed histogram of geometric buckets (10 % wide, 20 us to 100 s): recording is O(1), memory
is constant whatever the uptime, and a percentile is read as the upper edge of its bucket
(never under the true figure by more than the bucket width, clamped to the largest step seen).
The whole life of the daemon counts, so one slow step under a fault stays in the p99/max.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_MS = 0.02  # steps faster than this share the first bucket
MAX_MS = 100_000.0  # steps slower than this share the last bucket
GROWTH = 1.1  # each bucket's upper edge is 10 % above the previous one
_BUCKETS = math.ceil(math.log(MAX_MS / MIN_MS, GROWTH)) + 1


@dataclass(frozen=True)
class LoopLatencySummary:
    steps: int
    p50_ms: float | None  # None before the first step
    p99_ms: float | None
    max_ms: float | None
    slow_steps: int  # steps over ``slow_ms``
    slow_ms: float

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "steps": self.steps,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "slow_steps": self.slow_steps,
            "slow_ms": self.slow_ms,
        }


class LoopLatency:
    """Step durations of one loop. Not thread-safe: fed and read by the loop's own thread."""

    def __init__(self, slow_ms: float = 20.0) -> None:
        self.slow_ms = slow_ms
        self._counts = [0] * _BUCKETS
        self.steps = 0
        self.max_ms = 0.0
        self.slow_steps = 0

    def record(self, duration_s: float) -> None:
        duration_ms = max(0.0, duration_s * 1000.0)
        self._counts[_bucket(duration_ms)] += 1
        self.steps += 1
        self.max_ms = max(self.max_ms, duration_ms)
        if duration_ms > self.slow_ms:
            self.slow_steps += 1

    def percentile_ms(self, fraction: float) -> float | None:
        """The duration under which ``fraction`` of the steps fell (None: no step yet)."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be within [0, 1], got {fraction}")
        if self.steps == 0:
            return None
        rank = max(1, math.ceil(fraction * self.steps))
        seen = 0
        for bucket, count in enumerate(self._counts):
            seen += count
            if seen >= rank:
                if bucket == _BUCKETS - 1:
                    return self.max_ms  # the open-ended last bucket
                return min(_upper_edge_ms(bucket), self.max_ms)
        return self.max_ms  # not reached: the counts add up to ``steps``

    def summary(self) -> LoopLatencySummary:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return LoopLatencySummary(
            steps=self.steps,
            p50_ms=rounded(self.percentile_ms(0.5)),
            p99_ms=rounded(self.percentile_ms(0.99)),
            max_ms=rounded(self.max_ms) if self.steps else None,
            slow_steps=self.slow_steps,
            slow_ms=self.slow_ms,
        )


def _bucket(duration_ms: float) -> int:
    if duration_ms <= MIN_MS:
        return 0
    return min(_BUCKETS - 1, math.ceil(math.log(duration_ms / MIN_MS, GROWTH)))


def _upper_edge_ms(bucket: int) -> float:
    return MIN_MS * GROWTH**bucket
