"""Parts of the scheduler: options, final order and seq, final words, sessions, memory bounds."""

from __future__ import annotations

import dataclasses
import random

import pytest

from config.loader import load_config
from config.schema import AsrConfig, Config, VadConfig
from pipeline.merging import ChunkWords
from pipeline.messages.work import StreamClose, StreamFeed, StreamOpen, TranscribeRequest
from pipeline.scheduling import (
    FIRST_SEQ,
    FinalOrder,
    SchedulerOptions,
    SegmentOutcome,
    SegmentScheduler,
)
from pipeline.scheduling.commits import CommittedSegments
from pipeline.scheduling.final_words import ChunkResult, assemble_final
from pipeline.scheduling.stream_session import StreamSession
from tests.test_scheduler_fakes import (
    RINGS,
    SR,
    ended,
    error,
    ongoing,
    result,
    scheduler,
    spoken,
    started,
    update,
)


def test_options_from_config() -> None:
    config = Config(
        asr=AsrConfig(
            chunk_duration_s=12.0,
            overlap_duration_s=1.5,
            partial_min_audio_s=0.8,
            use_prompt=False,
        ),
        vad=VadConfig(partial_interval_s=0.5),
    )
    options = SchedulerOptions.from_config(config, "whisper", "tiny.en", streaming=False)
    assert options.chunking.chunk_samples == 12 * SR
    assert options.chunking.overlap_samples == round(1.5 * SR)
    assert options.window_samples == 30 * SR
    assert options.partial_min_audio_samples == round(0.8 * SR)
    assert (options.partial_interval_s, options.use_prompt) == (0.5, False)
    assert (options.backend, options.model, options.streaming) == ("whisper", "tiny.en", False)
    assert SchedulerOptions.from_config(Config(), "parakeet", "p", streaming=True).streaming
    with pytest.raises(ValueError):
        dataclasses.replace(options, max_attempts=0)


def outcome(segment_id: int, stream: str = "mic", text: str = "t") -> SegmentOutcome:
    return SegmentOutcome(stream, segment_id, segment_id * SR, segment_id * SR + SR, 0.0, (), text)


def test_final_order_holds_and_numbers_gap_free() -> None:
    order = FinalOrder("whisper", "m")
    for segment_id in (3, 4, 9):
        order.expect("mic", segment_id)
    order.expect("room", 0)
    assert order.complete(outcome(9), 1.0) == []
    assert order.complete(outcome(4), 1.0) == []
    assert order.held() == 2
    assert [f.seq for f in order.complete(outcome(0, "room"), 1.0)] == [FIRST_SEQ]
    released = order.complete(outcome(3), 2.0)
    assert [(f.segment_id, f.seq) for f in released] == [(3, 2), (4, 3), (9, 4)]
    assert order.held() == 0 and order.streams_pending() == 0
    with pytest.raises(ValueError):
        order.complete(outcome(3), 3.0)  # published already: never twice


def test_final_order_abandon_only_the_newest_and_last_text_skips_empty_finals() -> None:
    order = FinalOrder("whisper", "m")
    for segment_id in (1, 2):
        order.expect("mic", segment_id)
    with pytest.raises(ValueError):
        order.abandon("mic", 1)  # segment 2 started after it: 1 cannot still be open
    order.abandon("mic", 2)
    assert order.pending("mic") == 1
    order.expect("mic", 3)
    assert order.complete(outcome(3, text=""), 1.0) == []
    assert [f.text for f in order.complete(outcome(1, text="one"), 1.0)] == ["one", ""]
    assert order.last_text("mic") == "one"
    assert order.streams_pending() == 0


def test_assemble_final_one_and_several_chunks() -> None:
    assert assemble_final([]) == ((), "")
    one = ChunkResult(ChunkWords.from_relative(0, 1.0, 3.0, spoken("a b")), "a b")
    words, text = assemble_final([one])
    assert text == "a b" and words[0].start_s == pytest.approx(1.0)
    no_words = [
        ChunkResult(ChunkWords(1, 8.0, 12.0, ()), " second "),
        ChunkResult(ChunkWords(0, 0.0, 10.0, ()), "first"),
    ]
    assert assemble_final(no_words) == ((), "first second")


