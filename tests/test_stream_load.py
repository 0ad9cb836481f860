"""Admission and adaptation rules (pure logic; the daemon tests in test_streams.py exercise them
on the real daemon)."""

from __future__ import annotations

import pytest

from config.schema import StreamsConfig
from pipeline.messages.work import TranscribeBatch, TranscribeRequest
from workers.stream_load import (
    FINAL_WORKER_S_PER_S,
    PARTIAL_NEED_WORKER_S_PER_S,
    STREAM_WORKER_S_PER_S,
    Adaptation,
    Admission,
    CapacityError,
    LoadMeter,
    is_partial_work,
    projected_busy,
    projected_need,
)


def test_load_meter_averages_the_busy_fraction_over_its_time_constant() -> None:
    meter = LoadMeter(tau_s=10.0)
    meter.sample(0.0, 0, 2)
    for step in range(1, 101):  # 10 s with one of two workers busy
        meter.sample(step * 0.1, 1, 2)
    assert 0.3 < meter.busy_fraction < 0.5  # ~ (1 - 1/e) of the way to 0.5
    for step in range(101, 1001):
        meter.sample(step * 0.1, 2, 2)
    assert meter.busy_fraction > 0.99


def test_admission_refuses_at_the_cap_and_on_projected_load_naming_it() -> None:
    admission = Admission(StreamsConfig(max_open=4, admission_max_busy=0.8))
    admission.check(1, busy_fraction=0.3, worst_lag_s=0.0)  # 0.6 projected: fits
    with pytest.raises(CapacityError) as info:
        admission.check(2, busy_fraction=0.6, worst_lag_s=0.0)  # 0.9 projected
    assert str(info.value).startswith("capacity:") and "60%" in str(info.value)
    assert info.value.details["busy_fraction"] == "0.60"
    with pytest.raises(CapacityError, match=r"streams\.max_open"):
        admission.check(4, busy_fraction=0.0, worst_lag_s=0.0)
    with pytest.raises(CapacityError, match=r"lags 3\.0 s"):
        admission.check(1, busy_fraction=0.1, worst_lag_s=3.0)
    assert admission.refused == 3
    Admission(StreamsConfig(admission_max_busy=9.0)).check(2, 1.0, 0.0)  # load check off


def test_streams_opened_at_once_count_before_their_load_shows() -> None:
    """A client opening many streams at once on an idle pool: each new stream counts the prior
    (0.35 worker-s/s, 0.175 of two workers), so the fifth is refused at 0.85 instead of all
    being admitted and lagging; once measured, the streams' own share counts."""
    admission = Admission(StreamsConfig(admission_max_busy=0.85))
    per_stream = STREAM_WORKER_S_PER_S / 2
    for fresh in range(4):  # the idle first stream plus four opened just now
        admission.check(1 + fresh, 0.01, 0.0, fresh_streams=fresh, workers=2)
    with pytest.raises(CapacityError, match="4 opened in the last 10 s") as info:
        admission.check(5, 0.01, 0.0, fresh_streams=4, workers=2)
    assert info.value.details["recently_opened"] == "4"
    assert projected_busy(0.01, 5, 4, 2) == pytest.approx(0.01 + 5 * per_stream)
    # measured: five streams keep the pool 40 % busy; one more: 57.5 %
    assert projected_busy(0.40, 5, 0, 2) == pytest.approx(0.575)
    admission.check(5, 0.40, 0.0, fresh_streams=0, workers=2)
    # partials fill the budget (busy ~0.77 with streams.partial_share 0.75): refused
    with pytest.raises(CapacityError, match="busy 77%"):
        admission.check(6, 0.77, 0.0, fresh_streams=0, workers=2)


def test_adaptation_steps_up_under_sustained_lag_and_back_when_it_falls() -> None:
    adaptation = Adaptation(StreamsConfig(adapt_lag_s=2.0, adapt_sustain_s=10.0))
    assert adaptation.update(0.0, 5.0) is None  # lag begins
    assert adaptation.update(5.0, 5.0) is None  # not yet sustained
    assert adaptation.update(10.0, 5.0) == 1 and adaptation.shed_partials
    assert adaptation.update(20.0, 5.0) == 2  # still lagging: the cheaper profile
    assert adaptation.update(30.0, 5.0) is None  # already at the top
    assert adaptation.update(31.0, 1.5) is None  # between the thresholds: no change
    assert adaptation.update(32.0, 0.2) is None  # calm begins
    assert adaptation.update(42.0, 0.2) == 1
    assert adaptation.update(52.0, 0.2) == 0 and not adaptation.shed_partials
    stats = adaptation.stats()
    assert stats["switches"] == 4 and stats["level"] == "normal" and len(stats["recent"]) == 4


