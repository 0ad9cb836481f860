"""A worker's DEALER identity carries the daemon's run: a stale worker left by an earlier run
(same role, other run) can never take a slot, and the pool's own workers still serve."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import zmq

from config.loader import load_config
from pipeline.backends.factory import RANDOM_PARAKEET_SPEC
from pipeline.bus.frames import send_message
from pipeline.bus.runtime_dir import ensure_private_dir
from pipeline.bus.sockets import new_context, open_socket
from pipeline.messages.work import Heartbeat, Ready
from workers.worker_pool import PoolOptions, WorkerPool


def test_a_stale_worker_of_another_run_never_takes_a_slot() -> None:
    runtime_dir = ensure_private_dir(Path(tempfile.mkdtemp(prefix="ss", dir="/tmp")))
    config = load_config(
        environ={}, cli_overrides={"asr.backend": "parakeet", "asr.model": RANDOM_PARAKEET_SPEC}
    ).config
    context = new_context()
    endpoint = f"ipc://{runtime_dir}/w.work"
    router = open_socket(context, zmq.ROUTER, endpoint, bind=True)
    options = PoolOptions.from_config(
        config,
        work_endpoint=endpoint,
        model_path=RANDOM_PARAKEET_SPEC,
        workers=1,
        run_id="runB",
    )
    pool = WorkerPool(router, options)
    stale = [
        open_socket(context, zmq.DEALER, endpoint, bind=False, identity=identity)
        for identity in (b"asr-1@runA", b"asr-1")  # an earlier run's worker, an id without run
    ]
    try:
        for socket in stale:
            send_message(
                socket, Ready(worker_id="asr-1", pid=os.getpid(), backend="x", model="stale")
            )
            send_message(socket, Heartbeat(role="asr-1", pid=os.getpid(), rss_bytes=1))
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            pool.poll(50)
        slot = pool.slots["asr-1"]
        assert slot.identity == "asr-1@runB"
        assert not slot.ready and slot.rss_bytes == 0  # nothing from the stale peers counted
        pool.start()  # the pool's own worker, with this run's identity, becomes ready
        deadline = time.monotonic() + 90.0
        while pool.ready_count() < 1:
            pool.poll(50)
            assert time.monotonic() < deadline, "the pool's own worker never became ready"
        assert pool.idle_roles() == ["asr-1"]
    finally:
        pool.stop(grace_s=5.0)
        for socket in (*stale, router):
            socket.close(linger=0)
        context.term()
