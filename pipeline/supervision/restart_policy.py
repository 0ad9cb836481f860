"""Restart intensity with growing backoff: at most ``max_restarts`` in ``window_s`` per child.

Past the limit the child is marked failed and stays down, so a child that cannot start does not
loop forever; the daemon goes on with what still works.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class RestartLimits:
    max_restarts: int  # restarts allowed inside one window
    window_s: float  # length of the sliding window
    backoff_initial_s: float  # wait before the first restart in a window
    backoff_max_s: float  # cap of the doubling wait


@dataclass(frozen=True)
class RestartDecision:
    allowed: bool
    delay_s: float  # wait this long before starting again (when allowed)
    recent_restarts: int  # restarts inside the window, this one included when allowed


class RestartPolicy:
    """Tracks one child's restarts; ask ``decide(now_s)`` each time it dies."""

    def __init__(self, limits: RestartLimits) -> None:
        self.limits = limits
        self._restart_times_s: deque[float] = deque()
        self.total_restarts = 0
        self.failed = False

    def decide(self, now_s: float) -> RestartDecision:
        """Whether the child may restart now, and after what delay; records the restart."""
        window_start_s = now_s - self.limits.window_s
        while self._restart_times_s and self._restart_times_s[0] < window_start_s:
            self._restart_times_s.popleft()
        recent = len(self._restart_times_s)
        if self.failed or recent >= self.limits.max_restarts:
            self.failed = True
            return RestartDecision(allowed=False, delay_s=0.0, recent_restarts=recent)
        self._restart_times_s.append(now_s)
        self.total_restarts += 1
        return RestartDecision(
            allowed=True, delay_s=self._backoff_s(recent), recent_restarts=recent + 1
        )

    def _backoff_s(self, recent: int) -> float:
        if recent == 0:
            return self.limits.backoff_initial_s
        base_s = max(self.limits.backoff_initial_s, 0.25)
        return min(self.limits.backoff_max_s, base_s * (2**recent))
