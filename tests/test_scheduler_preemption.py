"""Final work pre-empts partials in flight: cancels, their answers, counting (fakes, no processes)."""

from __future__ import annotations

from pipeline.messages.transcripts import TranscriptFinal
from pipeline.messages.work import CANCELLED, CancelRequest, WorkerError
from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions
from tests.test_scheduler_commits import paused
from tests.test_scheduler_fakes import RINGS, ended, ongoing, options, result, started


def committing() -> SegmentScheduler:
    return SegmentScheduler(options(commit=CommitOptions()), rings=RINGS)


def cancelled(request_id: str) -> WorkerError:
    return WorkerError(request_id, CANCELLED, "cancelled after 0.050 s")


def partial_in_flight(s: SegmentScheduler, role: str = "asr-1"):
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 3.0), 3.0)
    ((sent_to, request),) = s.dispatch([role], 3.0)
    assert sent_to == role and request.is_partial
    return request


def test_a_pause_cancels_the_running_partial_and_its_early_final_goes_next() -> None:
    s = committing()
    request = partial_in_flight(s)
    assert s.preemptions(3.1) == []  # nothing waits: the partial runs on
    s.speech_paused(paused(3.2, 3.4), 3.4)  # an early final is due; the only worker is busy
    assert s.dispatch([], 3.4) == []
    (cancel,) = s.preemptions(3.4)
    assert cancel == ("asr-1", CancelRequest(request.request_id, "final work waits"))
    assert s.preemptions(3.45) == []  # asked once
    assert s.dispatch(["asr-1"], 3.45) == []  # busy until it answers
    assert s.on_reply("asr-1", cancelled(request.request_id), 3.46) == []
    stats = s.stats()
    assert (stats.partials_preempted, stats.partials_cut_short) == (1, 1)
    assert stats.partials_failed == 0 and stats.retries == 0 and stats.duplicates_dropped == 0
    ((_, early),) = s.dispatch(["asr-1"], 3.46)
    assert not early.is_partial and early.end_index == round(3.3 * 16_000)
    s.on_reply("asr-1", result(early, "so I went"), 3.7)
    (final,) = [
        m for m in s.speech_ended(ended(0, 0.0, 4.0), 4.0) if isinstance(m, TranscriptFinal)
    ]
    assert final.text == "so I went"
    assert s.idle() and s.sizes()["cancelling"] == 0


def test_a_partial_that_finished_before_its_cancel_is_read_as_usual() -> None:
    s = committing()
    request = partial_in_flight(s)
    s.speech_ended(ended(0, 0.0, 3.5), 3.5)  # a final chunk waits
    (cancel,) = s.preemptions(3.5)
    assert cancel[1].request_id == request.request_id
    assert s.on_reply("asr-1", result(request, "one two three"), 3.6) == []  # stale: ended
    stats = s.stats()
    assert (stats.partials_preempted, stats.partials_cut_short) == (1, 0)
    assert stats.partials_stale == 1 and stats.partials_failed == 0
    ((_, chunk),) = s.dispatch(["asr-1"], 3.6)
    assert not chunk.is_partial and chunk.request_id.endswith("c0.1")  # first attempt
    assert s.sizes()["cancelling"] == 0


def test_only_partials_are_cancelled_and_only_as_many_as_final_requests_wait() -> None:
    s = committing()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 2.0), 2.0)
    s.speech_started(started(1, 3.0, stream="room"), 3.0)
    s.speech_ongoing(ongoing(1, 3.0, 5.0, stream="room"), 5.0)
    assignments = dict(s.dispatch(["asr-1", "asr-2"], 5.0))
    assert not assignments["asr-1"].is_partial and assignments["asr-2"].is_partial
    assert s.preemptions(5.0) == []  # nothing waits
    s.speech_started(started(2, 6.0), 6.0)
    s.speech_ended(ended(2, 6.0, 8.0), 8.0)  # another segment of mic ends: one final waits
    (cancel,) = s.preemptions(8.0)
    assert cancel[0] == "asr-2"  # the chunk final on asr-1 is never cancelled
    assert s.preemptions(8.1) == []


def test_a_worker_lost_while_cancelling_frees_everything() -> None:
    s = committing()
    partial_in_flight(s)
    s.speech_paused(paused(3.2, 3.4), 3.4)
    assert len(s.preemptions(3.4)) == 1
    s.worker_lost("asr-1", 3.5, "exited")
    assert s.sizes()["cancelling"] == 0 and s.sizes()["flights"] == 0
    ((_, early),) = s.dispatch(["asr-1"], 3.6)
    assert not early.is_partial
