"""The segment scheduler in request mode (Whisper): finals, chunks, partials, retries, order."""

from __future__ import annotations

import itertools

import pytest

from pipeline.merging import merged_text
from pipeline.messages.transcripts import SpeechEvent, TranscriptFinal, TranscriptPartial
from pipeline.messages.work import TranscribeRequest
from pipeline.words import Word
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
)


def only(assignments: list) -> tuple[str, TranscribeRequest]:
    assert len(assignments) == 1, assignments
    role, request = assignments[0]
    assert isinstance(request, TranscribeRequest)
    return role, request


def finals(messages: list) -> list[TranscriptFinal]:
    return [m for m in messages if isinstance(m, TranscriptFinal)]


def test_short_segment_is_one_request_and_one_final() -> None:
    s = scheduler()
    assert s.speech_started(started(0, 1.0), 10.0) == [SpeechEvent("mic", 0, "started", 1.0)]
    assert s.speech_ended(ended(0, 1.0, 4.0), 13.0) == [SpeechEvent("mic", 0, "ended", 4.0)]
    role, request = only(s.dispatch(["asr-1"], 13.0))
    assert role == "asr-1"
    assert (request.start_index, request.end_index) == (1 * SR, 4 * SR)
    assert (request.chunk_index, request.chunk_count, request.is_partial) == (0, 1, False)
    assert request.ring_name == "ss-1-mic" and request.prompt == ""

    out = s.on_reply("asr-1", result(request, "hello there world"), 13.5)
    (final,) = out
    assert isinstance(final, TranscriptFinal)
    assert (final.stream_id, final.segment_id, final.seq) == ("mic", 0, 1)
    assert (final.start_s, final.end_s) == (1.0, 4.0)
    assert final.text == "hello there world"
    assert final.words[0].start_s == pytest.approx(1.0)  # shifted to stream seconds
    assert final.words[2].start_s == pytest.approx(1.8)
    assert final.latency_ms == pytest.approx(500.0)  # from the SpeechEnded arrival
    assert (final.backend, final.model) == ("whisper", "test-model")
    assert s.idle()
    assert s.stats().finals_published == 1


def test_finals_go_out_before_partials() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0, "room"), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 3.0, "room"), 3.0)  # a partial is due
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 2.0), 3.0)  # a final is queued
    _, request = only(s.dispatch(["asr-1"], 3.0))
    assert not request.is_partial and request.stream_id == "mic"
    assert s.queue_depths()["partials"] == 1

    s2 = scheduler()
    s2.speech_started(started(0, 0.0, "room"), 0.0)
    s2.speech_ongoing(ongoing(0, 0.0, 3.0, "room"), 3.0)
    s2.speech_started(started(0, 0.0), 0.0)
    s2.speech_ended(ended(0, 0.0, 2.0), 3.0)
    assignments = s2.dispatch(["asr-1", "asr-2"], 3.0)
    assert [(role, r.is_partial, r.stream_id) for role, r in assignments] == [
        ("asr-1", False, "mic"),
        ("asr-2", True, "room"),
    ]


def test_earliest_end_of_speech_first_across_streams() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0, "room"), 0.0)
    s.speech_started(started(0, 0.5, "mic"), 0.5)
    s.speech_ended(ended(0, 0.5, 2.0, "mic"), 2.0)  # mic ends first but started later
    s.speech_ended(ended(0, 0.0, 3.0, "room"), 3.0)
    assignments = s.dispatch(["a", "b"], 3.0)
    assert [r.stream_id for _, r in assignments] == ["mic", "room"]  # issue 11: by end