def test_stream_session_messages_and_reopen() -> None:
    session = StreamSession("mic", 5, "ring", open_index=SR)
    message = session.next_message(SR, None)
    assert isinstance(message, StreamOpen) and message.session_id == "mic/5/s1"
    session.sent(message, "w1")
    assert session.next_message(3 * SR, None) is None  # busy
    session.apply(update("mic/5/s1", 5))
    feed = session.next_message(3 * SR, None)
    assert isinstance(feed, StreamFeed) and (feed.start_index, feed.end_index) == (SR, 3 * SR)
    session.sent(feed, "w1")
    session.unsent(feed)
    assert session.next_message(3 * SR, None) == feed
    session.sent(feed, "w1")
    session.apply(update("mic/5/s1", 5, spoken("x y"), finalized_index=round(1.7 * SR)))
    close = session.next_message(3 * SR, 4 * SR)
    assert isinstance(close, StreamClose) and close.end_index == 4 * SR
    session.reopen()
    assert (session.session_id, session.open_index, session.owner) == ("mic/5/s2", 27200, None)
    assert [w.text for w in session.stable_words] == [" x", " y"]
    assert isinstance(session.next_message(3 * SR, None), StreamOpen)


def test_request_ids_are_unique_per_attempt() -> None:
    s = scheduler(max_attempts=5)
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 2.0), 2.0)
    ids = {r.request_id for _, r in s.dispatch(["p"], 2.0)}
    s.speech_ended(ended(0, 0.0, 24.0), 24.0)
    for attempt in range(3):
        for role, request in s.dispatch(["a", "b", "c"], 25.0 + attempt):
            assert request.request_id not in ids
            ids.add(request.request_id)
            s.worker_lost(role, 25.5 + attempt)
    assert len(ids) == 1 + 9


def run_request_segment(s, rng: random.Random, segment_id: int, stream: str, t: float) -> list:
    """One segment of the soak: partials, a chunked or short final, losses and late replies."""
    out: list = []
    length_s = rng.choice((0.0, 1.5, 4.0, 14.0, 23.0))
    s.speech_started(started(segment_id, t, stream), t)
    for k in range(1, int(length_s) + 1, 2):
        s.speech_ongoing(ongoing(segment_id, t, t + k, stream), t + k)
        for role, request in s.dispatch(["w1", "w2"], t + k):
            if rng.random() < 0.1:
                s.worker_lost(role, t + k)
            else:
                out += s.on_reply(role, result(request, "a partial"), t + k)
    partial_late = None
    if length_s > 2:
        s.speech_ongoing(ongoing(segment_id, t, t + length_s, stream), t + length_s + 5)
        dispatched = s.dispatch(["w3"], t + length_s + 5)
        partial_late = dispatched[0] if dispatched else None
    out += s.speech_ended(ended(segment_id, t, t + length_s, stream), t + length_s)
    for _ in range(20):
        assignments = s.dispatch(["w1", "w2"], t + length_s)
        if not assignments:
            break
        for role, request in assignments:
            roll = rng.random()
            if roll < 0.1:
                out += s.worker_lost(role, t + length_s)
            elif roll < 0.15:
                out += s.on_reply(role, error(request.request_id), t + length_s)
            else:
                out += s.on_reply(role, result(request, "final words"), t + length_s)
                if roll > 0.95:  # a late duplicate
                    out += s.on_reply(role, result(request, "final words"), t + length_s)
    if partial_late is not None:
        role, request = partial_late
        out += s.on_reply(role, result(request, "stale"), t + length_s)
    return out


def test_ten_thousand_segments_leave_no_state_behind() -> None:
    s = scheduler()
    rng = random.Random(7)
    finals = 0
    high_water: dict[str, int] = {}
    for segment_id in range(10_000):
        stream = "mic" if segment_id % 3 else "room"
        out = run_request_segment(s, rng, segment_id, stream, segment_id * 30.0)
        finals += sum(1 for m in out if m.kind == "transcript.final")
        for name, size in s.sizes().items():
            high_water[name] = max(high_water.get(name, 0), size)
        assert s.idle(), segment_id
    assert finals == 10_000
    stats = s.stats()
    assert stats.finals_published == 10_000 and stats.retries > 0
    assert stats.duplicates_dropped > 0 and stats.partials_stale > 0
    assert {k: v for k, v in s.sizes().items() if k != "streams_known"} == dict.fromkeys(
        [k for k in s.sizes() if k != "streams_known"], 0
    )
    assert s.sizes()["streams_known"] == 2
    assert high_water["segments"] <= 2 and high_water["flights"] <= 3
    assert high_water["final_queue"] <= 3


