"""A real asr worker (Whisper tiny.en, numpy engine) answers a batch of two streams' partials item
by item with the words each partial gets alone, and a cancel stops such a batch as a whole."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.bus.runtime_dir import ensure_private_dir
from pipeline.messages.work import (
    CANCELLED,
    CancelRequest,
    TranscribeBatch,
    TranscribeBatchResult,
    TranscribeRequest,
    TranscribeResult,
)
from pipeline.ring import AudioRing
from tests.data_paths import DATA_DIR
from tests.process_harness import numpy_worker_pool
from workers.worker_pool import WorkerPool

FILES = {"mono": "monologue_dev.wav", "dict": "dictation_dev.wav"}  # stream -> file


@pytest.fixture(scope="module")
def worker():
    runtime = ensure_private_dir(Path(tempfile.mkdtemp(prefix="ss", dir="/tmp")))
    rings = {}
    for stream, file in FILES.items():
        audio, rate = soundfile.read(DATA_DIR / file, dtype="float32")
        assert rate == SAMPLE_RATE_HZ
        audio = np.ascontiguousarray(audio[: 14 * SAMPLE_RATE_HZ])
        rings[stream] = AudioRing.create(stream, len(audio) + 16, SAMPLE_RATE_HZ, runtime)
        rings[stream].write(audio)
    try:
        with numpy_worker_pool(runtime, "p") as pool:
            yield pool, rings
    finally:
        for ring in rings.values():
            ring.close()


def partial(
    ring: AudioRing, request_id: str, seconds: float, prefix: str = ""
) -> TranscribeRequest:
    return TranscribeRequest(request_id, ring.name, 0, 0, 1, ring.name, 0,
                             round(seconds * SAMPLE_RATE_HZ), is_partial=True,
                             prefix=prefix)  # fmt: skip


def answer(pool: WorkerPool, timeout_s: float = 120.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for _, reply in pool.poll(5).replies:
            return reply
    raise AssertionError("no answer")


def test_two_streams_partials_in_one_batch_answer_as_alone(worker) -> None:
    pool, rings = worker
    (role,) = pool.idle_roles()
    alone = []
    for stream, seconds in (("mono", 7.0), ("dict", 5.0)):
        assert pool.submit(role, partial(rings[stream], f"{stream}/0/p1", seconds))
        alone.append(answer(pool))
    assert all(isinstance(a, TranscribeResult) and a.words for a in alone), alone
    prefix = " ".join(w.text.strip() for w in alone[0].words[:3])  # committed words, forced
    items = (
        partial(rings["mono"], "mono/0/p2", 7.0, prefix),
        partial(rings["dict"], "dict/0/p2", 5.0),
    )
    assert pool.submit(role, TranscribeBatch("batch:mono/0/p2", items))
    reply = answer(pool)
    assert isinstance(reply, TranscribeBatchResult) and reply.errors == (), reply
    assert [r.request_id for r in reply.results] == ["mono/0/p2", "dict/0/p2"]
    for single, batched in zip(alone, reply.results, strict=True):
        assert [w.text for w in batched.words] == [w.text for w in single.words]
        assert batched.details["audio_ctx"] == single.details["audio_ctx"]  # the partial floor
        assert batched.details["batch_size"] == 2.0  # decoded together
    assert pool.idle_roles() == [role]


def test_a_cancel_stops_a_partial_batch_as_a_whole(worker) -> None:
    pool, rings = worker
    (role,) = pool.idle_roles()
    items = (partial(rings["mono"], "mono/0/p3", 14.0), partial(rings["dict"], "dict/0/p3", 14.0))
    batch = TranscribeBatch("batch:mono/0/p3", items)
    assert pool.submit(role, batch)
    assert not pool.cancel(role, CancelRequest("mono/0/p3"))  # the pool holds the batch's id
    assert pool.cancel(role, CancelRequest(batch.request_id, "final work waits"))
    reply = answer(pool)
    assert isinstance(reply, TranscribeBatchResult) and reply.results == ()
    assert [(e.request_id, e.error_kind) for e in reply.errors] == [
        ("mono/0/p3", CANCELLED),
        ("dict/0/p3", CANCELLED),
    ]
    assert pool.idle_roles() == [role] and pool.total_restarts == 0
