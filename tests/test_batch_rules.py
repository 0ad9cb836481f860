"""The batch rules (logic, fakes): chunks of one segment batch, partials batch only with partials
of other streams, and a pre-empted partial batch is cancelled as a whole and planned again."""

from __future__ import annotations

from pipeline.batch_requests import cancelled_batch
from pipeline.messages.transcripts import TranscriptFinal, TranscriptPartial
from pipeline.messages.work import TranscribeBatch, TranscribeBatchResult, TranscribeRequest
from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.batching import (
    BatchPlan,
    cancels,
    independent,
    waiting_requests,
)
from tests.test_scheduler_fakes import RINGS, ended, ongoing, options, result, started

STREAMS = {**RINGS, "desk": "ss-1-desk"}
SR = 16_000


def request(stream: str, segment: int = 0, chunk: int = 0, count: int = 1,
            partial: bool = False, seconds: float = 5.0) -> TranscribeRequest:  # fmt: skip
    return TranscribeRequest(f"{stream}/{segment}/c{chunk}.1", stream, segment, chunk, count,
                             "ring", 0, round(seconds * SR), partial)  # fmt: skip


def test_independent_requests() -> None:
    assert independent(request("mic"), request("room"))
    assert independent(request("mic", partial=True), request("room", partial=True))
    assert independent(request("mic", 0, 0, 3), request("mic", 0, 2, 3))  # chunks of a segment
    assert not independent(request("mic", 0), request("mic", 1))  # two segments of one stream
    assert not independent(request("mic", 0, 1, 3), request("mic", 1, 1, 3))
    assert not independent(request("mic", partial=True), request("mic", partial=True))


def test_batch_plan_never_mixes_partials_and_finals_and_bounds_audio() -> None:
    plan = BatchPlan(["asr-1"], 4, waiting=4, max_audio_samples=30 * SR)
    plan.add("asr-1", request("mic", partial=True))
    assert not plan.admits("asr-1+2", request("room"))  # a final never waits for a partial
    assert plan.admits("asr-1+2", request("room", partial=True))
    finals = BatchPlan(["asr-1"], 4, waiting=4, max_audio_samples=30 * SR)
    finals.add("asr-1", request("mic", 0, 0, 3, seconds=25.0))
    assert finals.admits("asr-1+2", request("mic", 0, 1, 3, seconds=25.0))
    assert not finals.admits("asr-1+2", request("room", partial=True))
    short = BatchPlan(["asr-1"], 4, waiting=4, max_audio_samples=12 * SR)
    short.add("asr-1", request("mic", 0, 0, 3, seconds=25.0))
    assert not short.admits("asr-1+2", request("mic", 0, 1, 3, seconds=5.0))


def test_waiting_requests_counts_finals_and_due_partials() -> None:
    assert waiting_requests([{"finals": 2, "partials": 3, "held": 7}, {"sessions": 4}]) == 5


def test_cancels_take_a_batch_as_a_whole_and_count_workers_already_asked() -> None:
    partials = [("asr-1", "a"), ("asr-2", "b"), ("asr-2+2", "c")]
    assert cancels(partials, 1, set()) == [("asr-2", "batch:b", ["b", "c"])]  # the newest
    assert cancels(partials, 2, set()) == [("asr-2", "batch:b", ["b", "c"]), ("asr-1", "a", ["a"])]
    assert cancels(partials, 1, {"c"}) == []  # asr-2's batch is already asked: it frees a worker
    assert cancels(partials, 2, {"c"}) == [("asr-1", "a", ["a"])]


def test_a_long_segment_s_chunks_go_to_one_worker_as_one_batch_and_merge() -> None:
    s = SegmentScheduler(options(max_batch=3, max_batched_audio_s=30.0), rings=STREAMS)
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 25.0), 25.0)
    ((role, batch),) = s.dispatch(["asr-1"], 25.0)
    assert isinstance(batch, TranscribeBatch) and len(batch.requests) == 3
    assert sorted(r.chunk_index for r in batch.requests) == [0, 1, 2]
    texts = {0: "one two three", 1: "four five six", 2: "seven eight nine"}
    reply = TranscribeBatchResult(
        batch.request_id, tuple(result(r, texts[r.chunk_index]) for r in batch.requests)
    )
    (final,) = [m for m in s.on_reply(role, reply, 26.0) if isinstance(m, TranscriptFinal)]
    assert final.text.startswith("one two three") and final.text.endswith("seven eight nine")
    assert s.idle() and s.stats().batches_sent == 1 and s.stats().batched_requests == 3


def speaking(s: SegmentScheduler, streams: list[str], now_s: float) -> None:
    for stream in streams:
        s.speech_started(started(0, 0.0, stream), 0.0)
        s.speech_ongoing(ongoing(0, 0.0, now_s, stream), now_s)


def test_two_streams_partials_form_one_batch_and_each_stream_gets_its_partial() -> None:
    s = SegmentScheduler(options(max_batch=2), rings=STREAMS)
    speaking(s, ["mic", "room"], 3.0)
    ((role, batch),) = s.dispatch(["asr-1"], 3.0)
    assert isinstance(batch, TranscribeBatch) and all(r.is_partial for r in batch.requests)
    texts = {"mic": "hello there", "room": "good morning"}
    reply = TranscribeBatchResult(
        batch.request_id, tuple(result(r, texts[r.stream_id]) for r in batch.requests)
    )
    out = s.on_reply(role, reply, 3.4)
    assert {(m.stream_id, f"{m.stable} {m.unstable}".strip()) for m in out
            if isinstance(m, TranscriptPartial)} == set(texts.items())  # fmt: skip


def test_a_final_pre_empts_a_partial_batch_as_a_whole_and_both_partials_go_again() -> None:
    s = SegmentScheduler(options(max_batch=2), rings=STREAMS)
    speaking(s, ["mic", "room"], 3.0)
    ((role, batch),) = s.dispatch(["asr-1"], 3.0)
    s.speech_started(started(0, 0.0, "desk"), 0.0)
    s.speech_ended(ended(0, 0.0, 2.0, "desk"), 3.1)  # a final is due, no worker is free
    assert s.dispatch([], 3.1) == []
    ((cancel_role, cancel),) = s.preemptions(3.1)
    assert cancel_role == role and cancel.request_id == batch.request_id  # what the pool holds
    assert s.preemptions(3.15) == []  # asked once
    assert s.on_reply(role, cancelled_batch(batch, "cancelled after 0.01 s"), 3.2) == []
    stats = s.stats()
    assert stats.partials_cut_short == 2 and stats.partials_failed == 0
    ((_, final_request),) = s.dispatch([role], 3.2)  # the final first, alone
    assert isinstance(final_request, TranscribeRequest) and final_request.stream_id == "desk"
    ((_, again),) = s.dispatch(["asr-2"], 3.3)  # both partials planned again
    assert isinstance(again, TranscribeBatch) and {r.stream_id for r in again.requests} == {
        "mic",
        "room",
    }
