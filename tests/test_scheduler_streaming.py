"""The segment scheduler in streaming mode (stateful parakeet sessions owned by one worker)."""

from __future__ import annotations

import pytest

from pipeline.messages.transcripts import SpeechEvent, TranscriptFinal, TranscriptPartial
from pipeline.messages.work import StreamClose, StreamFeed, StreamOpen
from tests.test_scheduler_fakes import (
    SR,
    ended,
    error,
    ongoing,
    scheduler,
    spoken,
    started,
    update,
)


def only(assignments: list) -> tuple[str, object]:
    assert len(assignments) == 1, assignments
    return assignments[0]


def opened(s, segment_id: int = 0, start_s: float = 0.0, role: str = "w1", stream: str = "mic"):
    """Start a segment and open its session on ``role``; returns the session id."""
    s.speech_started(started(segment_id, start_s, stream), start_s)
    got_role, message = only(s.dispatch([role], start_s))
    assert got_role == role and isinstance(message, StreamOpen)
    assert s.on_reply(role, update(message.session_id, segment_id, stream=stream), start_s) == []
    return message.session_id


def test_open_feed_close_flow_with_partials_and_one_final() -> None:
    s = scheduler(streaming=True)
    s.speech_started(started(0, 1.0), 1.0)
    role, message = only(s.dispatch(["w1", "w2"], 1.0))
    assert isinstance(message, StreamOpen)
    assert (message.start_index, message.ring_name, message.segment_id) == (SR, "ss-1-mic", 0)
    sid = message.session_id
    assert s.on_reply(role, update(sid, 0), 1.1) == []  # nothing heard yet: no partial

    s.speech_ongoing(ongoing(0, 1.0, 2.0), 2.0)
    assert s.dispatch(["w2"], 2.0) == []  # only the owner gets the session's feed
    role, feed = only(s.dispatch(["w2", "w1"], 2.0))
    assert role == "w1" and isinstance(feed, StreamFeed)
    assert (feed.session_id, feed.start_index, feed.end_index) == (sid, SR, 2 * SR)
    (partial,) = s.on_reply(
        "w1", update(sid, 0, spoken("hello"), spoken("wor", 0.4), 1.3 * SR), 2.2
    )
    assert isinstance(partial, TranscriptPartial)
    assert (partial.stable, partial.unstable, partial.revision) == ("hello", "wor", 0)
    assert (partial.start_s, partial.end_s) == (1.0, 2.0)

    assert s.speech_ended(ended(0, 1.0, 3.0), 3.0) == [SpeechEvent("mic", 0, "ended", 3.0)]
    role, close = only(s.dispatch(["w1"], 3.0))
    assert isinstance(close, StreamClose) and close.end_index == 3 * SR
    (final,) = s.on_reply(
        "w1", update(sid, 0, spoken("hello world"), finalized_index=2 * SR, is_final=True), 3.4
    )
    assert isinstance(final, TranscriptFinal)
    assert (final.text, final.seq, final.start_s, final.end_s) == ("hello world", 1, 1.0, 3.0)
    assert final.words[1].start_s == pytest.approx(1.4)  # stream seconds
    assert final.latency_ms == pytest.approx(400.0)
    assert final.backend == "parakeet"
    assert s.idle()


def test_feeds_are_coalesced_to_the_newest_index() -> None:
    s = scheduler(streaming=True)
    sid = opened(s)
    s.speech_ongoing(ongoing(0, 0.0, 1.0), 1.0)
    _, feed = only(s.dispatch(["w1"], 1.0))
    for t in (2.0, 3.0, 4.0):
        s.speech_ongoing(ongoing(0, 0.0, t), t)
        assert s.dispatch(["w1"], t) == []  # its feed is still in flight
    assert s.queue_depths()["sessions"] == 0  # nothing sendable while busy
    s.on_reply("w1", update(sid, 0), 4.1)
    assert s.queue_depths()["sessions"] == 1
    _, next_feed = only(s.dispatch(["w1"], 4.1))
    assert (next_feed.start_index, next_feed.end_index) == (feed.end_index, 4 * SR)
    assert s.stats().requests_sent == 3  # open + 2 feeds


