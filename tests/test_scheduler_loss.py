"""Loss is visible in the finals the scheduler publishes: a segment whose audio was overrun gets
status ``audio_lost``, one given up ``failed``, each with the range that has no words; a healthy
segment says ``ok``. (Pure scheduler logic with the shared fakes; the daemon path is the same
``FinalOrder``.)"""

from __future__ import annotations

import pytest

from pipeline.messages import TranscriptFinal
from pipeline.scheduling.segment import Segment
from tests.test_scheduler_fakes import (
    SR,
    ended,
    error,
    ongoing,
    result,
    result_words,
    scheduler,
    spoken,
    started,
    update,
)
from tests.test_scheduler_requests import only
from tests.test_scheduler_streaming import only as only_message
from tests.test_scheduler_streaming import opened


def test_a_healthy_final_is_ok_with_no_lost_range() -> None:
    s = scheduler()
    s.speech_started(started(0, 1.0), 1.0)
    s.speech_ended(ended(0, 1.0, 4.0), 4.0)
    _, request = only(s.dispatch(["w"], 4.0))
    (final,) = s.on_reply("w", result(request, "all here"), 4.5)
    assert (final.status, final.lost_start_s, final.lost_end_s) == ("ok", 0.0, 0.0)


def test_overrun_audio_gives_audio_lost_with_its_range() -> None:
    s = scheduler()
    s.speech_started(started(0, 2.0), 2.0)
    s.speech_ended(ended(0, 2.0, 5.0), 5.0)
    _, request = only(s.dispatch(["w"], 5.0))
    (final,) = s.on_reply("w", error(request.request_id, "ring_overrun", retryable=False), 6.0)
    assert (final.text, final.status) == ("", "audio_lost")
    assert (final.lost_start_s, final.lost_end_s) == (2.0, 5.0)


def test_a_lost_chunk_marks_only_its_range_and_keeps_the_other_words() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 24.0), 24.0)
    a, b, c = (r for _, r in s.dispatch(["a", "b", "c"], 24.0))
    s.on_reply("a", error(a.request_id, "ring_overrun", retryable=False), 25.0)
    s.on_reply("b", result_words(b, spoken("middle", 3.0)), 25.0)
    (final,) = s.on_reply("c", result_words(c, spoken("end", 5.0)), 25.0)
    assert final.text == "middle end" and final.status == "audio_lost"
    assert final.lost_start_s == 0.0
    assert final.lost_end_s == pytest.approx(a.end_index / SR)


def test_retries_used_up_give_failed() -> None:
    s = scheduler(max_attempts=2)
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 3.0), 3.0)
    out: list = []
    for attempt in range(2):
        _, request = only(s.dispatch(["w"], 3.0 + attempt))
        out = s.on_reply("w", error(request.request_id, "backend"), 3.5 + attempt)
    (final,) = out
    assert isinstance(final, TranscriptFinal)
    assert (final.status, final.lost_start_s, final.lost_end_s) == ("failed", 0.0, 3.0)


def test_a_streamed_session_given_up_loses_what_follows_its_finalized_words() -> None:
    s = scheduler(streaming=True)
    sid = opened(s, role="w1")
    s.speech_ongoing(ongoing(0, 0.0, 2.0), 2.0)
    only_message(s.dispatch(["w1"], 2.0))
    s.on_reply("w1", update(sid, 0, spoken("kept words"), finalized_index=SR), 2.1)
    s.speech_ongoing(ongoing(0, 0.0, 3.0), 3.0)
    only_message(s.dispatch(["w1"], 3.0))
    s.on_reply("w1", error(sid, "backend", retryable=False), 3.1)
    final = s.speech_ended(ended(0, 0.0, 4.5), 4.5)[-1]
    assert isinstance(final, TranscriptFinal) and final.text == "kept words"
    assert (final.status, final.lost_start_s, final.lost_end_s) == ("failed", 1.0, 4.5)


def test_lost_ranges_merge_and_audio_lost_wins() -> None:
    segment = Segment("mic", 0, 0, "ring", start_index=0, newest_index=10 * SR)
    segment.lose(4 * SR, 6 * SR, "failed")
    segment.lose(1 * SR, 2 * SR, "audio_lost")
    segment.lose(5 * SR, 7 * SR, "failed")
    outcome = segment.outcome(10 * SR, 0.0, (), "")
    assert (outcome.status, outcome.lost_start_index, outcome.lost_end_index) == (
        "audio_lost",
        1 * SR,
        7 * SR,
    )
    segment.lose(8 * SR, None, "failed")  # to its end
    assert segment.outcome(10 * SR, 0.0, (), "").lost_end_index == 10 * SR
