"""When a child that died may start again: growing backoff, then a circuit breaker.

A child that dies soon after it started (within ``window_s``: it never proved itself) adds to
its failure streak. The first ``max_restarts`` failures of a streak restart it after a doubling
backoff. The next one opens the breaker: the child stays down for a cool-down, then gets one
trial start (half-open). A trial that fails early opens the breaker again with a doubled
cool-down (capped at ``cooldown_max_s``); a child that stays up for ``window_s`` closes it and
ends the streak. Nothing is ever given up for good: a model that could not load because memory
was short, or a device that was unplugged, gets its chance when the cause goes away.

The owner asks ``stuck_for_s(now_s)`` to learn how long the breaker has stayed open without a
recovery; the supervisor uses it to decide that nothing can make progress (see
``pipeline.supervision.progress``).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_COOLDOWN_INITIAL_S = 1.0  # the first cool-down when backoff_max_s is smaller
DEFAULT_COOLDOWN_MAX_S = 300.0  # the longest cool-down when restart_window_s × 5 is smaller


@dataclass(frozen=True)
class RestartLimits:
    max_restarts: int  # early failures of a streak restarted with backoff before the breaker opens
    window_s: float  # a child up this long has proved itself: its failure streak ends
    backoff_initial_s: float  # wait before the first restart of a streak
    backoff_max_s: float  # cap of the doubling wait between restarts
    cooldown_initial_s: float = DEFAULT_COOLDOWN_INITIAL_S  # the breaker's first cool-down
    cooldown_max_s: float = DEFAULT_COOLDOWN_MAX_S  # cap of the doubling cool-down

    @classmethod
    def from_config(cls, supervisor) -> RestartLimits:
        """Limits from a ``SupervisorConfig``: the cool-down starts at ``restart_backoff_max_s``
        (at least ``DEFAULT_COOLDOWN_INITIAL_S``) and is capped at 5 restart windows (at least
        ``DEFAULT_COOLDOWN_MAX_S``)."""
        cooldown_initial_s = max(DEFAULT_COOLDOWN_INITIAL_S, supervisor.restart_backoff_max_s)
        return cls(
            max_restarts=supervisor.restart_max,
            window_s=supervisor.restart_window_s,
            backoff_initial_s=supervisor.restart_backoff_initial_s,
            backoff_max_s=supervisor.restart_backoff_max_s,
            cooldown_initial_s=cooldown_initial_s,
            cooldown_max_s=max(
                cooldown_initial_s, DEFAULT_COOLDOWN_MAX_S, 5 * supervisor.restart_window_s
            ),
        )


@dataclass(frozen=True)
class RestartDecision:
    allowed: bool  # always True: the breaker delays, it never refuses for good
    delay_s: float  # wait this long before starting again
    recent_restarts: int  # early failures in the current streak, this one included
    breaker_open: bool = False  # the delay is a cool-down, not a backoff


class RestartPolicy:
    """One child's circuit breaker; call ``decide(now_s)`` each time the child dies."""

    def __init__(self, limits: RestartLimits) -> None:
        self.limits = limits
        self.total_restarts = 0
        self.failed = False  # kept for callers that check it: a breaker never fails for good
        self.trips = 0  # times the breaker opened in the current streak
        self._streak = 0  # early failures since the last trip (or the streak's start)
        self._next_start_s: float | None = None  # when the current process was allowed to start
        self._tripped_since_s: float | None = None  # first trip of the current streak

    def decide(self, now_s: float) -> RestartDecision:
        """When the child that just died may start again; records the restart."""
        if self._next_start_s is not None and now_s - self._next_start_s >= self.limits.window_s:
            self._reset()  # it ran a whole window: this failure starts a new streak
        self._streak += 1
        self.total_restarts += 1
        half_open_trial = self.trips > 0
        if half_open_trial or self._streak > self.limits.max_restarts:
            self.trips += 1
            self._streak = 0
            if self._tripped_since_s is None:
                self._tripped_since_s = now_s
            delay_s = min(
                self.limits.cooldown_max_s,
                self.limits.cooldown_initial_s * 2 ** (self.trips - 1),
            )
            self._next_start_s = now_s + delay_s
            return RestartDecision(True, delay_s, self.limits.max_restarts + 1, breaker_open=True)
        delay_s = self._backoff_s(self._streak - 1)
        self._next_start_s = now_s + delay_s
        return RestartDecision(True, delay_s, self._streak)

    def stuck_for_s(self, now_s: float) -> float:
        """How long the breaker has been open (or half-open) without the child recovering;
        0 when it is closed, or when the latest start has stayed up for a whole window."""
        if self._tripped_since_s is None or self._next_start_s is None:
            return 0.0
        if now_s - self._next_start_s >= self.limits.window_s:
            return 0.0  # the trial start has proved itself
        return now_s - self._tripped_since_s

    @property
    def breaker_open(self) -> bool:
        return self._tripped_since_s is not None

    def _reset(self) -> None:
        self._streak = 0
        self.trips = 0
        self._tripped_since_s = None

    def _backoff_s(self, earlier_failures: int) -> float:
        if earlier_failures == 0:
            return self.limits.backoff_initial_s
        base_s = max(self.limits.backoff_initial_s, 0.25)
        return min(self.limits.backoff_max_s, base_s * (2**earlier_failures))