def test_close_replaces_a_pending_feed_and_late_feed_partial_is_stale() -> None:
    s = scheduler(streaming=True)
    sid = opened(s)
    s.speech_ongoing(ongoing(0, 0.0, 1.0), 1.0)
    _, _feed = only(s.dispatch(["w1"], 1.0))
    s.speech_ongoing(ongoing(0, 0.0, 2.0), 2.0)
    s.speech_ended(ended(0, 0.0, 2.5), 2.5)
    assert s.on_reply("w1", update(sid, 0, spoken("late")), 2.6) == []  # the final is coming
    assert s.stats().partials_stale == 1
    _, close = only(s.dispatch(["w1"], 2.6))
    assert isinstance(close, StreamClose) and close.end_index == round(2.5 * SR)


def test_requests_go_only_to_the_owner_and_opens_to_the_least_loaded() -> None:
    s = scheduler(streaming=True)
    sid = opened(s, role="w1")
    s.speech_ongoing(ongoing(0, 0.0, 1.0), 1.0)
    s.speech_started(started(0, 0.5, "room"), 1.0)
    # w1 owns mic's session and serves its feed; room's open goes to the other idle worker.
    assignments = dict(s.dispatch(["w1", "w2"], 1.0))
    assert isinstance(assignments["w1"], StreamFeed) and assignments["w1"].session_id == sid
    assert isinstance(assignments["w2"], StreamOpen) and assignments["w2"].stream_id == "room"

    s2 = scheduler(streaming=True)
    opened(s2, role="w1")
    s2.speech_started(started(0, 0.5, "room"), 1.0)
    role, message = only(s2.dispatch(["w1", "w2"], 1.0))  # w1 owns one, w2 none
    assert role == "w2" and isinstance(message, StreamOpen)


def test_closes_before_feeds_on_one_owner() -> None:
    s = scheduler(streaming=True)
    mic = opened(s, role="w1")
    opened(s, 0, 0.0, role="w1", stream="room")
    s.speech_ongoing(ongoing(0, 0.0, 2.0, "room"), 2.0)
    s.speech_ended(ended(0, 0.0, 2.0), 2.0)
    _role, message = only(s.dispatch(["w1"], 2.0))
    assert isinstance(message, StreamClose) and message.session_id == mic
    s.on_reply("w1", update(mic, 0, is_final=True), 2.1)
    _, message = only(s.dispatch(["w1"], 2.1))
    assert isinstance(message, StreamFeed)


def test_open_waits_for_a_worker_and_an_ended_segment_still_opens_then_closes() -> None:
    s = scheduler(streaming=True)
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 1.0), 1.0)
    s.speech_ended(ended(0, 0.0, 1.5), 1.5)
    assert s.queue_depths()["sessions"] == 1
    assert s.oldest_needed_index("mic") == 0
    role, message = only(s.dispatch(["w2"], 2.0))
    assert isinstance(message, StreamOpen)
    s.on_reply(role, update(message.session_id, 0), 2.1)
    _, close = only(s.dispatch(["w2"], 2.1))
    assert isinstance(close, StreamClose) and close.end_index == round(1.5 * SR)
    (final,) = s.on_reply(role, update(close.session_id, 0, spoken("hi"), is_final=True), 2.2)
    assert final.text == "hi"