def test_streaming_segments_leave_no_state_behind() -> None:
    s = scheduler(streaming=True)
    rng = random.Random(3)
    finals = 0
    for segment_id in range(2_000):
        t = segment_id * 10.0
        s.speech_started(started(segment_id, t), t)
        for k in (1, 2, 3):
            s.speech_ongoing(ongoing(segment_id, t, t + k), t + k)
            for role, message in s.dispatch(["w1", "w2"], t + k):
                if rng.random() < 0.05:
                    finals += len(s.worker_lost(role, t + k))
                    continue
                sid = message.session_id
                s.on_reply(role, update(sid, segment_id, spoken("x y"), spoken("z", 1.0)), t + k)
        s.speech_ended(ended(segment_id, t, t + 4), t + 4)
        for _ in range(10):
            assignments = s.dispatch(["w1", "w2"], t + 4)
            if not assignments:
                break
            for role, message in assignments:
                final = isinstance(message, StreamClose)
                out = s.on_reply(
                    role, update(message.session_id, segment_id, is_final=final), t + 4
                )
                finals += sum(1 for m in out if m.kind == "transcript.final")
        assert s.idle(), segment_id
    assert finals == 2_000
    assert all(v == 0 for k, v in s.sizes().items() if k != "streams_known")


def test_in_flight_maps_roles_to_requests() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 24.0), 24.0)
    assignments = s.dispatch(["a", "b"], 24.0)
    flights = s.in_flight()
    assert flights == dict(assignments)
    assert all(isinstance(r, TranscribeRequest) for r in flights.values())


def test_reconfigure_applies_to_work_queued_afterwards() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 15.0), 15.0)  # cut with 10 s chunks: 2 chunks
    config = Config(asr=AsrConfig(chunk_duration_s=20.0, use_prompt=False))
    s.reconfigure(config, model_name="other")
    assert s.options.chunking.chunk_samples == 20 * SR and not s.options.use_prompt
    assert s.options.backend == "whisper" and not s.options.streaming
    assert len(s.dispatch(["a", "b", "c"], 15.0)) == 2  # already cut: unchanged
    s.speech_started(started(1, 20.0), 20.0)
    s.speech_ended(ended(1, 20.0, 35.0), 35.0)
    ((role, request),) = s.dispatch(["d", "e"], 35.0)
    assert request.chunk_count == 1
    s.on_reply(role, error(request.request_id, "ring_overrun", retryable=False), 36.0)
    for role, request in s.in_flight().items():
        out = s.on_reply(role, result(request, "x"), 36.0)
    assert [f.model for f in out] == ["other", "other"]


def test_reconfigure_to_another_profile_takes_its_commit_settings() -> None:
    balanced = load_config(None, environ={}).config
    s = SegmentScheduler(SchedulerOptions.from_config(balanced, "whisper", "m"), rings=RINGS)
    (kind,) = [k for k in s._kinds if isinstance(k, CommittedSegments)]
    assert kind.commit_options.partial_context_s == balanced.asr.partial_context_s > 0
    saving = load_config(None, environ={}, cli_overrides={"profile": "power-saving"}).config
    s.reconfigure(saving)  # what the daemon does when it adapts to a lagging load
    assert kind.commit_options.partial_context_s == 0  # partials without the 20 s context
    assert s.options.partial_interval_s == saving.vad.partial_interval_s


def test_a_worker_loss_is_one_call_that_resends_its_request() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 2.0), 2.0)
    ((_, request),) = s.dispatch(["asr-1"], 2.0)
    assert s.worker_lost("asr-1", 3.0, "exited with code -9") == []
    assert s.in_flight() == {}
    ((role, again),) = s.dispatch(["asr-1"], 3.0)
    assert role == "asr-1" and again.chunk_index == 0
    assert again.request_id != request.request_id and s.stats().retries == 1


def test_stats_read_as_attributes_and_as_a_mapping() -> None:
    s = scheduler()
    s.speech_started(started(0, 0.0), 0.0)
    stats = s.stats()
    assert stats.segments_started == 1
    assert dict(stats)["segments_started"] == 1 and dict(stats) == stats.as_dict()
    s.speech_started(started(1, 1.0), 1.0)
    assert stats.segments_started == 1  # a copy, not a live view
