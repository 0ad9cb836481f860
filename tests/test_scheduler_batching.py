"""Cross-stream batching in the scheduler: seats, packing, and every per-request path (replies,
errors, retries, a lost worker, an undelivered batch) item by item (fakes, no processes)."""

from __future__ import annotations

from pipeline.messages.transcripts import TranscriptFinal
from pipeline.messages.work import (
    TranscribeBatch,
    TranscribeBatchResult,
    TranscribeRequest,
)
from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.batching import BatchPlan, extra_seats, seats, worker_of
from pipeline.scheduling.commit_policy import CommitOptions
from tests.test_scheduler_fakes import RINGS, ended, error, ongoing, options, result, started

STREAMS = {**RINGS, "desk": "ss-1-desk"}


def batching(max_batch: int = 2, **overrides) -> SegmentScheduler:
    return SegmentScheduler(options(max_batch=max_batch, **overrides), rings=STREAMS)


def end_segments(s: SegmentScheduler, streams: list[str], now_s: float = 3.0) -> None:
    for number, stream in enumerate(streams):
        s.speech_started(started(0, 0.0, stream), 0.0)
        s.speech_ended(ended(0, 0.0, 2.0 + number, stream), now_s)


def finals(messages: list) -> list[TranscriptFinal]:
    return [m for m in messages if isinstance(m, TranscriptFinal)]


def answer(batch: TranscribeBatch, texts: dict[str, str], errors=()) -> TranscribeBatchResult:
    results = tuple(result(r, texts[r.stream_id]) for r in batch.requests if r.stream_id in texts)
    return TranscribeBatchResult(batch.request_id, results, tuple(errors))


def test_seats_are_the_free_workers_then_extra_seats_only_for_waiting_work() -> None:
    assert seats(["a", "b"], 4, waiting=2) == ["a", "b"]  # a worker each: no batch
    assert seats(["a", "b"], 4, waiting=3) == ["a", "b", "a+2"]
    assert seats(["a", "b"], 3, waiting=9) == ["a", "b", "a+2", "b+2", "a+3", "b+3"]
    assert seats(["a"], 1, waiting=5) == ["a"]  # max_batch 1: batching off
    assert worker_of("asr-1+3") == "asr-1" and worker_of("asr-1") == "asr-1"
    assert worker_of("odd+name") == "odd+name"
    assert extra_seats("asr-1", ["asr-1", "asr-1+2", "asr-2", "asr-2+2"]) == ["asr-1+2"]


def test_batch_plan_admits_finals_of_different_streams_only() -> None:
    def request(stream: str, partial: bool = False) -> TranscribeRequest:
        return TranscribeRequest(f"{stream}/0/c0.1", stream, 0, 0, 1, "ring", 0, 16000, partial)

    plan = BatchPlan(["asr-1"], 4, waiting=4)
    assert plan.admits("asr-1", request("mic"))
    plan.add("asr-1", request("mic"))
    assert not plan.admits("asr-1+2", request("mic"))  # same stream
    assert not plan.admits("asr-1+2", request("room", partial=True))  # a partial
    assert plan.admits("asr-1+2", request("room"))
    plan.add("asr-1+2", request("room"))
    ((role, batch),) = plan.pack()
    assert role == "asr-1" and isinstance(batch, TranscribeBatch)
    assert [r.stream_id for r in batch.requests] == ["mic", "room"]
    assert batch.request_id == "batch:" + batch.requests[0].request_id
    assert plan.batch_sizes() == [2]


def test_finals_of_two_streams_go_to_one_worker_as_one_batch_and_both_publish() -> None:
    s = batching(max_batch=2)
    end_segments(s, ["mic", "room"])
    ((role, batch),) = s.dispatch(["asr-1"], 3.0)
    assert role == "asr-1" and isinstance(batch, TranscribeBatch)
    assert {r.stream_id for r in batch.requests} == {"mic", "room"}
    assert s.stats().batches_sent == 1 and s.stats().batched_requests == 2
    assert s.stats().requests_sent == 2
    assert s.dispatch(["asr-2"], 3.1) == []  # nothing else waits
    out = s.on_reply(role, answer(batch, {"mic": "hello there", "room": "good morning"}), 3.5)
    assert {(f.stream_id, f.text) for f in finals(out)} == {
        ("mic", "hello there"),
        ("room", "good morning"),
    }
    assert [f.seq for f in finals(out)] == [1, 2]
    assert s.idle() and all(v == 0 for k, v in s.sizes().items() if k != "streams_known")


def test_no_batch_when_a_worker_is_free_for_each_or_batching_is_off() -> None:
    s = batching(max_batch=4)
    end_segments(s, ["mic", "room"])
    sent = s.dispatch(["asr-1", "asr-2"], 3.0)
    assert [type(r) for _, r in sent] == [TranscribeRequest, TranscribeRequest]
    off = batching(max_batch=1)
    end_segments(off, ["mic", "room"])
    ((_, request),) = off.dispatch(["asr-1"], 3.0)
    assert isinstance(request, TranscribeRequest) and off.stats().batches_sent == 0


def test_three_finals_two_workers_one_batch_of_two_and_one_single() -> None:
    s = batching(max_batch=2)
    end_segments(s, ["mic", "room", "desk"])
    sent = dict(s.dispatch(["asr-1", "asr-2"], 3.0))
    assert isinstance(sent["asr-1"], TranscribeBatch) and len(sent["asr-1"].requests) == 2
    assert isinstance(sent["asr-2"], TranscribeRequest)
    streams = {r.stream_id for r in sent["asr-1"].requests} | {sent["asr-2"].stream_id}
    assert streams == {"mic", "room", "desk"}