def test_owner_lost_reopens_elsewhere_from_the_last_finalized_index() -> None:
    s = scheduler(streaming=True)
    sid = opened(s, start_s=1.0, role="w1")
    s.speech_ongoing(ongoing(0, 1.0, 3.0), 3.0)
    _, feed = only(s.dispatch(["w1"], 3.0))
    # Finalized "one two" (ending 0.7 s into the session, index 1.7 s), draft "thr".
    s.on_reply("w1", update(sid, 0, spoken("one two"), spoken("thr", 0.8), 1.7 * SR), 3.1)
    assert s.oldest_needed_index("mic") == round(1.7 * SR)
    s.speech_ongoing(ongoing(0, 1.0, 4.0), 4.0)
    _, feed = only(s.dispatch(["w1"], 4.0))
    assert s.in_flight() == {"w1": feed}
    assert s.worker_lost("w1", 4.5) == []
    assert s.in_flight() == {}
    s2_role, reopen = only(s.dispatch(["w2"], 4.6))
    assert isinstance(reopen, StreamOpen) and s2_role == "w2"
    assert reopen.session_id != sid
    assert reopen.start_index == round(1.7 * SR)
    new_sid = reopen.session_id
    s.on_reply("w2", update(new_sid, 0), 4.7)
    _, refeed = only(s.dispatch(["w2"], 4.7))
    assert (refeed.start_index, refeed.end_index) == (round(1.7 * SR), 4 * SR)
    (partial,) = s.on_reply("w2", update(new_sid, 0, spoken("three"), spoken("fo", 0.5)), 4.8)
    assert (partial.stable, partial.unstable) == ("one two three", "fo")
    # A late update of the old session is recognised and dropped.
    assert s.on_reply("w1", update(sid, 0, spoken("one two bogus")), 4.9) == []
    assert s.stats().duplicates_dropped == 1
    s.speech_ended(ended(0, 1.0, 5.0), 5.0)
    role, close = only(s.dispatch(["w1", "w2"], 5.0))
    assert role == "w2" and close.session_id == new_sid
    (final,) = s.on_reply("w2", update(new_sid, 0, spoken("three four"), is_final=True), 5.5)
    assert final.text == "one two three four"
    assert final.words[2].start_s == pytest.approx(1.7)  # re-based on the reopen index
    assert s.stats().retries == 1


def test_every_session_of_a_lost_worker_is_reopened() -> None:
    s = scheduler(streaming=True)
    mic = opened(s, role="w1")
    opened(s, 0, 0.0, role="w1", stream="room")
    s.speech_ongoing(ongoing(0, 0.0, 1.0), 1.0)
    _, feed = only(s.dispatch(["w1"], 1.0))
    assert feed.session_id == mic
    s.worker_lost("w1", 1.5)
    opens = s.dispatch(["w2", "w3"], 1.6)
    assert sorted(type(m).__name__ for _, m in opens) == ["StreamOpen", "StreamOpen"]
    assert {m.stream_id for _, m in opens} == {"mic", "room"}
    assert s.stats().retries == 2


def test_worker_restarted_while_idle_reopens_its_sessions() -> None:
    s = scheduler(streaming=True)
    sid = opened(s, role="w1")
    assert s.worker_lost("w2", 1.0) == []  # owns nothing
    assert s.worker_lost("w1", 1.0) == []
    _role, message = only(s.dispatch(["w1"], 1.1))  # the new process may take it
    assert isinstance(message, StreamOpen) and message.session_id != sid


def test_unknown_session_error_reopens_and_retryable_error_resends() -> None:
    s = scheduler(streaming=True)
    sid = opened(s, role="w1")
    s.speech_ongoing(ongoing(0, 0.0, 1.0), 1.0)
    _, feed = only(s.dispatch(["w1"], 1.0))
    s.on_reply("w1", error(sid, "ring", retryable=True), 1.1)
    _, again = only(s.dispatch(["w1"], 1.2))
    assert again == feed  # the same range to the same owner
    s.on_reply("w1", error(sid, "unknown_session", retryable=False), 1.3)
    _, reopen = only(s.dispatch(["w2"], 1.4))
    assert isinstance(reopen, StreamOpen) and reopen.start_index == 0
    assert s.stats().retries == 2


