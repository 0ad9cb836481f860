"""The global budget of worker time for partials (pipeline/scheduling/partial_budget.py): the
account alone, the scheduler holding partials back (never finals), and many streams on the real
scheduler with a simulated clock (bench/stream_sim.py)."""

from __future__ import annotations

import dataclasses

import pytest

from bench.stream_sim import SimSettings, simulate
from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.chunked import ChunkedSegments
from pipeline.scheduling.options import SharingOptions
from pipeline.scheduling.partial_budget import BURST_S, PartialBudget
from pipeline.scheduling.partials import Partials
from tests.test_scheduler_fakes import RINGS, ended, ongoing, options, result, started


def test_the_account_starts_full_drains_while_workers_are_busy_and_refills() -> None:
    budget = PartialBudget(share=0.5)
    budget.account(0.0, busy_workers=2, workers=2)
    assert budget.balance_s == BURST_S * 0.5 * 2 and budget.allows_partial()
    budget.account(3.0, busy_workers=0)  # 3 s with both busy: credit 1/s, debit 2/s
    assert budget.balance_s == -1.0 and not budget.allows_partial()
    budget.account(4.5, busy_workers=0)  # 1.5 s idle: +1.5
    assert budget.balance_s == 0.5 and budget.allows_partial()
    budget.account(100.0, busy_workers=2)  # long idle: bounded
    assert budget.balance_s == BURST_S * 1.0
    budget.account(200.0, busy_workers=2)  # long busy: the debt is bounded too
    assert budget.balance_s == -BURST_S * 1.0


def test_a_share_of_one_or_more_never_holds_a_partial_back() -> None:
    budget = PartialBudget(share=1.0)
    budget.account(0.0, 2, 2)
    budget.account(50.0, 2)
    assert not budget.enabled and budget.allows_partial()


def test_the_scheduler_holds_partials_back_when_the_budget_is_spent_but_never_finals() -> None:
    s = SegmentScheduler(options(), RINGS, work=(ChunkedSegments(), Partials()), partial_share=0.5)
    s.speech_started(started(0, 0.0, "mic"), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 2.0, "mic"), 2.0)
    ((role, partial),) = s.dispatch(["w1", "w2"], 2.0)  # the account starts full
    assert partial.is_partial
    s.speech_started(started(0, 0.0, "room"), 2.0)
    s.speech_ended(ended(0, 0.0, 1.5, "room"), 2.0)
    ((other, final),) = s.dispatch(["w2"], 2.0)
    assert not final.is_partial
    s.on_reply(other, result(final, "one two"), 8.0)  # 6 s with both workers busy: spent
    s.on_reply(role, result(partial, "three"), 8.0)
    s.speech_ongoing(ongoing(0, 0.0, 8.0, "mic"), 8.0)
    ((role, alone),) = s.dispatch(["w1", "w2"], 8.0)  # one stream in speech: never held back
    assert alone.is_partial and s.stats().partials_deferred == 0
    s.speech_started(started(1, 3.0, "room"), 8.0)  # two streams in speech: they share
    s.speech_ongoing(ongoing(1, 3.0, 8.0, "room"), 8.0)
    assert s.dispatch(["w2"], 8.0) == []  # due, but held back
    assert s.stats().partials_deferred == 1 and s.stats().partials_shed == 0
    assert s.stats().partials_requested == 2  # those sent; the one held back is not counted
    s.on_reply(role, result(alone, "three four"), 8.0)
    s.speech_ended(ended(1, 3.0, 8.0, "room"), 8.0)
    s.speech_started(started(2, 8.5, "room"), 8.5)
    s.speech_ongoing(ongoing(2, 8.5, 10.0, "room"), 8.5)
    ((role, final),) = s.dispatch(["w1", "w2"], 8.5)  # a final goes whatever the account says
    assert not final.is_partial and final.stream_id == "room"
    s.on_reply(role, result(final, "five"), 9.0)
    assert s.dispatch(["w1", "w2"], 10.5) == []  # -2 + 0.5 (idle) + 0 (one busy) + 1.5 = 0
    ((_, later),) = s.dispatch(["w1", "w2"], 11.5)  # +1: a partial goes
    assert later.is_partial


def test_many_streams_the_budget_caps_the_pool_and_every_stream_keeps_its_partials() -> None:
    """Eight streams of continuous speech on two workers (the engine times of daemon_e2e):
    without the budget partials keep the pool busy ~98 % of the time; with a share of 0.75 it
    stays near 0.75, finals still go at once, and no stream goes without partials."""
    plain = simulate(SimSettings(8, share=1.0, seconds=40.0, speech_s=20.0, pause_s=0.6))
    budget = simulate(SimSettings(8, share=0.75, seconds=40.0, speech_s=20.0, pause_s=0.6))
    assert plain["busy_share"] > 0.9
    assert budget["busy_share"] < 0.8
    assert budget["partials_deferred"] > 0 and plain["partials_deferred"] == 0
    assert budget["streams_without_partials"] == 0
    assert budget["final_wait_p95_s"] <= 0.1
    assert budget["final_p95_s"] <= plain["final_p95_s"]


@pytest.mark.parametrize("priority", ["order", "reserve", "one"])
def test_starved_segments_keep_the_budget_unless_every_one_goes_past_it(priority) -> None:
    """The same eight streams, every one starved (``streams.starved_s`` 3.0): a starved partial
    held by the budget (order, reserve) or one at a time past it (one) keeps the pool near the
    share; every one past it (full) keeps the pool busy."""

    def busy(priority: str) -> float:
        sharing = SharingOptions(starved_s=3.0, starved_priority=priority)
        settings = SimSettings(8, share=0.75, seconds=40.0, speech_s=20.0, pause_s=0.6)
        return simulate(dataclasses.replace(settings, sharing=sharing))["busy_share"]

    assert busy(priority) < 0.8
    assert busy("full") > 0.9


def test_shedding_partials_slows_commits_of_continuous_speech_but_does_not_stop_them() -> None:
    """Four streams of continuous speech with partials shed (the adaptation's first level):
    commits while speaking still come (they need agreeing partials), fewer than without."""
    normal = simulate(SimSettings(4, share=0.75, seconds=40.0, speech_s=20.0, pause_s=0.6))
    shed = simulate(SimSettings(4, share=0.75, seconds=40.0, speech_s=20.0, pause_s=0.6, shed=True))
    assert 0 < shed["commits"] < normal["commits"]
    assert shed["busy_share"] < normal["busy_share"]