def test_partial_cadence_min_audio_and_interval() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 0.5), 0.5)
    assert s.dispatch(["w"], 0.5) == []  # less than partial_min_audio_s
    s.speech_ongoing(ongoing(0, 0.0, 1.2), 1.2)
    _, p1 = only(s.dispatch(["w"], 1.2))
    assert p1.is_partial and (p1.start_index, p1.end_index) == (0, round(1.2 * SR))
    s.on_reply("w", result(p1, "hello"), 1.4)
    s.speech_ongoing(ongoing(0, 0.0, 1.8), 1.8)
    assert s.dispatch(["w"], 1.8) == []  # interval not over
    _, p2 = only(s.dispatch(["w"], 2.2))
    assert p2.end_index == round(1.8 * SR) and p2.request_id != p1.request_id
    s.on_reply("w", result(p2, "hello world"), 2.3)
    assert s.dispatch(["w"], 5.0) == []  # no new audio since the last partial
    assert s.stats().partials_requested == 2 and s.stats().partials_published == 2


def test_one_partial_in_flight_per_stream_and_newest_audio_only() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 2.0), 2.0)
    _, p1 = only(s.dispatch(["w1"], 2.0))
    for t in (3.0, 4.0, 5.0):  # newer audio while the partial is in flight
        s.speech_ongoing(ongoing(0, 0.0, t), t)
    assert s.dispatch(["w2"], 5.0) == []  # one partial per stream in flight
    s.on_reply("w1", result(p1, "one"), 5.1)
    _, p2 = only(s.dispatch(["w2"], 5.1))
    assert p2.end_index == 5 * SR  # the newest audio, not the ones in between
    assert s.stats().partials_requested == 2


def test_partial_after_segment_end_is_dropped_as_stale() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 2.0), 2.0)
    _, partial = only(s.dispatch(["w1"], 2.0))
    s.speech_ended(ended(0, 0.0, 2.5), 2.5)
    _, final_request = only(s.dispatch(["w2"], 2.5))
    assert s.on_reply("w1", result(partial, "hel"), 2.6) == []
    assert s.stats().partials_stale == 1
    (final,) = s.on_reply("w2", result(final_request, "hello"), 2.7)
    assert final.text == "hello"


def test_local_agreement_stable_prefix_grows_across_partials() -> None:
    s = scheduler()
    s.speech_started(started(0, 2.0), 0.0)
    hypotheses = ["the quick", "the quick brown fox", "the quick brown fox jumps over"]
    partials: list[TranscriptPartial] = []
    for n, text in enumerate(hypotheses, start=1):
        now = 2.0 * n
        s.speech_ongoing(ongoing(0, 2.0, 2.0 + now), now)
        role, request = only(s.dispatch(["w"], now))
        partials.extend(s.on_reply(role, result(request, text), now + 0.1))
    assert [p.revision for p in partials] == [0, 1, 2]
    assert [p.stable for p in partials] == ["", "the quick", "the quick brown fox"]
    assert [p.unstable for p in partials] == ["the quick", "brown fox", "jumps over"]
    assert all(p.start_s == 2.0 for p in partials)
    assert partials[-1].end_s == 8.0


def test_partial_of_long_segment_covers_the_last_window() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 45.0), 45.0)
    _, request = only(s.dispatch(["w"], 45.0))
    assert (request.start_index, request.end_index) == (15 * SR, 45 * SR)


def test_long_segment_is_chunked_and_merged_into_one_final() -> None:
    s = scheduler()
    script = spoken(" ".join(f"w{i}" for i in range(58)), start_s=0.2, pitch_s=0.4)
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 24.0), 24.0)
    assignments = s.dispatch(["a", "b", "c", "d"], 24.0)
    requests = [r for _, r in assignments]
    assert len(requests) == 3 and all(r.chunk_count == 3 for r in requests)
    # equal chunks of at most chunk_duration_s (10 s here), overlapping by 2 s, covering it all
    spans = [(r.start_index / SR, r.end_index / SR) for r in requests]
    assert spans[0][0] == 0.0 and spans[-1][1] == 24.0
    assert all(abs((end - start) - 28.0 / 3) < 0.01 for start, end in spans)
    assert all(abs(a[1] - b[0] - 2.0) < 0.01 for a, b in itertools.pairwise(spans))
    out = []
    for role, request in reversed(assignments):  # results in any order
        lo, hi = request.start_index / SR, request.end_index / SR
        heard = tuple(
            w.shifted(-lo) for w in script if w.start_s >= lo - 0.01 and w.end_s <= hi + 0.01
        )
        out += s.on_reply(role, result_words(request, heard), 25.0)
    (final,) = finals(out)
    assert final.text == merged_text(script)
    assert [w.text for w in final.words] == [w.text for w in script]