def test_non_retryable_session_error_gives_a_final_of_the_words_so_far() -> None:
    s = scheduler(streaming=True)
    sid = opened(s, role="w1")
    s.speech_ongoing(ongoing(0, 0.0, 2.0), 2.0)
    only(s.dispatch(["w1"], 2.0))
    s.on_reply("w1", update(sid, 0, spoken("kept words"), finalized_index=SR), 2.1)
    s.speech_ongoing(ongoing(0, 0.0, 3.0), 3.0)
    only(s.dispatch(["w1"], 3.0))
    assert s.on_reply("w1", error(sid, "ring_overrun", retryable=False), 3.1) == []
    s.speech_ongoing(ongoing(0, 0.0, 4.0), 4.0)
    assert s.dispatch(["w1"], 4.0) == []  # given up: no more feeds
    out = s.speech_ended(ended(0, 0.0, 4.5), 4.5)
    final = out[-1]
    assert isinstance(final, TranscriptFinal) and final.text == "kept words"
    assert s.stats().finals_failed == 1 and s.idle()


def test_repeated_loss_gives_up_after_max_attempts() -> None:
    s = scheduler(streaming=True, max_attempts=2)
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 1.0), 0.5)
    _, first = only(s.dispatch(["w1"], 1.0))
    assert s.in_flight() == {"w1": first}
    assert s.worker_lost("w1", 1.1) == []
    _, second = only(s.dispatch(["w2"], 1.2))
    assert s.in_flight() == {"w2": second}
    (final,) = s.worker_lost("w2", 1.3)
    assert final.text == "" and s.stats().finals_failed == 1 and s.idle()


def test_streaming_finals_keep_segment_order() -> None:
    s = scheduler(streaming=True)
    a = opened(s, 0, 0.0, role="w1")
    s.speech_ended(ended(0, 0.0, 1.0), 1.0)
    b = opened(s, 1, 2.0, role="w2")
    s.speech_ended(ended(1, 2.0, 3.0), 3.0)
    closes = dict(s.dispatch(["w1", "w2"], 3.0))
    assert closes["w1"].session_id == a and closes["w2"].session_id == b
    assert s.on_reply("w2", update(b, 1, spoken("second"), is_final=True), 3.5) == []
    out = s.on_reply("w1", update(a, 0, spoken("first"), is_final=True), 4.0)
    assert [(f.text, f.seq) for f in out] == [("first", 1), ("second", 2)]


def test_long_sessions_keep_words_the_worker_no_longer_resends() -> None:
    s = scheduler(streaming=True)
    sid = opened(s, role="w1")
    s.speech_ongoing(ongoing(0, 0.0, 2.0), 2.0)
    only(s.dispatch(["w1"], 2.0))
    s.on_reply("w1", update(sid, 0, spoken("a b c d")), 2.1)
    s.speech_ongoing(ongoing(0, 0.0, 3.0), 3.0)
    only(s.dispatch(["w1"], 3.0))
    # The worker sends only its newest finalized words: "c d e".
    (partial,) = s.on_reply("w1", update(sid, 0, spoken("c d e", 0.8)), 3.1)
    assert partial.stable == "a b c d e"


def test_vad_restart_abandons_an_open_session() -> None:
    s = scheduler(streaming=True)
    sid = opened(s, role="w1")
    s.speech_ongoing(ongoing(0, 0.0, 1.0), 1.0)
    only(s.dispatch(["w1"], 1.0))
    s.vad_restarted("mic")
    assert s.on_reply("w1", update(sid, 0, spoken("x")), 1.1) == []
    s.speech_started(started(1, 0.0), 1.2)
    _, message = only(s.dispatch(["w1"], 1.2))
    assert isinstance(message, StreamOpen) and message.segment_id == 1


def test_empty_streaming_segment_needs_no_session() -> None:
    s = scheduler(streaming=True)
    s.speech_started(started(0, 1.0), 1.0)
    out = s.speech_ended(ended(0, 1.0, 1.0), 1.0)
    assert isinstance(out[-1], TranscriptFinal) and out[-1].text == ""
    assert s.dispatch(["w1"], 1.0) == [] and s.idle()
