"""Partial cadence: the interval, stretched while hypotheses repeat, none over a silent tail."""

from __future__ import annotations

from pipeline.scheduling.partial_cadence import FRESH_WAIT_MAX_S, MAX_STRETCH, PartialCadence


def test_first_partial_at_once_then_every_interval() -> None:
    cadence = PartialCadence()
    assert cadence.due(None, 5.0, 1.0)
    assert not cadence.due(5.0, 5.9, 1.0)
    assert cadence.due(5.0, 6.0, 1.0)


def test_repeated_hypothesis_stretches_the_interval_until_words_change() -> None:
    cadence = PartialCadence()
    cadence.heard(["Hello", "world."])
    assert cadence.due(0.0, 1.0, 1.0)
    cadence.heard([" hello", "WORLD."])  # the same words: nothing new was heard
    assert not cadence.due(0.0, 1.5, 1.0) and cadence.due(0.0, 2.0, 1.0)
    for _ in range(5):
        cadence.heard(["hello", "world."])
    assert cadence.stretch == MAX_STRETCH
    assert not cadence.due(0.0, MAX_STRETCH - 0.1, 1.0) and cadence.due(0.0, MAX_STRETCH, 1.0)
    cadence.heard(["hello", "world.", "Again"])
    assert cadence.stretch == 1.0 and cadence.due(0.0, 1.0, 1.0)


def test_empty_hypotheses_do_not_stretch() -> None:
    cadence = PartialCadence()
    cadence.heard([])
    cadence.heard([])
    assert cadence.stretch == 1.0


def test_silent_tail_holds_every_partial() -> None:
    cadence = PartialCadence()
    assert not cadence.due(None, 10.0, 1.0, silent_tail=True)
    assert cadence.due(None, 10.0, 1.0, silent_tail=False)


def test_fresh_audio_holds_a_due_partial_until_the_vad_reports_newer_audio() -> None:
    cadence = PartialCadence()
    # due at 6.0; the newest audio reached the scheduler at 5.82 (0.18 s old)
    assert cadence.due(5.0, 6.0, 1.0, newest_at_s=5.82)  # off: goes with stale audio
    assert not cadence.due(5.0, 6.0, 1.0, newest_at_s=5.82, fresh_s=0.05)
    assert cadence.due(5.0, 6.08, 1.0, newest_at_s=6.07, fresh_s=0.05)  # the next report
    assert not cadence.due(5.0, 5.9, 1.0, newest_at_s=5.9, fresh_s=0.05)  # not due yet


def test_fresh_audio_waits_at_most_its_bound_and_never_for_a_first_partial() -> None:
    cadence = PartialCadence()
    assert cadence.due(None, 3.0, 1.0, newest_at_s=1.0, fresh_s=0.05)
    assert not cadence.due(5.0, 6.0 + FRESH_WAIT_MAX_S - 0.01, 1.0, newest_at_s=5.5, fresh_s=0.05)
    assert cadence.due(5.0, 6.01 + FRESH_WAIT_MAX_S, 1.0, newest_at_s=5.5, fresh_s=0.05)