def test_chunks_on_two_workers_complete_out_of_order() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 24.0), 24.0)
    first = s.dispatch(["a", "b"], 24.0)
    assert [r.chunk_index for _, r in first] == [0, 1]
    assert s.queue_depths()["finals"] == 1
    assert s.on_reply("b", result(first[1][1], "middle"), 25.0) == []
    role, last = only(s.dispatch(["b"], 25.0))
    assert last.chunk_index == 2
    assert s.on_reply(role, result(last, "end"), 26.0) == []
    out = s.on_reply("a", result(first[0][1], "start"), 27.0)
    (final,) = finals(out)
    assert final.text == "start middle end"
    assert s.idle()


def test_lost_worker_request_is_sent_again_and_final_published_once() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 3.0), 3.0)
    _, first = only(s.dispatch(["asr-1"], 3.0))
    assert s.in_flight() == {"asr-1": first}
    assert s.worker_lost("asr-1", 4.0) == []
    assert s.in_flight() == {}
    role, again = only(s.dispatch(["asr-2"], 4.0))
    assert role == "asr-2"
    assert (again.chunk_index, again.start_index, again.end_index) == (0, 0, 3 * SR)
    assert again.request_id != first.request_id
    (final,) = s.on_reply("asr-2", result(again, "hello"), 5.0)
    assert final.text == "hello"
    assert s.on_reply("asr-1", result(first, "hello"), 5.5) == []  # late reply of attempt 1
    stats = s.stats()
    assert (stats.retries, stats.duplicates_dropped, stats.finals_published) == (1, 1, 1)
    assert s.worker_lost("asr-2", 6.0) == []  # already answered: nothing to redo


def test_duplicate_reply_of_a_finished_chunk_is_dropped() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 24.0), 24.0)
    assignments = s.dispatch(["a", "b", "c"], 24.0)
    role, request = assignments[0]
    assert s.on_reply(role, result(request, "x"), 25.0) == []
    assert s.on_reply(role, result(request, "x"), 25.1) == []
    assert s.stats().duplicates_dropped == 1


def test_retryable_error_is_retried_up_to_max_attempts_then_empty_final() -> None:
    s = scheduler(max_attempts=3)
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 3.0), 3.0)
    ids = []
    out: list = []
    for attempt in range(3):
        _, request = only(s.dispatch(["w"], 3.0 + attempt))
        ids.append(request.request_id)
        out = s.on_reply("w", error(request.request_id, "backend"), 3.5 + attempt)
    assert len(set(ids)) == 3
    (final,) = out
    assert final.text == "" and final.words == ()
    stats = s.stats()
    assert (stats.retries, stats.chunks_failed, stats.finals_failed) == (2, 1, 1)
    assert s.idle()


def test_non_retryable_error_gives_an_empty_final_at_once() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 3.0), 3.0)
    _, request = only(s.dispatch(["w"], 3.0))
    (final,) = s.on_reply("w", error(request.request_id, "ring_overrun", retryable=False), 4.0)
    assert (final.text, final.seq, final.start_s, final.end_s) == ("", 1, 0.0, 3.0)
    stats = s.stats()
    assert (stats.retries, stats.finals_failed, stats.finals_empty) == (0, 1, 1)


def test_failed_chunk_keeps_the_words_of_the_others() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 24.0), 24.0)
    a, b, c = (r for _, r in s.dispatch(["a", "b", "c"], 24.0))
    s.on_reply("a", error(a.request_id, "ring_overrun", retryable=False), 25.0)
    s.on_reply("b", result_words(b, spoken("middle", 3.0)), 25.0)
    (final,) = s.on_reply("c", result_words(c, spoken("end", 5.0)), 25.0)
    assert final.text == "middle end"
    assert s.stats().finals_failed == 1


