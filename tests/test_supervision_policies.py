"""Circuit breaker, honest timers, progress verdicts and memory slope fitting (pure logic)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from pipeline.supervision.memory_trend import MemoryTrend, fit_slope
from pipeline.supervision.poison import PoisonOptions, PoisonTracker
from pipeline.supervision.progress import DEGRADED, OK, STUCK, ChildHealth, judge_progress
from pipeline.supervision.restart_policy import RestartLimits, RestartPolicy
from pipeline.supervision.timers import HangLimitOptions, RequestTimer, silence_limit_s


def _limits(**overrides: float) -> RestartLimits:
    values = dict(
        max_restarts=2,
        window_s=10.0,
        backoff_initial_s=0.0,
        backoff_max_s=4.0,
        cooldown_initial_s=5.0,
        cooldown_max_s=12.0,
    )
    values.update(overrides)
    return RestartLimits(**values)


def test_breaker_opens_after_the_backoff_restarts_then_cools_down_with_a_cap() -> None:
    policy = RestartPolicy(_limits())
    first, second = policy.decide(0.0), policy.decide(1.0)
    assert [first.delay_s, second.delay_s] == [0.0, 0.5]  # growing backoff
    assert not first.breaker_open and not second.breaker_open
    assert policy.stuck_for_s(2.0) == 0.0
    opened = policy.decide(2.0)  # the third early failure opens the breaker
    assert opened.allowed and opened.breaker_open and opened.delay_s == 5.0
    assert policy.stuck_for_s(4.0) == 2.0
    # the half-open trial (started at 7 s) fails early: open again, cool-down doubled
    assert policy.decide(8.0).delay_s == 10.0
    assert policy.decide(19.0).delay_s == 12.0  # capped
    assert policy.stuck_for_s(25.0) == 23.0  # stuck since the first trip
    assert policy.total_restarts == 5 and not policy.failed


def test_breaker_closes_when_a_start_stays_up_for_a_window() -> None:
    policy = RestartPolicy(_limits())
    for now_s in (0.0, 1.0, 2.0):
        policy.decide(now_s)
    assert policy.stuck_for_s(6.0) > 0  # cooling down (trial at 7 s)
    assert policy.stuck_for_s(17.5) == 0.0  # the trial has been up for 10.5 s: recovered
    later = policy.decide(30.0)  # a failure long after: a new streak, plain backoff
    assert not later.breaker_open and later.delay_s == 0.0 and later.recent_restarts == 1


def test_a_child_that_always_fails_stays_stuck_and_one_that_recovers_does_not() -> None:
    limits = _limits(max_restarts=1, cooldown_initial_s=1.0, cooldown_max_s=4.0)
    always, recovers = RestartPolicy(limits), RestartPolicy(limits)
    now_s, load_s = 0.0, 2.0
    for attempt in range(8):  # each start fails load_s after it starts
        now_s += load_s
        delay_s = always.decide(now_s).delay_s
        if attempt < 3:
            recovers.decide(now_s)
        now_s += delay_s
    assert always.stuck_for_s(now_s) > 20.0
    assert recovers.stuck_for_s(now_s) == 0.0


def test_limits_from_config_start_the_cool_down_at_the_backoff_cap() -> None:
    from config.schema import SupervisorConfig

    limits = RestartLimits.from_config(SupervisorConfig())
    assert limits.cooldown_initial_s == max(1.0, SupervisorConfig().restart_backoff_max_s)
    assert limits.cooldown_max_s >= limits.cooldown_initial_s
    assert limits.max_restarts == SupervisorConfig().restart_max


def test_silence_limit_gives_every_start_its_grace_until_first_heard() -> None:
    assert silence_limit_s(False, heartbeat_timeout_s=10.0, startup_timeout_s=60.0) == 60.0
    assert silence_limit_s(True, heartbeat_timeout_s=10.0, startup_timeout_s=60.0) == 10.0
    assert silence_limit_s(False, heartbeat_timeout_s=10.0, startup_timeout_s=5.0) == 10.0


def test_hang_limit_bills_whole_windows_then_follows_the_measured_cost() -> None:
    timer = RequestTimer(HangLimitOptions(factor=10.0, margin_s=10.0, window_s=30.0))
    # before measurements: a 0.5 s request pays a 30 s window, not 0.5 s of audio
    assert timer.limit_s(0.5) == 10.0 * 30.0 + 10.0
    assert timer.billed_s(31.0) == 60.0 and timer.billed_s(30.0) == 30.0
    for _ in range(10):
        timer.record(elapsed_s=20.0, audio_s=0.5)  # a slow engine: 20 s per window
    assert timer.p95_seconds_per_billed_s() == 20.0 / 30.0
    # measured: 3 × 20 s + 10 s; a 0.5 s request taking 20 s is not "hung"
    assert math.isclose(timer.limit_s(0.5), 3.0 * 20.0 + 10.0)
    assert timer.limit_s(0.5) > 20.0 > 10.0 * 0.5 + 10.0  # the old rule would have killed it
    fast = RequestTimer(HangLimitOptions(factor=10.0, margin_s=10.0, window_s=30.0))
    for _ in range(10):
        fast.record(elapsed_s=1.0, audio_s=5.0)
    assert fast.limit_s(5.0) < 20.0  # a fast worker's hang is noticed sooner than 310 s


def test_hang_limit_without_a_window_follows_audio_and_has_a_floor() -> None:
    timer = RequestTimer(HangLimitOptions(factor=2.0, margin_s=1.0, window_s=0.0, floor_s=5.0))
    assert timer.limit_s(10.0) == 21.0
    assert timer.limit_s(0.1) == 5.0


def test_progress_verdicts() -> None:
    healthy = ChildHealth(0.0, "")
    stuck = ChildHealth(120.0, "exited with code 1")
    streams = {"capture": healthy, "vad": healthy}
    assert judge_progress(streams, {"asr-1": healthy}, 60.0).state == OK
    partly = judge_progress(streams, {"asr-1": stuck, "asr-2": healthy}, 60.0)
    assert partly.state == DEGRADED and "asr-1" in partly.reason
    none_left = judge_progress(streams, {"asr-1": stuck, "asr-2": stuck}, 60.0)
    assert none_left.state == STUCK and "every asr worker" in none_left.reason
    assert "exited with code 1" in none_left.reason
    no_capture = judge_progress({"capture": stuck, "vad": healthy}, {"asr-1": healthy}, 60.0)
    assert no_capture.state == STUCK and "capture" in no_capture.reason
    young = judge_progress(streams, {"asr-1": ChildHealth(30.0, "x")}, 60.0)
    assert young.state == DEGRADED  # open, but not yet for long


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


def test_audio_that_kills_the_vad_twice_is_skipped_and_reported() -> None:
    tracker = PoisonTracker(PoisonOptions(tolerance_samples=48_000, skip_s=2.0, skip_max_s=8.0))
    tracker.note_death(160_000)  # first death at 10 s: resume where proposed (segment start)
    assert tracker.resume(150_000) == (150_000, None)
    tracker.note_death(158_000)  # the successor dies at the same place
    resume_index, gap = tracker.resume(150_000)
    assert resume_index == 160_000 + 32_000 and gap == (150_000, 192_000)
    assert tracker.resume(150_000) == (150_000, None)  # a planned restart is not moved again
    tracker.note_death(195_000)  # still near: the skip doubles
    assert tracker.resume(190_000)[0] == 195_000 + 64_000
    tracker.note_death(400_000)  # further on: a new place, a new count
    assert tracker.resume(390_000) == (390_000, None)
    tracker.note_death(300_000)  # the successor died before even reaching it: no progress
    assert tracker.resume(300_000) == (400_000 + 32_000, (300_000, 432_000))


def _trend(values_at: Callable[[float], float], span_s: int = 600) -> MemoryTrend:
    trend = MemoryTrend(window_s=600.0)
    for t in range(0, span_s + 1):
        trend.add(float(t), values_at(float(t)))
    return trend


def test_a_step_to_a_new_plateau_is_not_growth() -> None:
    """A worker meeting its first big batch steps up ~40 MB once and stays there: the raw slope
    reads far over the limit, but the floors climb only once, so it is not recycled."""
    for step_at_s in (150.0, 300.0, 450.0):
        stepped = _trend(lambda t, at=step_at_s: 500.0 + (40.0 if t >= at else 0.0))
        slope_mb_h, stderr_mb_h = stepped.fit().per_hour()
        assert slope_mb_h - 2.0 * stderr_mb_h > 200.0  # the old rule recycled it
        assert not stepped.growing_faster_than(limit_mb_per_h=200.0, min_span_s=120.0)


def test_more_samples_mid_request_are_not_growth() -> None:
    """Load rises (streams open): the share of heartbeats landing mid-request, 70 MB over the
    plateau, goes from 10 % to 90 %. The mean climbs; the floor between requests does not."""
    rng = random.Random(3)

    def rss_mb(t: float) -> float:
        busy_share = 0.1 + 0.8 * t / 600.0
        return 500.0 + (70.0 if rng.random() < busy_share else rng.uniform(0.0, 2.0))

    busy = _trend(rss_mb)
    slope_mb_h, stderr_mb_h = busy.fit().per_hour()
    assert slope_mb_h - 2.0 * stderr_mb_h > 200.0
    assert not busy.growing_faster_than(limit_mb_per_h=200.0, min_span_s=120.0)


def test_a_leak_under_a_saw_tooth_is_growth() -> None:
    """400 MB/h under the requests' 0-70 MB saw-tooth: every floor climbs, so it is recycled;
    at 100 MB/h (under the 200 MB/h limit) it is not."""
    rng = random.Random(5)
    for leak_mb_h, growing in ((400.0, True), (100.0, False)):
        leaking = _trend(lambda t, r=leak_mb_h: 500.0 + r * t / 3600.0 + rng.uniform(0.0, 70.0))
        assert leaking.growing_faster_than(200.0, min_span_s=120.0) is growing, leak_mb_h


def _watch_recycles(rss_mb_at: Callable[[float], float], until_s: int) -> list[float]:
    """When ``MemoryWatch`` (default supervisor limits) asks to recycle a worker whose RSS is
    ``rss_mb_at(t)``, sampled once a second after its warm-up."""
    from types import SimpleNamespace

    from config.schema import SupervisorConfig
    from workers.memory_watch import MemoryWatch

    watch, limits, asked = MemoryWatch(), SupervisorConfig(), []
    slot = SimpleNamespace(role="asr-1", ready=True, completed=100, ready_at_s=0.0, draining=False)
    for t in range(0, until_s):
        slot.rss_bytes = int(rss_mb_at(float(t)) * 1e6)
        asked += [float(t) for _ in watch.check(float(t), [slot], limits)]
    return asked


def test_a_worker_whose_load_ramps_up_for_minutes_is_not_recycled() -> None:
    """Streams opening one after another for ~4 minutes lift a busy worker's floor 300 -> 450 MB
    in steps, then it stays in its band: no recycle (the 120 s minimum span recycled it)."""
    rng = random.Random(9)
    ramp = _watch_recycles(lambda t: 300 + 30 * min(t // 50, 5) + rng.uniform(0, 60), 1500)
    assert ramp == []
    leak = _watch_recycles(lambda t: 300 + 400 * t / 3600 + rng.uniform(0, 60), 1500)
    assert leak and 600 <= leak[0] <= 800, leak[:3]  # 400 MB/h: replaced after ~10 minutes
