"""Partials held back by the budget keep their place in the round-robin (partial_cadence.py):
the real scheduler with real speech messages, both planners (``Partials`` and the commit
planner ``CommittedSegments``)."""

from __future__ import annotations

import pytest

from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.chunked import ChunkedSegments
from pipeline.scheduling.commit_policy import CommitOptions
from pipeline.scheduling.commits import CommittedSegments
from pipeline.scheduling.partial_cadence import PartialCadence
from pipeline.scheduling.partials import Partials
from tests.test_scheduler_fakes import ended, ongoing, options, result, started

RINGS = {name: f"ss-rr-{name}" for name in ("older", "newer", "f1", "f2")}


def test_cadence_gives_back_the_request_time_an_unsent_partial_replaced() -> None:
    cadence = PartialCadence()
    cadence.sent(None)
    assert cadence.unsent() is None  # a first partial: still never sent
    cadence.sent(4.5)
    assert cadence.unsent() == 4.5


@pytest.mark.parametrize("planner", ["partials", "commits"])
def test_a_stream_held_back_with_another_keeps_its_turn_over_an_older_segment(
    planner: str,
) -> None:
    """Two streams in speech; "older" opened its segment first. "newer" had its last partial
    at 1.5 s, "older" at 2.0 s (one worker is kept for finals). Then finals of two other streams spend the budget, both
    streams' partials are held back, and when one worker may take a partial again it goes to
    "newer", which waited longest (before: every held-back segment counted as never served,
    and the tie went to the older segment)."""
    if planner == "commits":
        work = (CommittedSegments(CommitOptions()),)
        opts = options(commit=CommitOptions())
    else:
        work = (ChunkedSegments(), Partials())
        opts = options()
    s = SegmentScheduler(opts, RINGS, work=work, partial_share=0.25, reserve_for_finals=1)
    s.speech_started(started(0, 0.0, "older"), 0.0)  # the older segment (first in order)
    s.speech_started(started(0, 0.0, "newer"), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 0.2, "older"), 1.5)  # too little audio for a partial
    s.speech_ongoing(ongoing(0, 0.0, 1.5, "newer"), 1.5)
    ((role, first),) = s.dispatch(["w1", "w2"], 1.5)
    assert first.stream_id == "newer" and first.is_partial
    s.on_reply(role, result(first, "one two"), 1.6)
    s.speech_ongoing(ongoing(0, 0.0, 2.0, "older"), 2.0)
    s.speech_ongoing(ongoing(0, 0.0, 2.0, "newer"), 2.0)
    ((role, second),) = s.dispatch(["w1", "w2"], 2.0)  # "newer" is not due before 2.5 s
    assert second.stream_id == "older" and second.is_partial
    s.on_reply(role, result(second, "three four"), 2.1)
    # finals of two other streams keep both workers busy for 4 s: the budget is spent
    for stream in ("f1", "f2"):
        s.speech_started(started(0, 0.0, stream), 2.1)
        s.speech_ended(ended(0, 0.0, 1.0, stream), 2.1)
    finals = s.dispatch(["w1", "w2"], 2.1)
    assert sorted(r.stream_id for _, r in finals) == ["f1", "f2"]
    assert not any(r.is_partial for _, r in finals)
    for role, final in finals:
        s.on_reply(role, result(final, "five"), 6.1)
    s.speech_ongoing(ongoing(0, 0.0, 6.1, "older"), 6.1)
    s.speech_ongoing(ongoing(0, 0.0, 6.1, "newer"), 6.1)
    deferred = s.stats().partials_deferred
    assert s.dispatch(["w1", "w2"], 6.1) == []  # both due, both held back
    assert s.stats().partials_deferred == deferred + 2
    assert s.dispatch(["w1", "w2"], 7.0) == []  # still held back
    # the account is positive again: one partial goes (the other worker is kept for finals)
    ((_, third),) = s.dispatch(["w1", "w2"], 8.2)
    assert third.is_partial
    assert third.stream_id == "newer"  # it waited since 1.5 s, "older" since 2.0 s
