"""Partial alignment across streams (``SegmentScheduler(partial_align=...)``, ``batching``):
partials due soon join a partial batch going now, their cadence locks to the batch's phase, and
finals never join or wait (fakes, no processes)."""

from __future__ import annotations

import pytest

from bench.stream_sim import SimSettings, simulate
from pipeline.messages.work import TranscribeBatch, TranscribeRequest
from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions
from tests.test_scheduler_fakes import ended, ongoing, options, result, started

STREAMS = {"mic": "ss-1-mic", "room": "ss-1-room", "desk": "ss-1-desk"}


def aligned(align: float, max_batch: int = 2, **overrides) -> SegmentScheduler:
    return SegmentScheduler(
        options(max_batch=max_batch, **overrides), rings=STREAMS, partial_align=align
    )


def speaking(s: SegmentScheduler, stream: str, start_s: float, now_s: float) -> None:
    s.speech_started(started(0, start_s, stream), start_s)
    s.speech_ongoing(ongoing(0, start_s, now_s, stream), now_s)


def partial_streams(sent: list) -> list[list[str]]:
    out = []
    for _, request in sent:
        items = request.requests if isinstance(request, TranscribeBatch) else (request,)
        assert all(item.is_partial for item in items)
        out.append([item.stream_id for item in items])
    return out


def staggered(s: SegmentScheduler) -> TranscribeRequest:
    """mic's partial answered at 2.0 s (next due 3.0 s), room's at 2.3 s (next due 3.3 s)."""
    speaking(s, "mic", 0.0, 2.0)
    ((role, first),) = s.dispatch(["w1"], 2.0)
    s.on_reply(role, result(first, "one two"), 2.1)
    speaking(s, "room", 0.5, 2.3)
    ((role, second),) = s.dispatch(["w1"], 2.3)
    assert second.stream_id == "room"
    s.on_reply(role, result(second, "three four"), 2.4)
    s.speech_ongoing(ongoing(0, 0.0, 3.0, "mic"), 3.0)
    s.speech_ongoing(ongoing(0, 0.5, 3.0, "room"), 3.0)
    return second


def test_without_alignment_staggered_partials_go_one_at_a_time() -> None:
    s = aligned(0.0)
    staggered(s)
    assert partial_streams(s.dispatch(["w1"], 3.0)) == [["mic"]]
    assert s.stats().batches_sent == 0 and s.stats().partials_aligned == 0


def test_a_partial_due_within_the_lead_joins_the_batch_and_its_cadence_counts_from_the_tick():
    s = aligned(0.5)
    staggered(s)
    sent = s.dispatch(["w1", "w2"], 3.0)  # mic due now, room due at 3.3: within 0.5 x 1 s
    assert partial_streams(sent) == [["mic", "room"]]
    assert s.stats().batches_sent == 1 and s.stats().partials_aligned == 1
    ((role, batch),) = sent
    out = s.on_reply(role, _answer(batch), 3.4)
    assert len(out) == 2  # both publish
    for stream in ("mic", "room"):
        s.speech_ongoing(ongoing(0, 0.0 if stream == "mic" else 0.5, 4.2, stream), 4.2)
    # room went at 3.0 for the 3.5 tick: not due again before 4.5 (never more often than the
    # interval); mic (sent at 3.0) is due at 4.0: at 3.9 nothing goes, at 4.2 mic goes with
    # room joining (due 4.5, within the lead), so the two stay in phase
    assert s.dispatch(["w1", "w2"], 3.9) == []
    assert partial_streams(s.dispatch(["w1", "w2"], 4.2)) == [["mic", "room"]]
    assert s.stats().partials_requested == 6 and s.stats().partials_aligned == 2


def test_a_partial_due_beyond_the_lead_does_not_join() -> None:
    s = aligned(0.2)
    staggered(s)  # room due at 3.3, the lead reaches 3.2
    assert partial_streams(s.dispatch(["w1", "w2"], 3.0)) == [["mic"]]
    assert s.stats().partials_aligned == 0


def test_aligned_partials_join_a_batch_only_while_a_worker_stays_free_for_finals() -> None:
    s = aligned(0.5)
    staggered(s)
    sent = s.dispatch(["w1", "w2"], 3.0)  # w2 stays free for finals
    assert [role for role, _ in sent] == ["w1"]
    assert partial_streams(sent) == [["mic", "room"]]
    alone = aligned(0.5)
    staggered(alone)  # one free worker: a batch there would leave a final nowhere to go but
    assert partial_streams(alone.dispatch(["w1"], 3.0)) == [["mic"]]  # a pre-emption


def test_a_final_is_never_planned_ahead_and_finals_still_go_first() -> None:
    s = aligned(0.5)
    staggered(s)
    s.speech_started(started(0, 0.0, "desk"), 2.5)
    s.speech_ended(ended(0, 0.0, 2.0, "desk"), 3.0)
    sent = dict(s.dispatch(["w1"], 3.0))  # one worker, a final waits: no partial at all
    assert not sent["w1"].is_partial and sent["w1"].stream_id == "desk"
    assert s.stats().partials_aligned == 0


def test_alignment_works_with_commits_while_speaking() -> None:
    s = aligned(0.5, commit=CommitOptions())
    speaking(s, "mic", 0.0, 2.0)
    ((role, first),) = s.dispatch(["w1"], 2.0)
    s.on_reply(role, result(first, "one two"), 2.1)
    speaking(s, "room", 0.5, 2.3)
    ((role, second),) = s.dispatch(["w1"], 2.3)
    s.on_reply(role, result(second, "three four"), 2.4)
    s.speech_ongoing(ongoing(0, 0.0, 3.0, "mic"), 3.0)
    s.speech_ongoing(ongoing(0, 0.5, 3.0, "room"), 3.0)
    assert partial_streams(s.dispatch(["w1", "w2"], 3.0)) == [["mic", "room"]]


