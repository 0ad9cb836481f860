"""The scheduler core with several streams: fair dispatch, the open segment's one owner (ending
it at shutdown or stream.close), shedding partials, forgetting a closed stream, lag."""

from __future__ import annotations

from pipeline.messages.transcripts import TranscriptFinal
from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.chunked import ChunkedSegments
from pipeline.scheduling.partials import Partials
from tests.test_scheduler_fakes import RINGS, SR, ended, ongoing, options, result, started


def finals_only() -> SegmentScheduler:
    return SegmentScheduler(options(), RINGS, work=(ChunkedSegments(),))


def test_among_finals_the_earliest_end_of_speech_goes_first_across_streams() -> None:
    s = finals_only()
    s.speech_started(started(0, 0.0, "mic"), 0.0)  # started first, still speaking
    s.speech_started(started(0, 1.0, "room"), 1.0)
    s.speech_ended(ended(0, 1.0, 2.0, "room"), 2.0)  # ended first
    s.speech_ended(ended(0, 0.0, 6.0, "mic"), 6.0)
    first, second = s.dispatch(["w1", "w2"], 6.0)
    assert first[1].stream_id == "room" and second[1].stream_id == "mic"


def test_ending_the_open_segment_publishes_its_words_under_its_real_id() -> None:
    s = finals_only()
    for segment_id in range(3):  # later segments: ids past 0
        s.speech_started(started(segment_id, segment_id * 5.0), segment_id * 5.0)
        if segment_id < 2:
            s.speech_ended(ended(segment_id, segment_id * 5.0, segment_id * 5.0 + 2), 1.0)
    for role, request in s.dispatch(["w1", "w2"], 12.0):
        s.on_reply(role, result(request, "earlier"), 12.0)
    assert s.open_segment_start("mic") == 10 * SR
    out = s.end_open_segment("mic", 12 * SR, 12.0)  # where the VAD had read
    assert [m.kind for m in out] == ["event.speech"]  # ended; its final follows its work
    ((role, request),) = s.dispatch(["w1"], 12.0)
    assert (request.segment_id, request.start_index, request.end_index) == (2, 10 * SR, 12 * SR)
    (final,) = s.on_reply(role, result(request, "spoken before the signal"), 12.5)
    assert isinstance(final, TranscriptFinal) and final.segment_id == 2
    assert final.text == "spoken before the signal" and s.idle()
    assert s.end_open_segment("mic", 13 * SR, 13.0) == []  # nothing open: nothing to end


def test_shed_partials_holds_them_back_then_keeps_a_trickle_and_finals_go() -> None:
    """Shedding (the adaptation's first level) starts by holding partials back (the account
    starts at its lowest) and then lets them fill only SHED_SHARE of the pool: they come rarely
    but still come, so a continuous stream still commits; finals go at once throughout."""
    s = SegmentScheduler(options(), RINGS, work=(ChunkedSegments(), Partials()))
    s.speech_started(started(0, 0.0, "mic"), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 3.0, "mic"), 3.0)
    assert s.dispatch(["w1", "w2"], 3.0, shed_partials=True) == []
    assert s.stats().partials_shed == 1 and s.stats().partials_requested == 0
    s.speech_started(started(0, 0.0, "room"), 3.0)
    s.speech_ended(ended(0, 0.0, 2.0, "room"), 3.0)
    ((role, request),) = s.dispatch(["w1", "w2"], 3.1, shed_partials=True)
    assert not request.is_partial and request.stream_id == "room"
    s.on_reply(role, result(request, "two"), 3.2)  # a final's time is not the partials'
    assert s.dispatch(["w1", "w2"], 4.9, shed_partials=True) == []  # -1 + 0.5/s x 1.9 s
    ((role, partial),) = s.dispatch(["w1", "w2"], 5.1, shed_partials=True)  # +0.05: goes
    assert partial.is_partial and partial.stream_id == "mic"
    s.on_reply(role, result(partial, "one"), 7.1)  # 2 s on one worker: -1 again
    s.speech_ongoing(ongoing(0, 0.0, 7.1, "mic"), 7.1)
    assert s.dispatch(["w1", "w2"], 7.1, shed_partials=True) == []
    ((_, partial),) = s.dispatch(["w1", "w2"], 7.2)  # shedding over: the normal budget


def test_a_closed_stream_is_forgotten_once_nothing_of_it_is_pending() -> None:
    s = finals_only()
    s.add_stream("s1", "ss-1-s1")
    s.speech_started(started(0, 0.0, "s1"), 0.0)
    s.end_open_segment("s1", 2 * SR, 2.0)
    assert s.stream_pending("s1") and s.final_lag_s("s1", 3.5) == 1.5
    ((role, request),) = s.dispatch(["w1"], 3.5)
    s.on_reply(role, result(request, "last words"), 4.0)
    assert not s.stream_pending("s1") and s.final_lag_s("s1", 4.0) == 0.0
    sizes_before = s.sizes()["streams_known"]
    s.remove_stream("s1")
    assert s.sizes()["streams_known"] == sizes_before - 1
    assert s.speech_started(started(1, 5.0, "s1"), 5.0) == []  # unknown stream now: refused
    assert s.idle()
