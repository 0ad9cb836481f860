"""The asr worker pool with real processes, real shared memory and real ZeroMQ sockets.

Uses the random-weight parakeet model (loads in ~2 s, no weights needed) for plumbing, since what
is tested here is process supervision, not recognition.
"""

from __future__ import annotations

import signal
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import zmq

from config.loader import load_config
from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.backends.factory import RANDOM_PARAKEET_SPEC
from pipeline.bus.runtime_dir import ensure_private_dir
from pipeline.bus.sockets import new_context, open_socket
from pipeline.messages.work import TranscribeRequest, TranscribeResult, WorkerError
from pipeline.ring import AudioRing
from tests.process_harness import wait_ready
from workers.worker_pool import PoolOptions, WorkerPool

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def runtime_dir():
    path = Path(tempfile.mkdtemp(prefix="ss", dir="/tmp"))
    yield ensure_private_dir(path)


@pytest.fixture
def ring(runtime_dir):
    audio, rate = soundfile.read(DATA / "dictation_dev.wav", dtype="float32")
    assert rate == SAMPLE_RATE_HZ
    ring = AudioRing.create("pool", len(audio) + 16, SAMPLE_RATE_HZ, runtime_dir)
    ring.write(np.ascontiguousarray(audio))
    yield ring
    ring.close()


def make_pool(runtime_dir: Path, workers: int, **overrides):
    cli = {"asr.backend": "parakeet", "asr.model": RANDOM_PARAKEET_SPEC, **overrides}
    config = load_config(environ={}, cli_overrides=cli).config
    context = new_context()
    endpoint = f"ipc://{runtime_dir}/w.work"
    router = open_socket(context, zmq.ROUTER, endpoint, bind=True)
    options = PoolOptions.from_config(
        config, work_endpoint=endpoint, model_path=RANDOM_PARAKEET_SPEC, workers=workers
    )
    pool = WorkerPool(router, options)
    return pool, router, context


def request(ring: AudioRing, request_id: str, start_s: float, end_s: float) -> TranscribeRequest:
    return TranscribeRequest(
        request_id=request_id,
        stream_id="pool",
        segment_id=1,
        chunk_index=0,
        chunk_count=1,
        ring_name=ring.name,
        start_index=int(start_s * SAMPLE_RATE_HZ),
        end_index=int(end_s * SAMPLE_RATE_HZ),
    )


def test_requests_are_answered_and_a_killed_worker_is_replaced_without_losing_work(
    runtime_dir, ring
) -> None:
    pool, router, context = make_pool(runtime_dir, workers=2)
    try:
        pool.start()
        wait_ready(pool, 2)
        first = request(ring, "r1", 0.0, 8.0)
        role = pool.idle_roles()[0]
        assert pool.submit(role, first)
        victim = pool.slots[role].child.pid
        pool.slots[role].child.signal(signal.SIGKILL)
        lost, restarted_at = [], None
        deadline = time.monotonic() + 30
        while not lost:
            events = pool.poll(20)
            lost.extend(loss.request for loss in events.lost)
            if events.lost:
                restarted_at = time.monotonic()
            assert time.monotonic() < deadline
        assert lost == [first] and restarted_at is not None
        wait_ready(pool, 2)
        ready_after_s = time.monotonic() - restarted_at
        assert pool.slots[role].child.pid != victim
        assert ready_after_s < 10.0
        assert pool.total_restarts == 1
        # the lost request sent again is answered, with words inside its audio
        answer = None
        assert pool.submit(pool.idle_roles()[0], first)
        while answer is None:
            for _, message in pool.poll(20).replies:
                answer = message
        assert isinstance(answer, TranscribeResult) and answer.request_id == "r1"
        assert answer.audio_s == pytest.approx(8.0)
        assert all(0.0 <= w.start_s <= w.end_s <= 8.0 + 1e-6 for w in answer.words)
    finally:
        pool.stop(grace_s=5.0)
        router.close(linger=0)
        context.term()


def test_a_stopped_worker_is_detected_as_silent_and_replaced(runtime_dir, ring) -> None:
    pool, router, context = make_pool(
        runtime_dir,
        workers=1,
        **{"supervisor.heartbeat_interval_s": 0.2, "supervisor.heartbeat_timeout_s": 1.5},
    )
    try:
        pool.start()
        wait_ready(pool, 1)
        slot = pool.slots["asr-1"]
        slot.child.signal(signal.SIGSTOP)  # a hang: alive, but silent
        deadline = time.monotonic() + 20
        restarted = []
        while not restarted:
            restarted = pool.poll(50).lost
            assert time.monotonic() < deadline
        assert "silent" in restarted[0].why
        wait_ready(pool, 1)
    finally:
        pool.stop(grace_s=5.0)
        router.close(linger=0)
        context.term()


def test_a_request_for_overwritten_audio_gets_a_clear_error(runtime_dir) -> None:
    small = AudioRing.create("small", SAMPLE_RATE_HZ, SAMPLE_RATE_HZ, runtime_dir)  # 1 s ring
    small.write(np.zeros(5 * SAMPLE_RATE_HZ, dtype=np.float32))
    pool, router, context = make_pool(runtime_dir, workers=1)
    try:
        pool.start()
        wait_ready(pool, 1)
        assert pool.submit("asr-1", request(small, "gone", 0.0, 1.0))
        answer = None
        while answer is None:
            for _, message in pool.poll(20).replies:
                answer = message
        assert isinstance(answer, WorkerError)
        assert answer.error_kind == "ring_overrun" and not answer.retryable
        assert "gone" in answer.message and pool.slots["asr-1"].child.is_alive()
    finally:
        pool.stop(grace_s=5.0)
        router.close(linger=0)
        context.term()
        small.close()


def test_a_recycled_worker_exits_by_itself_within_its_grace(runtime_dir) -> None:
    """A drained idle worker is told to shut down and leaves at once (``fast_exit``: no
    interpreter teardown), not SIGTERMed after the 2 s recycle grace; its successor starts."""
    from workers.child_process import reap

    pool, router, context = make_pool(runtime_dir, workers=1)
    try:
        pool.start()
        wait_ready(pool, 1)
        slot = pool.slots["asr-1"]
        old = slot.child
        assert old.spec.fast_exit
        pool.drain("asr-1")
        started_s = time.monotonic()
        lost = pool.poll(0).lost
        assert [loss.why for loss in lost] == ["recycled"] and slot.child is not old
        while old.exitcode is None and time.monotonic() - started_s < 10.0:
            reap()
            time.sleep(0.01)
        assert old.exitcode == 0, old.exitcode  # by itself: not -SIGTERM after the grace
        assert time.monotonic() - started_s < 2.0
        wait_ready(pool, 1)
    finally:
        pool.stop(grace_s=5.0)
        router.close(linger=0)
        context.term()
