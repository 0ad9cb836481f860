"""A real asr worker (Whisper tiny.en, numpy engine) answers a batch of two different
utterances, one encoder call, with the same words as two single requests."""

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
    TranscribeBatch,
    TranscribeBatchResult,
    TranscribeRequest,
    TranscribeResult,
)
from pipeline.ring import AudioRing
from tests.data_paths import DATA_DIR
from tests.process_harness import numpy_worker_pool
from workers.worker_pool import WorkerPool


@pytest.fixture
def rings():
    runtime = ensure_private_dir(Path(tempfile.mkdtemp(prefix="ss", dir="/tmp")))
    made = []
    for name, file, seconds in (
        ("mono", "monologue_dev.wav", 13.0),
        ("dict", "dictation_dev.wav", 7.0),
    ):
        audio, rate = soundfile.read(DATA_DIR / file, dtype="float32")
        assert rate == SAMPLE_RATE_HZ
        audio = np.ascontiguousarray(audio[: int(seconds * SAMPLE_RATE_HZ)])
        ring = AudioRing.create(name, len(audio) + 16, SAMPLE_RATE_HZ, runtime)
        ring.write(audio)
        made.append(ring)
    yield runtime, made
    for ring in made:
        ring.close()


def request(ring: AudioRing, request_id: str) -> TranscribeRequest:
    return TranscribeRequest(
        request_id=request_id,
        stream_id=ring.name,
        segment_id=0,
        chunk_index=0,
        chunk_count=1,
        ring_name=ring.name,
        start_index=0,
        end_index=ring.write_index,
    )


def answer(pool: WorkerPool, role: str, message, timeout_s: float = 120.0):
    assert pool.submit(role, message)
    deadline = time.monotonic() + timeout_s
    while True:
        for _, reply in pool.poll(50).replies:
            return reply
        assert time.monotonic() < deadline, "no answer"


def test_a_batch_of_two_utterances_gives_the_words_of_two_single_requests(rings) -> None:
    runtime, (mono, dictation) = rings
    with numpy_worker_pool(runtime, "w") as pool:
        (role,) = pool.idle_roles()
        singles = [
            answer(pool, role, request(ring, f"{ring.name}-1")) for ring in (mono, dictation)
        ]
        assert all(isinstance(s, TranscribeResult) and s.text for s in singles), singles
        batch = TranscribeBatch("batch:2", (request(mono, "mono-2"), request(dictation, "dict-2")))
        reply = answer(pool, role, batch)
        assert isinstance(reply, TranscribeBatchResult) and reply.request_id == "batch:2"
        assert reply.errors == ()
        assert [r.request_id for r in reply.results] == ["mono-2", "dict-2"]
        assert pool.idle_roles() == [role]  # the batch's answer frees the worker
        for single, batched in zip(singles, reply.results, strict=True):
            assert batched.text == single.text
            # batched matrix products round differently: same words and times, probabilities
            # equal to float32 precision
            assert [(w.text, w.start_s, w.end_s) for w in batched.words] == [
                (w.text, w.start_s, w.end_s) for w in single.words
            ]
            assert [w.probability for w in batched.words] == pytest.approx(
                [w.probability for w in single.words], abs=1e-4
            )
            assert batched.details["batch_size"] == 2.0
            assert batched.details["audio_ctx"] == single.details["audio_ctx"]
        # two windows of different lengths: each kept its own shortened encoder length
        assert reply.results[0].details["audio_ctx"] != reply.results[1].details["audio_ctx"]
