"""SequentialWindows: a segment read one window after another (the reference pass of
``run.py transcribe --compare``), through the scheduler core's ledger and retry limit."""

from __future__ import annotations

import pytest

from pipeline.messages.transcripts import TranscriptFinal
from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.windows import SequentialWindows
from tests.test_scheduler_fakes import RINGS, SR, ended, error, options, result, started


def windows_scheduler(**overrides) -> SegmentScheduler:
    return SegmentScheduler(options(**overrides), RINGS, work=(SequentialWindows(10.0),))


def test_windows_follow_each_other_prompted_with_the_words_before() -> None:
    s = windows_scheduler()
    s.speech_started(started(0, 2.0), 2.0)
    s.speech_ended(ended(0, 2.0, 22.0), 22.0)  # 20 s in windows of 10 s
    ((role, first),) = s.dispatch(["a", "b"], 22.0)  # one window at a time
    assert (first.start_index, first.end_index, first.prompt) == (2 * SR, 12 * SR, "")
    # words every 0.4 s over the whole window: those ending in its last 1.5 s are read again
    text = " ".join(f"w{i}" for i in range(25))
    assert s.on_reply(role, result(first, text), 23.0) == []
    ((role, second),) = s.dispatch(["a", "b"], 23.0)
    assert second.start_index == round((2.0 + 8.4) * SR) and second.end_index == 20.4 * SR
    assert second.prompt.endswith("w20") and second.request_id != first.request_id
    text = " ".join(f"w{i}" for i in range(21, 46))
    assert s.on_reply(role, result(second, text), 24.0) == []
    ((role, third),) = s.dispatch(["a"], 24.0)  # the last window reaches the segment's end
    assert (third.start_index, third.end_index) == (round(18.8 * SR), 22 * SR)
    (final,) = s.on_reply(role, result(third, " ".join(f"w{i}" for i in range(42, 50))), 25.0)
    assert isinstance(final, TranscriptFinal) and final.text.startswith("w0 w1")
    assert final.text.split() == [f"w{i}" for i in range(50)]
    assert final.words[0].start_s == pytest.approx(2.0)
    assert s.idle() and s.stats().finals_failed == 0


def test_a_window_that_stops_early_is_followed_from_its_last_word() -> None:
    s = windows_scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 25.0), 25.0)
    ((role, first),) = s.dispatch(["a"], 25.0)
    reply = result(first, "w0 w1 w2 w3")  # then end-of-text, 20 s of speech unread
    assert s.on_reply(role, reply, 26.0) == []
    ((role, second),) = s.dispatch(["a"], 26.0)
    last_end = int(reply.words[-1].end_s * SR)
    assert last_end > SR and (second.start_index, second.end_index) == (
        last_end,
        last_end + 10 * SR,
    )


def test_a_lost_window_is_sent_again_then_given_up_at_the_retry_limit() -> None:
    s = windows_scheduler(max_attempts=2)
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 5.0), 5.0)
    ((role, first),) = s.dispatch(["a"], 5.0)
    assert s.worker_lost(role, 5.1, "exited with code -9") == []
    ((role, again),) = s.dispatch(["b"], 5.2)
    assert (again.start_index, again.end_index) == (first.start_index, first.end_index)
    assert again.request_id != first.request_id
    assert s.on_reply("a", result(first, "late"), 5.3) == []  # the lost attempt's late reply
    (final,) = s.on_reply(role, error(again.request_id, "backend"), 5.4)
    assert final.text == "" and s.stats().finals_failed == 1 and s.stats().chunks_failed == 1
    assert s.stats().retries == 1 and s.stats().duplicates_dropped == 1 and s.idle()
