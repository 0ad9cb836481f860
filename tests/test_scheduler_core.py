"""The scheduler core with its strategies: choosing the kinds of work, and committed prefixes.

``SegmentScheduler.commit`` is the hook a "commit while speaking" strategy uses: a stable prefix
of an open segment becomes a final of its own (own seq, disjoint time range, in stream order),
and the segment's own final covers only the rest.
"""

from __future__ import annotations

import pytest

from pipeline.messages.transcripts import TranscriptFinal, TranscriptPartial
from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.chunked import ChunkedSegments
from pipeline.scheduling.partials import Partials
from pipeline.scheduling.sessions import StreamedSessions
from tests.test_scheduler_fakes import (
    RINGS,
    SR,
    ended,
    ongoing,
    options,
    result,
    scheduler,
    spoken,
    started,
)


def test_the_kinds_of_work_are_chosen_by_the_caller() -> None:
    s = SegmentScheduler(options(), RINGS, work=(ChunkedSegments(),))  # finals only
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 3.0), 3.0)
    assert s.dispatch(["w"], 3.0) == []  # no partials without the Partials kind
    s.speech_ended(ended(0, 0.0, 3.5), 3.5)
    ((role, request),) = s.dispatch(["w"], 3.5)
    (final,) = s.on_reply(role, result(request, "only finals"), 4.0)
    assert final.text == "only finals" and s.idle()
    with pytest.raises(ValueError, match="exactly one FinalWork"):
        SegmentScheduler(options(), RINGS, work=(Partials(),))
    with pytest.raises(ValueError, match="exactly one FinalWork"):
        SegmentScheduler(options(), RINGS, work=(ChunkedSegments(), StreamedSessions()))


def test_a_committed_prefix_is_a_final_of_its_own_and_the_rest_follows() -> None:
    s = scheduler()
    s.speech_started(started(0, 1.0), 1.0)
    s.speech_ongoing(ongoing(0, 1.0, 6.0), 6.0)
    segment = s.segment(("mic", 0))
    assert segment is not None
    (part,) = s.commit(segment, 4 * SR, spoken("one two three", 1.2), 6.1)
    assert isinstance(part, TranscriptFinal)
    assert (part.seq, part.segment_id, part.start_s, part.end_s) == (1, 0, 1.0, 4.0)
    assert part.text == "one two three"
    # its last audio (4.0 s) was heard 2 s of speech before the newest (6.0 s, known at 6.0)
    assert part.latency_ms == pytest.approx(2100.0)
    assert s.oldest_needed_index("mic") == 4 * SR  # committed audio is no longer needed
    ((role, partial_request),) = s.dispatch(["w"], 6.2)
    assert partial_request.start_index == 4 * SR  # partials cover only what is uncommitted
    (partial,) = s.on_reply(role, result(partial_request, "four"), 6.3)
    assert isinstance(partial, TranscriptPartial) and partial.start_s == 4.0
    s.speech_ended(ended(0, 1.0, 7.0), 7.0)
    ((role, request),) = s.dispatch(["w"], 7.0)
    assert (request.start_index, request.end_index) == (4 * SR, 7 * SR)
    assert request.prompt == "one two three"  # prompted with the committed text
    (rest,) = s.on_reply(role, result(request, "four five"), 7.5)
    assert (rest.seq, rest.start_s, rest.end_s, rest.text) == (2, 4.0, 7.0, "four five")
    assert s.stats().finals_published == 2 and s.idle()


def test_a_committed_part_of_a_file_played_fast_counts_from_the_segment_start() -> None:
    """Audio arriving faster than speaking pace: a part's latency is never counted from
    before its segment opened at the scheduler."""
    s = scheduler()
    s.speech_started(started(0, 1.0), 10.0)
    s.speech_ongoing(ongoing(0, 1.0, 20.0), 10.5)  # 19 s of audio in half a second
    segment = s.segment(("mic", 0))
    assert segment is not None
    (part,) = s.commit(segment, 4 * SR, spoken("one two three", 1.2), 11.0)
    assert part.latency_ms == pytest.approx(1000.0)  # from 10.0, not from 10.5 - 16 s


def test_a_committed_prefix_waits_for_the_earlier_segments_of_its_stream() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 2.0), 2.0)
    ((role, first),) = s.dispatch(["w"], 2.0)
    s.speech_started(started(1, 3.0), 3.0)
    s.speech_ongoing(ongoing(1, 3.0, 6.0), 6.0)
    segment = s.segment(("mic", 1))
    assert segment is not None
    assert s.commit(segment, 5 * SR, spoken("held part", 3.0), 6.0) == []
    assert s.queue_depths()["held"] == 1
    out = s.on_reply(role, result(first, "first"), 6.5)
    assert [(f.segment_id, f.seq, f.text) for f in out] == [(0, 1, "first"), (1, 2, "held part")]
    s.vad_restarted("mic")  # the rest of segment 1 is abandoned: no final of its own
    assert s.stats().segments_abandoned == 1 and s.idle()


def test_an_abandoned_segment_still_publishes_its_held_parts_in_turn() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 2.0), 2.0)
    ((role, first),) = s.dispatch(["w"], 2.0)
    s.speech_started(started(1, 3.0), 3.0)
    s.speech_ongoing(ongoing(1, 3.0, 6.0), 6.0)
    segment = s.segment(("mic", 1))
    assert segment is not None
    s.commit(segment, 5 * SR, spoken("kept", 3.0), 6.0)
    s.vad_restarted("mic")
    out = s.on_reply(role, result(first, "first"), 6.5)
    assert [(f.segment_id, f.text) for f in out] == [(0, "first"), (1, "kept")]
    assert s.idle() and s.queue_depths()["held"] == 0


def test_commit_refuses_a_cut_outside_the_uncommitted_audio() -> None:
    s = scheduler()
    s.speech_started(started(0, 1.0), 1.0)
    s.speech_ongoing(ongoing(0, 1.0, 3.0), 3.0)
    segment = s.segment(("mic", 0))
    assert segment is not None
    with pytest.raises(ValueError, match="outside"):
        s.commit(segment, 4 * SR, (), 3.0)  # beyond the newest audio
    with pytest.raises(ValueError, match="outside"):
        s.commit(segment, 1 * SR, (), 3.0)  # nothing to commit
    s.speech_ended(ended(0, 1.0, 3.0), 3.0)
    with pytest.raises(ValueError, match="not an open segment"):
        s.commit(segment, 2 * SR, (), 3.0)