def test_one_stream_two_segments_are_not_batched() -> None:
    s = batching(max_batch=2)
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 2.0), 2.0)
    s.speech_started(started(1, 3.0), 3.0)
    s.speech_ended(ended(1, 3.0, 5.0), 5.0)
    ((_, request),) = s.dispatch(["asr-1"], 5.0)
    assert isinstance(request, TranscribeRequest) and request.segment_id == 0
    assert s.queue_depths()["finals"] == 1


def test_an_item_that_failed_is_sent_again_alone_and_the_other_publishes() -> None:
    s = batching(max_batch=2)
    end_segments(s, ["mic", "room"])
    ((role, batch),) = s.dispatch(["asr-1"], 3.0)
    room = next(r for r in batch.requests if r.stream_id == "room")
    out = s.on_reply(role, answer(batch, {"mic": "hello there"}, [error(room.request_id)]), 3.5)
    assert [(f.stream_id, f.text) for f in finals(out)] == [("mic", "hello there")]
    ((_, again),) = s.dispatch(["asr-1"], 3.6)
    assert isinstance(again, TranscribeRequest) and again.stream_id == "room"
    assert again.request_id != room.request_id and s.stats().retries == 1
    (final,) = finals(s.on_reply("asr-1", result(again, "good morning"), 4.0))
    assert final.text == "good morning" and s.idle()


def test_a_lost_worker_loses_every_item_and_each_is_sent_again() -> None:
    s = batching(max_batch=2)
    end_segments(s, ["mic", "room"])
    ((role, batch),) = s.dispatch(["asr-1"], 3.0)
    assert s.worker_lost(role, 4.0, "killed") == []
    assert s.in_flight() == {} and s.queue_depths()["finals"] == 2
    ((_, again),) = s.dispatch(["asr-2"], 4.1)
    assert isinstance(again, TranscribeBatch)
    assert {r.request_id for r in again.requests}.isdisjoint(r.request_id for r in batch.requests)
    late = s.on_reply(role, answer(batch, {"mic": "old", "room": "old"}), 4.2)
    assert late == [] and s.stats().duplicates_dropped == 2  # replies of the lost attempt
    out = s.on_reply("asr-2", answer(again, {"mic": "hello there", "room": "good morning"}), 5.0)
    assert len(finals(out)) == 2 and s.idle()
    assert s.stats().retries == 2


def test_an_undelivered_batch_goes_back_without_counting_attempts() -> None:
    s = batching(max_batch=2)
    end_segments(s, ["mic", "room"])
    ((role, batch),) = s.dispatch(["asr-1"], 3.0)
    s.on_unsent(role, batch, 3.0)
    assert s.in_flight() == {} and s.stats().requests_sent == 0
    ((_, again),) = s.dispatch(["asr-1"], 3.1)
    assert isinstance(again, TranscribeBatch)
    assert [r.request_id for r in again.requests] == [r.request_id for r in batch.requests]


def test_partials_batch_only_with_partials_and_finals_only_with_finals_in_commit_mode() -> None:
    s = batching(max_batch=4, commit=CommitOptions())
    for stream in ("mic", "room"):
        s.speech_started(started(0, 0.0, stream), 0.0)
        s.speech_ongoing(ongoing(0, 0.0, 3.0, stream), 3.0)
    ((_, partials),) = s.dispatch(["asr-1"], 3.0)  # two streams due, one worker: one batch
    assert isinstance(partials, TranscribeBatch)
    assert all(r.is_partial for r in partials.requests)
    assert {r.stream_id for r in partials.requests} == {"mic", "room"}
    out = s.on_reply("asr-1", answer(partials, {"mic": "hello", "room": "good"}), 3.2)
    assert len(out) == 2  # each stream's partial published
    for stream in ("mic", "room"):
        s.speech_ended(ended(0, 0.0, 3.5, stream), 3.5)
    ((_, batch),) = s.dispatch(["asr-1"], 3.6)
    assert isinstance(batch, TranscribeBatch) and not any(r.is_partial for r in batch.requests)
    out = s.on_reply("asr-1", answer(batch, {"mic": "hello there", "room": "good day"}), 4.0)
    assert {f.text for f in finals(out)} == {"hello there", "good day"}


def test_long_requests_are_not_batched() -> None:
    def request(stream: str, seconds: float) -> TranscribeRequest:
        end = round(seconds * 16_000)
        return TranscribeRequest(f"{stream}/0/c0.1", stream, 0, 0, 1, "ring", 0, end)

    plan = BatchPlan(["asr-1"], 2, waiting=2)  # default bound: the whole window, 30 s
    plan.add("asr-1", request("mic", 31.0))
    assert not plan.admits("asr-1+2", request("room", 3.0))
    short = BatchPlan(["asr-1"], 2, waiting=2)
    short.add("asr-1", request("mic", 3.0))
    assert not short.admits("asr-1+2", request("room", 31.0))
    assert short.admits("asr-1+2", request("room", 20.0))
    bounded = BatchPlan(["asr-1"], 2, waiting=2, max_audio_samples=12 * 16_000)
    bounded.add("asr-1", request("mic", 3.0))
    assert not bounded.admits("asr-1+2", request("room", 20.0))
    assert bounded.admits("asr-1+2", request("room", 12.0))