def test_the_lead_must_be_a_fraction_of_the_interval() -> None:
    with pytest.raises(ValueError, match="partial_align"):
        aligned(1.0)


def test_simulated_many_streams_lose_nothing_with_alignment() -> None:
    settings = SimSettings(streams=4, workers=2, seconds=30.0, max_batch=2, partial_align=0.3)
    report = simulate(settings)
    assert report["finals_lost"] == 0 and report["partials_aligned"] > 0


def test_a_partial_about_to_answer_is_left_to_finish_instead_of_cancelled() -> None:
    """With a pre-emption grace, a final that finds every worker busy cancels only partials
    expected to take longer than the grace (their time is the average of earlier answers)."""
    for grace_s, cancelled in ((0.0, 1), (0.2, 0)):
        s = aligned(0.0)
        s.preempt_grace_s = grace_s
        speaking(s, "mic", 0.0, 2.0)
        ((role, first),) = s.dispatch(["w1"], 2.0)
        s.on_reply(role, result(first, "one two"), 2.5)  # partials take 0.5 s
        s.speech_ongoing(ongoing(0, 0.0, 3.5, "mic"), 3.5)
        ((_, second),) = s.dispatch(["w1"], 3.5)
        assert second.is_partial
        s.speech_started(started(0, 0.0, "room"), 3.0)
        s.speech_ended(ended(0, 0.0, 2.0, "room"), 3.9)
        assert s.dispatch([], 3.9) == []
        assert len(s.preemptions(3.9)) == cancelled  # 0.1 s left of 0.5 s
        assert s.stats().partials_preempted == cancelled


def _answer(batch: TranscribeBatch):
    from pipeline.messages.work import TranscribeBatchResult

    results = tuple(result(r, "one two three") for r in batch.requests)
    return TranscribeBatchResult(batch.request_id, results, ())


def test_partials_keep_a_worker_free_for_finals_and_batch_on_the_others() -> None:
    """``reserve_for_finals`` 1 of 2 workers: three streams' partials due at once go as one
    batch to one worker; the other stays free, so a final takes it without a pre-emption."""
    s = SegmentScheduler(options(max_batch=3), rings=STREAMS, reserve_for_finals=1)
    for stream in ("mic", "room", "desk"):
        speaking(s, stream, 0.0, 2.0)
    sent = s.dispatch(["w1", "w2"], 2.0)
    assert [role for role, _ in sent] == ["w1"]
    assert sorted(partial_streams(sent)[0]) == ["desk", "mic", "room"]
    s2 = SegmentScheduler(options(max_batch=3), rings=STREAMS, reserve_for_finals=1)
    speaking(s2, "mic", 0.0, 2.0)
    speaking(s2, "room", 0.0, 2.0)
    ((role, batch),) = s2.dispatch(["w1", "w2"], 2.0)
    assert role == "w1" and len(batch.requests) == 2  # both partials on one worker
    s2.speech_started(started(0, 0.0, "desk"), 2.1)
    s2.speech_ended(ended(0, 0.0, 1.5, "desk"), 2.2)
    ((other, final),) = s2.dispatch(["w2"], 2.2)
    assert other == "w2" and not final.is_partial and s2.preemptions(2.2) == []
    # one stream alone in speech is never held back; a pool of one worker keeps none
    alone = SegmentScheduler(options(max_batch=2), rings=STREAMS, reserve_for_finals=1)
    speaking(alone, "mic", 0.0, 2.0)
    speaking(alone, "room", 0.0, 2.0)
    assert partial_streams(alone.dispatch(["w1"], 2.0)) == [["mic", "room"]]


def test_an_overdue_partial_no_longer_holds_the_worker_kept_for_finals() -> None:
    """A partial still running one partial interval after it was sent (a suspect window decoded
    again) frees the reserve: the other stream's partial takes the worker kept for finals, and a
    final then pre-empts one of them."""
    off = SegmentScheduler(options(max_batch=1), rings=STREAMS, reserve_for_finals=1)
    s = SegmentScheduler(options(max_batch=1), rings=STREAMS, reserve_for_finals=1)
    s.overdue_partial_intervals = 1.0  # off by default (scheduler.OVERDUE_PARTIAL_INTERVALS)
    for each in (off, s):
        speaking(each, "mic", 0.0, 2.0)
        speaking(each, "room", 0.0, 2.0)
        assert partial_streams(each.dispatch(["w1", "w2"], 2.0)) == [["mic"]]  # w2 kept
        each.speech_ongoing(ongoing(0, 0.0, 2.9, "room"), 2.9)
        assert each.dispatch(["w2"], 2.9) == []  # mic's partial is not overdue yet
        each.speech_ongoing(ongoing(0, 0.0, 3.0, "room"), 3.0)
    assert off.dispatch(["w2"], 3.0) == []  # off: the reserve holds however long it takes
    assert partial_streams(s.dispatch(["w2"], 3.0)) == [["room"]]
    s.speech_started(started(0, 0.0, "desk"), 3.1)
    s.speech_ended(ended(0, 0.0, 1.5, "desk"), 3.2)
    assert s.dispatch([], 3.2) == []
    assert len(s.preemptions(3.2)) == 1  # the final takes a worker from the partials