def test_empty_segment_gets_an_empty_final_without_work() -> None:
    s = scheduler()
    s.speech_started(started(0, 1.0), 1.0)
    out = s.speech_ended(ended(0, 1.0, 1.0), 1.0)
    assert isinstance(out[0], SpeechEvent)
    assert finals(out)[0].text == "" and s.idle()


def test_silence_result_gives_an_empty_final() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 2.0), 2.0)
    _, request = only(s.dispatch(["w"], 2.0))
    (final,) = s.on_reply("w", result_words(request, ()), 2.5)
    assert final.text == "" and s.stats().finals_empty == 1


def test_finals_held_for_segment_order_and_seq_is_contiguous() -> None:
    s = scheduler()
    s.speech_started(started(6, 0.0), 0.0)
    s.speech_ended(ended(6, 0.0, 2.0), 2.0)
    s.speech_started(started(7, 3.0), 3.0)
    s.speech_ended(ended(7, 3.0, 4.0), 4.0)
    s.speech_started(started(0, 0.0, "room"), 0.0)
    s.speech_ended(ended(0, 0.0, 1.0, "room"), 4.0)
    by_segment = {(r.stream_id, r.segment_id): (role, r) for role, r in s.dispatch(list("abc"), 4)}
    role, seven = by_segment["mic", 7]
    assert s.on_reply(role, result(seven, "seven"), 5.0) == []  # held behind 6
    assert s.queue_depths()["held"] == 1
    role, room = by_segment["room", 0]
    (room_final,) = s.on_reply(role, result(room, "room"), 5.5)  # other stream: not held
    role, six = by_segment["mic", 6]
    out = s.on_reply(role, result(six, "six"), 6.0)
    assert [(f.segment_id, f.seq, f.text) for f in [room_final, *out]] == [
        (0, 1, "room"),
        (6, 2, "six"),
        (7, 3, "seven"),
    ]
    assert out[1].latency_ms == pytest.approx(2000.0)  # held time counts
    assert s.queue_depths()["held"] == 0


def test_prompt_is_the_previous_final_of_the_stream_once_published() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 2.0), 2.0)
    _, first = only(s.dispatch(["a"], 2.0))
    s.speech_started(started(1, 3.0), 3.0)
    s.speech_ended(ended(1, 3.0, 4.0), 4.0)
    _, second = only(s.dispatch(["b"], 4.0))
    assert second.prompt == ""  # segment 0 not published yet: no waiting for it
    s.on_reply("a", result(first, "hello world"), 4.5)
    s.on_reply("b", result(second, "again"), 4.6)
    s.speech_started(started(2, 5.0), 5.0)
    s.speech_started(started(0, 5.0, "room"), 5.0)
    s.speech_ongoing(ongoing(2, 5.0, 7.0), 7.0)
    _, partial = only(s.dispatch(["a"], 7.0))
    assert partial.is_partial and partial.prompt == "again"  # partials get it too
    s.speech_ended(ended(2, 5.0, 30.0), 30.0)
    s.speech_ended(ended(0, 5.0, 6.0, "room"), 30.0)
    requests = [r for _, r in s.dispatch(["b", "c", "d", "e"], 30.0)]
    prompts = {(r.stream_id, r.chunk_index): r.prompt for r in requests}
    assert prompts == {("mic", 0): "again", ("mic", 1): "", ("mic", 2): "", ("room", 0): ""}