def test_adaptation_can_be_turned_off() -> None:
    adaptation = Adaptation(StreamsConfig(adapt=False, adapt_sustain_s=1.0))
    assert all(adaptation.update(t, 99.0) is None for t in range(0, 60, 5))
    assert adaptation.stats()["switches"] == 0


def test_the_load_meter_averages_the_partials_share_of_the_busy_time_apart() -> None:
    meter = LoadMeter(tau_s=1.0)
    meter.sample(0.0, 0, 2)
    assert not meter.partials_measured
    for step in range(1, 101):  # both busy, one of them on partials
        meter.sample(step * 0.1, 2, 2, partial_busy=1)
    assert meter.busy_fraction > 0.99 and 0.49 < meter.partial_fraction < 0.51
    assert meter.partials_measured


def test_partial_work_is_a_partial_or_a_batch_of_partials_only() -> None:
    def request(partial: bool) -> TranscribeRequest:
        return TranscribeRequest("r", "mic", 0, 0, 1, "ring", 0, 16000, partial)

    assert is_partial_work(request(True)) and not is_partial_work(request(False))
    assert is_partial_work(TranscribeBatch("batch:r", (request(True), request(True))))
    assert not is_partial_work(TranscribeBatch("batch:r", (request(False), request(False))))
    assert not is_partial_work(None)


def test_admission_counts_what_streams_need_not_the_partials_filling_the_budget() -> None:
    """Partials fill the budget (busy 0.77, 0.70 of it partials): by the busy fraction alone a
    sixth stream is refused; counted at what each needs (finals measured, partials batched at
    the cadence commits need) it fits, and the eighth does not."""
    admission = Admission(StreamsConfig(admission_max_busy=0.85))
    with pytest.raises(CapacityError):
        admission.check(5, 0.77, 0.0, workers=2)  # partial time unknown: all of it counts
    admission.check(5, 0.77, 0.0, workers=2, partial_fraction=0.70)
    need = projected_need(0.77, 0.70, 5, 0, 2)
    per_stream = PARTIAL_NEED_WORKER_S_PER_S / 2
    assert need == pytest.approx(0.07 + FINAL_WORKER_S_PER_S / 2 + 6 * per_stream)
    admission.check(6, 0.77, 0.0, workers=2, partial_fraction=0.70)  # the seventh
    with pytest.raises(CapacityError, match="partials 70%, shed first") as info:
        admission.check(7, 0.77, 0.0, workers=2, partial_fraction=0.70)
    assert info.value.details["partial_fraction"] == "0.70"
    # streams opened at once on an idle pool: finals and partials counted before they show
    for fresh in range(6):
        admission.check(1 + fresh, 0.0, 0.0, fresh_streams=fresh, workers=2, partial_fraction=0.0)
    with pytest.raises(CapacityError, match="6 opened in the last 10 s"):
        admission.check(7, 0.0, 0.0, fresh_streams=6, workers=2, partial_fraction=0.0)
    # a stream already lagging is refused whatever the load
    with pytest.raises(CapacityError, match="lags"):
        admission.check(2, 0.1, 5.0, workers=2, partial_fraction=0.05)


def test_a_stream_no_client_feeds_needs_no_partials_until_it_does() -> None:
    """The bench's idle first stream (a push stream nobody feeds) and six opened at once: all
    six fit on two workers; the seventh does not."""
    admission = Admission(StreamsConfig(admission_max_busy=0.85))
    for fresh in range(6):
        admission.check(
            1 + fresh, 0.0, 0.0, fresh_streams=fresh, workers=2, partial_fraction=0.0,
            silent_streams=1,
        )  # fmt: skip
    with pytest.raises(CapacityError):
        admission.check(
            7, 0.0, 0.0, fresh_streams=6, workers=2, partial_fraction=0.0, silent_streams=1
        )
