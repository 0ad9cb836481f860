"""Partial cadence: the interval, stretched while hypotheses repeat, none over a silent tail."""

from __future__ import annotations

from pipeline.scheduling.partial_cadence import MAX_STRETCH, PartialCadence


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
