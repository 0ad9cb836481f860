"""Restart intensity/backoff and memory slope fitting (pure logic)."""

from __future__ import annotations

import math
import random

from pipeline.supervision.memory_trend import MemoryTrend, fit_slope
from pipeline.supervision.restart_policy import RestartLimits, RestartPolicy


def test_restart_intensity_marks_failed_after_limit() -> None:
    policy = RestartPolicy(
        RestartLimits(max_restarts=3, window_s=10.0, backoff_initial_s=0.0, backoff_max_s=4.0)
    )
    delays = [policy.decide(now_s=t) for t in (0.0, 1.0, 2.0)]
    assert all(d.allowed for d in delays)
    assert [d.delay_s for d in delays] == [0.0, 0.5, 1.0]  # growing backoff
    denied = policy.decide(now_s=3.0)
    assert not denied.allowed and policy.failed
    # failed stays failed even after the window has passed
    assert not policy.decide(now_s=100.0).allowed
    assert policy.total_restarts == 3


def test_restarts_outside_window_are_forgotten_and_backoff_capped() -> None:
    policy = RestartPolicy(
        RestartLimits(max_restarts=10, window_s=5.0, backoff_initial_s=1.0, backoff_max_s=3.0)
    )
    assert policy.decide(0.0).delay_s == 1.0
    assert policy.decide(1.0).delay_s == 2.0
    assert policy.decide(2.0).delay_s == 3.0  # capped
    later = policy.decide(20.0)  # the window emptied: back to the first delay
    assert later.allowed and later.delay_s == 1.0 and later.recent_restarts == 1


def test_fit_slope_recovers_known_line_with_uncertainty() -> None:
    rng = random.Random(7)
    times = [float(t) for t in range(0, 3600, 10)]
    values = [100.0 + 0.01 * t + rng.gauss(0.0, 0.5) for t in times]
    fit = fit_slope(times, values)
    slope_h, stderr_h = fit.per_hour()
    assert abs(slope_h - 36.0) < 4 * stderr_h + 0.5
    assert 0 < stderr_h < 2.0
    assert fit.sample_count == len(times)


def test_fit_slope_degenerate_inputs() -> None:
    assert fit_slope([], []).sample_count == 0
    assert math.isinf(fit_slope([1.0], [5.0]).stderr_per_s)
    assert fit_slope([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]).slope_per_s == 0.0


def test_memory_trend_window_and_growth_detection() -> None:
    trend = MemoryTrend(window_s=600.0)
    for t in range(0, 1200, 5):
        trend.add(float(t), 500.0 + 0.1 * t)  # 360 MB/h
    fit = trend.fit()
    assert fit.span_s <= 600.0
    assert trend.growing_faster_than(limit_mb_per_h=200.0, min_span_s=300.0)
    assert not trend.growing_faster_than(limit_mb_per_h=500.0, min_span_s=300.0)
    flat = MemoryTrend(window_s=600.0)
    rng = random.Random(1)
    for t in range(0, 1200, 5):
        flat.add(float(t), 500.0 + rng.gauss(0.0, 2.0))
    assert not flat.growing_faster_than(limit_mb_per_h=20.0, min_span_s=300.0)
    assert not MemoryTrend(600.0).growing_faster_than(1.0, min_span_s=1.0)