def test_prompt_off_and_prompt_length_bounded() -> None:
    s = scheduler(use_prompt=False)
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 2.0), 2.0)
    _, request = only(s.dispatch(["a"], 2.0))
    s.on_reply("a", result(request, "hello"), 2.5)
    s.speech_started(started(1, 3.0), 3.0)
    s.speech_ended(ended(1, 3.0, 4.0), 4.0)
    assert only(s.dispatch(["a"], 4.0))[1].prompt == ""

    s = scheduler(prompt_max_chars=20)
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 20.0), 20.0)
    assignments = s.dispatch(["a", "b", "c"], 20.0)
    for role, request in assignments:
        s.on_reply(role, result(request, "one two three four five six seven eight"), 21.0)
    s.speech_started(started(1, 30.0), 30.0)
    s.speech_ended(ended(1, 30.0, 31.0), 31.0)
    prompt = only(s.dispatch(["a"], 31.0))[1].prompt
    assert 0 < len(prompt) <= 20 and prompt.endswith("seven eight")
    assert not prompt.startswith(" ")


def test_vad_restart_drops_the_open_segment_and_the_redetection_is_published() -> None:
    s = scheduler()
    s.speech_started(started(2, 0.0), 0.0)
    s.speech_ongoing(ongoing(2, 0.0, 2.0), 2.0)
    _, partial = only(s.dispatch(["w"], 2.0))
    s.vad_restarted("mic")
    assert s.oldest_needed_index("mic") is None
    # Events the old VAD pushed before it died are stale and ignored.
    assert s.speech_ongoing(ongoing(2, 0.0, 3.0), 3.0) == []
    assert s.speech_ended(ended(2, 0.0, 3.0), 3.0) == []
    assert s.speech_started(started(2, 0.0), 3.0) == []
    # The restarted VAD starts at one past the highest id seen and detects the audio again.
    assert s.speech_started(started(3, 0.0), 4.0) == [SpeechEvent("mic", 3, "started", 0.0)]
    assert s.on_reply("w", result(partial, "stale"), 4.1) == []  # its partial is stale
    s.speech_ended(ended(3, 0.0, 3.5), 5.0)
    _, request = only(s.dispatch(["w"], 5.0))
    assert request.segment_id == 3
    (final,) = s.on_reply("w", result(request, "hello"), 5.5)
    assert (final.segment_id, final.seq) == (3, 1)
    stats = s.stats()
    assert (stats.segments_abandoned, stats.partials_stale, stats.finals_published) == (1, 1, 1)
    assert stats.events_ignored == 3
    assert s.idle()


def test_vad_restart_behind_ended_segments_keeps_their_order() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 1.0), 1.0)
    s.speech_started(started(1, 2.0), 2.0)
    s.vad_restarted("mic")
    s.speech_started(started(2, 2.0), 3.0)
    s.speech_ended(ended(2, 2.0, 3.0), 3.5)
    (r0_role, r0), (r2_role, r2) = s.dispatch(["a", "b"], 3.5)
    assert s.on_reply(r2_role, result(r2, "two"), 4.0) == []
    out = s.on_reply(r0_role, result(r0, "zero"), 4.5)
    assert [(f.segment_id, f.seq) for f in out] == [(0, 1), (2, 2)]


def test_start_while_open_drops_the_open_segment_and_end_without_start_opens_one() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_started(started(1, 1.0), 1.0)  # no end for 0: it is dropped
    assert s.stats().segments_abandoned == 1
    out = s.speech_ended(ended(1, 1.0, 2.0), 2.0)
    assert [m.event for m in out] == ["ended"]
    out = s.speech_ended(ended(4, 3.0, 5.0), 5.0)  # start never seen
    assert [m.event for m in out] == ["started", "ended"]
    assert len(s.dispatch(["a", "b"], 5.0)) == 2


def test_events_of_unknown_streams_are_ignored() -> None:
    s = scheduler()
    assert s.speech_started(started(0, 0.0, "nope"), 0.0) == []
    assert s.speech_ended(ended(0, 0.0, 1.0, "nope"), 1.0) == []
    assert s.idle() and s.stats().events_ignored == 2
    s.add_stream("nope", "ss-1-nope")
    assert s.speech_started(started(0, 0.0, "nope"), 0.0) != []


