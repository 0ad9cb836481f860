"""Bounded queues when no worker serves a stream: ended segments whose audio the ring no longer
holds (``drop_before``), or beyond the pending cap, are given up oldest first, reported as an
``event.gap`` (``queue_full``) and each gets its final, ``audio_lost`` over its range. (Pure
scheduler logic with the shared fakes; the daemon test is in ``test_escalation``.)"""

from __future__ import annotations

from pipeline.messages import GapEvent, TranscriptFinal
from pipeline.scheduling import SegmentScheduler
from tests.test_scheduler_fakes import RINGS, SR, ended, options, result, scheduler, started
from tests.test_scheduler_requests import only


def _segment(s: SegmentScheduler, segment_id: int, start_s: float, end_s: float) -> list:
    s.speech_started(started(segment_id, start_s), start_s)
    return s.speech_ended(ended(segment_id, start_s, end_s), end_s)


def test_segments_the_ring_overran_are_dropped_with_a_gap_and_audio_lost_finals() -> None:
    s = scheduler()
    for number in range(3):  # 0-2 s, 3-5 s, 6-8 s: nobody takes the work
        _segment(s, number, 3.0 * number, 3.0 * number + 2.0)
    # the ring now starts at 4 s: segments 0 (needs 0 s) and 1 (needs 3 s) lost their audio
    gap, *finals = s.drop_before("mic", 4 * SR, 9.0)
    assert isinstance(gap, GapEvent)
    assert (gap.reason, gap.start_s, gap.end_s) == ("queue_full", 0.0, 5.0)
    assert all(isinstance(f, TranscriptFinal) for f in finals)
    assert [(f.segment_id, f.status, f.text) for f in finals] == [
        (0, "audio_lost", ""),
        (1, "audio_lost", ""),
    ]
    assert [(f.lost_start_s, f.lost_end_s) for f in finals] == [(0.0, 2.0), (3.0, 5.0)]
    assert [f.seq for f in finals] == [1, 2]
    assert s.stats().segments_dropped == 2
    assert s.queue_depths()["finals"] == 1  # only segment 2's chunk is left
    assert s.drop_before("mic", 4 * SR, 9.5) == []  # nothing twice
    # segment 2 is still served, and its final comes next
    _, request = only(s.dispatch(["w"], 10.0))
    (final,) = s.on_reply("w", result(request, "still here"), 10.5)
    assert (final.segment_id, final.seq, final.status) == (2, 3, "ok")
    assert s.idle()


def test_audio_still_held_and_the_open_segment_are_not_dropped() -> None:
    s = scheduler()
    _segment(s, 0, 1.0, 3.0)
    s.speech_started(started(1, 4.0), 4.0)  # open: it is not pending final work yet
    assert s.drop_before("mic", 1 * SR, 5.0) == []  # segment 0's audio starts at 1 s
    assert s.drop_before("room", 10 * SR, 5.0) == []  # another stream
    _gap, final = s.drop_before("mic", 5 * SR, 5.0)
    assert final.segment_id == 0 and final.status == "audio_lost"
    assert s.oldest_needed_index("mic") == 4 * SR  # the open segment keeps its audio
    assert not s.idle()


def test_a_reply_for_a_dropped_segment_is_a_late_duplicate() -> None:
    s = scheduler()
    _segment(s, 0, 0.0, 2.0)
    _, request = only(s.dispatch(["w"], 2.0))
    _gap, final = s.drop_before("mic", 3 * SR, 3.0)
    assert final.status == "audio_lost"
    assert s.on_reply("w", result(request, "too late"), 4.0) == []
    assert s.stats().duplicates_dropped == 1
    assert s.idle()


def test_pending_segments_beyond_the_cap_drop_the_oldest() -> None:
    s = SegmentScheduler(options(), RINGS, max_pending_segments=4)
    published = []
    for number in range(50):  # a live stream that no worker serves, ring never overrun
        published += _segment(s, number, 2.0 * number, 2.0 * number + 1.0)
        assert s.sizes()["segments"] <= 4
        assert s.queue_depths()["finals"] <= 4
    finals = [m for m in published if isinstance(m, TranscriptFinal)]
    gaps = [m for m in published if isinstance(m, GapEvent)]
    assert [f.segment_id for f in finals] == list(range(46))  # oldest first, in order
    assert {f.status for f in finals} == {"audio_lost"}
    assert len(gaps) == 46 and {g.reason for g in gaps} == {"queue_full"}
    assert s.stats().segments_dropped == 46
