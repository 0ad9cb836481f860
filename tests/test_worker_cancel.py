"""A cancel cuts a running transcription short: a real asr worker process, the real embedded
tiny.en model, real shared memory and real ZeroMQ sockets (the pool's ``cancel``)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import zmq

from config.loader import load_config
from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.backends.factory import resolve_model_path
from pipeline.bus.runtime_dir import ensure_private_dir
from pipeline.bus.sockets import new_context, open_socket
from pipeline.messages.work import (
    CANCELLED,
    CancelRequest,
    TranscribeRequest,
    TranscribeResult,
    WorkerError,
)
from pipeline.ring import AudioRing
from tests.data_paths import DATA_DIR
from tests.process_harness import wait_ready
from workers.worker_pool import PoolOptions, WorkerPool


@pytest.fixture
def runtime_dir():
    path = Path(tempfile.mkdtemp(prefix="ss", dir="/tmp"))
    yield ensure_private_dir(path)


def request(ring: AudioRing, request_id: str, start_s: float, end_s: float) -> TranscribeRequest:
    return TranscribeRequest(
        request_id=request_id,
        stream_id="cancel",
        segment_id=1,
        chunk_index=0,
        chunk_count=1,
        ring_name=ring.name,
        start_index=int(start_s * SAMPLE_RATE_HZ),
        end_index=int(end_s * SAMPLE_RATE_HZ),
        is_partial=True,
    )


def answer(pool: WorkerPool, timeout_s: float = 120.0):
    """(reply, seconds waited) of the next reply."""
    started_s = time.monotonic()
    while time.monotonic() - started_s < timeout_s:
        for _, message in pool.poll(5).replies:
            return message, time.monotonic() - started_s
    raise AssertionError("no reply")


def test_a_cancel_cuts_a_long_partial_short_and_the_worker_serves_on(runtime_dir) -> None:
    audio, rate = soundfile.read(DATA_DIR / "dictation_dev.wav", dtype="float32")
    assert rate == SAMPLE_RATE_HZ
    ring = AudioRing.create("cancel", len(audio) + 16, SAMPLE_RATE_HZ, runtime_dir)
    ring.write(np.ascontiguousarray(audio))
    config = load_config(environ={}, cli_overrides={"asr.backend": "whisper"}).config
    context = new_context()
    endpoint = f"ipc://{runtime_dir}/c.work"
    router = open_socket(context, zmq.ROUTER, endpoint, bind=True)
    options = PoolOptions.from_config(
        config,
        work_endpoint=endpoint,
        model_path=str(resolve_model_path(config.asr)),
        workers=1,
    )
    pool = WorkerPool(router, options)
    try:
        pool.start()
        wait_ready(pool, 1, timeout_s=120)
        (role,) = pool.idle_roles()
        # 28 s of dictation: a full encoder window and ~80 tokens, uncancelled
        assert pool.submit(role, request(ring, "full", 1.0, 29.0))
        full, full_s = answer(pool)
        assert isinstance(full, TranscribeResult) and len(full.words) > 50
        assert not pool.cancel(role, CancelRequest("full"))  # answered: nothing to cancel
        # the same request again, cancelled a third of the way through
        assert pool.submit(role, request(ring, "cut", 1.0, 29.0))
        pool.poll(int(full_s * 1000 / 3))
        cancel_sent_s = time.monotonic()
        assert pool.cancel(role, CancelRequest("cut", "final work waits"))
        assert not pool.cancel(role, CancelRequest("other"))  # not the request it holds
        cut, _ = answer(pool)
        after_cancel_s = time.monotonic() - cancel_sent_s
        assert isinstance(cut, WorkerError) and cut.error_kind == CANCELLED, cut
        assert cut.request_id == "cut" and cut.retryable
        # it stopped at its next checkpoint (at worst the end of the encoder), not at the end
        assert after_cancel_s < full_s / 2, (after_cancel_s, full_s)
        assert pool.idle_roles() == [role]
        # a cancel that arrives after its request was answered is ignored; work goes on
        assert pool.submit(role, request(ring, "next", 1.0, 5.0))
        nxt, _ = answer(pool)
        assert isinstance(nxt, TranscribeResult) and nxt.request_id == "next" and nxt.words
        assert pool.total_restarts == 0
    finally:
        pool.stop(grace_s=5.0)
        router.close(linger=0)
        context.term()
        ring.close()