def test_idle() -> None:
    s = scheduler()
    assert s.idle()
    s.speech_started(started(0, 0.0), 0.0)
    assert not s.idle()  # open segment
    s.speech_ended(ended(0, 0.0, 1.0), 1.0)
    assert not s.idle()  # queued
    _, request = only(s.dispatch(["w"], 1.0))
    assert not s.idle()  # in flight
    s.on_reply("w", result(request, "hi"), 1.5)
    assert s.idle()


def test_oldest_needed_index_follows_the_work() -> None:
    s = scheduler()
    assert s.oldest_needed_index("mic") is None
    s.speech_started(started(0, 5.0), 5.0)
    s.speech_started(started(0, 1.0, "room"), 1.0)
    assert s.oldest_needed_index("mic") == 5 * SR
    s.speech_ended(ended(0, 5.0, 29.0), 29.0)  # three equal chunks from 5, 12.33 and 19.67 s
    assert s.oldest_needed_index("mic") == 5 * SR
    (ra, a), (rb, b) = s.dispatch(["a", "b"], 29.0)
    s.on_reply(ra, result(a, "one"), 30.0)
    assert s.oldest_needed_index("mic") == b.start_index  # chunk 1 in flight
    s.on_reply(rb, result(b, "two"), 30.0)
    queued = s.oldest_needed_index("mic")  # chunk 2 queued
    assert queued is not None and queued > b.start_index and abs(queued / SR - 19.67) < 0.01
    role, c = only(s.dispatch(["a"], 30.0))
    s.on_reply(role, result(c, "three"), 31.0)
    assert s.oldest_needed_index("mic") is None
    assert s.oldest_needed_index("room") == 1 * SR


def test_dispatch_skips_roles_still_busy_and_unsent_requests_go_back() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 1.0), 1.0)
    s.speech_started(started(0, 0.0, "room"), 0.0)
    s.speech_ended(ended(0, 0.0, 1.0, "room"), 1.0)
    _, request = only(s.dispatch(["w"], 1.0))
    _, other = only(s.dispatch(["w", "v"], 1.0))  # w is still busy
    assert other.stream_id == "room"
    s.on_unsent("w", request, 1.1)
    _, again = only(s.dispatch(["w"], 1.2))
    assert again == request  # same attempt: it never left
    assert s.stats().retries == 0 and s.stats().requests_sent == 2


def test_failed_or_lost_partials_are_not_retried() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 2.0), 2.0)
    _, p1 = only(s.dispatch(["w"], 2.0))
    assert s.on_reply("w", error(p1.request_id), 2.1) == []
    assert s.dispatch(["w"], 2.2) == []  # no new audio: nothing to redo
    s.speech_ongoing(ongoing(0, 0.0, 3.5), 3.5)
    _, p2 = only(s.dispatch(["w"], 3.5))
    assert s.in_flight() == {"w": p2}
    assert s.worker_lost("w", 3.6) == []
    assert s.stats().partials_failed == 2 and s.stats().retries == 0


def test_merge_failure_still_publishes_the_final(monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.scheduling.final_words as final_words

    def broken(*args, **kwargs):
        raise RuntimeError("merger bug")

    monkeypatch.setattr(final_words, "merge_chunks", broken)
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 18.0), 18.0)
    (ra, a), (rb, b) = s.dispatch(["a", "b"], 18.0)
    s.on_reply(ra, result_words(a, spoken("one two", 1.0) + spoken("edge", 9.5)), 19.0)
    (final,) = s.on_reply(rb, result_words(b, spoken("edge three", 1.5)), 19.0)
    assert final.text == "one two edge three"


def test_words_without_leading_space_are_joined() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 2.0), 2.0)
    _, request = only(s.dispatch(["w"], 2.0))
    words = (Word(0.0, 0.3, "hello", 0.9), Word(0.3, 0.4, ",", 0.9), Word(0.5, 0.8, "you", 0.9))
    (final,) = s.on_reply("w", result_words(request, words), 2.5)
    assert final.text == "hello, you"
