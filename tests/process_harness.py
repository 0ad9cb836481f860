"""A stand-in parent for process tests: owns a stream's ring, binds the events PULL, spawns
capture and vad children (real processes, real shared memory, real ipc sockets) and collects
what they push.

Typical use::

    with StreamHarness.create({"capture.source": f"file:{path}", "capture.pace": "fast"}) as h:
        h.start_vad()
        h.start_capture()
        h.collect_until(h.vad_finished, timeout_s=20)
        h.speech_events()      # SpeechStarted / SpeechOngoing / SpeechEnded, in arrival order
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from config.loader import as_tree, load_config
from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.bus import Receiver, ensure_private_dir, new_context, open_socket
from pipeline.messages import (
    CaptureEvent,
    EndOfStream,
    Heartbeat,
    Message,
    SpeechEnded,
    SpeechOngoing,
    SpeechStarted,
)
from pipeline.ring import AudioRing
from tests.data_paths import DATA_DIR
from workers.child_process import ChildProcess, ChildSpec


@dataclass(frozen=True)
class Arrival:
    """A message from the events socket and when it arrived (``time.monotonic()``)."""

    message: Message
    at_s: float


@dataclass
class StreamHarness:
    runtime_dir: Path
    config: Any
    ring: AudioRing
    context: zmq.Context
    pull: zmq.Socket
    stream_id: str
    arrivals: list[Arrival] = field(default_factory=list)
    children: dict[str, ChildProcess] = field(default_factory=dict)
    exited: dict[str, list[int | None]] = field(default_factory=dict)  # role -> exit codes
    audio_endpoint_name: str = "audio"  # "NAME.audio" for push streams (their socket goes beside)

    @classmethod
    def create(
        cls,
        overrides: dict[str, Any],
        *,
        ring_capacity_s: float = 120.0,
        stream_id: str = "s1",
        config: Any = None,
    ) -> StreamHarness:
        """``overrides``: dotted config keys (``capture.source``, ``profile``, ...); or a whole
        ``config`` (a ``config.schema.Config``), used as given."""
        runtime_dir = ensure_private_dir(Path(tempfile.mkdtemp(prefix="ss", dir="/tmp")))
        if config is None:
            config = load_config(environ={}, cli_overrides=overrides).config
        capacity = int(ring_capacity_s * SAMPLE_RATE_HZ)
        ring = AudioRing.create(stream_id, capacity, SAMPLE_RATE_HZ, runtime_dir)
        context = new_context()
        pull = open_socket(context, zmq.PULL, f"ipc://{runtime_dir}/events", bind=True)
        return cls(runtime_dir, config, ring, context, pull, stream_id)

    # ---- children ------------------------------------------------------------------------

    @property
    def audio_endpoint(self) -> str:
        return f"ipc://{self.runtime_dir}/{self.audio_endpoint_name}"

    @property
    def events_endpoint(self) -> str:
        return f"ipc://{self.runtime_dir}/events"

    def settings(self, role: str, **extra: Any) -> dict[str, Any]:
        return {
            "role": role,
            "config": as_tree(self.config),
            "ring_name": self.ring.name,
            "stream_id": self.stream_id,
            "audio_endpoint": self.audio_endpoint,
            "events_endpoint": self.events_endpoint,
            **extra,
        }

    def start(self, role: str, entry_module: str, **extra: Any) -> ChildProcess:
        log_level = os.environ.get("STREAMSCRIBE_TEST_CHILD_LOG", "WARNING")
        child = ChildProcess(ChildSpec(role, entry_module, self.settings(role, **extra), log_level))
        child.start()
        self.children[role] = child
        return child

    def start_capture(self, **extra: Any) -> ChildProcess:
        return self.start("capture", "workers.capture", **extra)

    def start_vad(self, **extra: Any) -> ChildProcess:
        return self.start("vad", "workers.vad", **extra)

    def kill(self, role: str) -> None:
        """SIGKILL a child and reap it."""
        child = self.children[role]
        child.kill(wait_s=5.0)
        self.exited.setdefault(role, []).append(child.exitcode)

    def exit_code(self, role: str, timeout_s: float = 10.0) -> int | None:
        child = self.children[role]
        child.join(timeout_s)
        return child.exitcode

    # ---- events --------------------------------------------------------------------------

    def collect_until(
        self,
        done: Callable[[StreamHarness], bool],
        timeout_s: float,
        *,
        poll_ms: int = 50,
        settle_ms: int = 200,
    ) -> None:
        """Receive into ``arrivals`` until ``done(self)``, then for ``settle_ms`` more (what a
        child sent just before exiting may still be on its way). AssertionError after
        ``timeout_s``."""
        receiver = Receiver(self.pull, name="events")
        deadline_s = time.monotonic() + timeout_s
        while not done(self):
            if time.monotonic() > deadline_s:
                kinds = [type(a.message).__name__ for a in self.arrivals[-10:]]
                raise AssertionError(f"timed out after {timeout_s} s; last messages: {kinds}")
            received = receiver.receive(timeout_ms=poll_ms)
            if received is not None:
                self.arrivals.append(Arrival(received.message, time.monotonic()))
        settle_until_s = time.monotonic() + settle_ms / 1000
        while (left_ms := int((settle_until_s - time.monotonic()) * 1000)) > 0:
            received = receiver.receive(timeout_ms=left_ms)
            if received is not None:
                self.arrivals.append(Arrival(received.message, time.monotonic()))
        assert receiver.rejected_total == 0, dict(receiver.rejected)

    def receive_for(self, duration_s: float) -> None:
        """Receive into ``arrivals`` for ``duration_s``."""
        until_s = time.monotonic() + duration_s
        self.collect_until(
            lambda h: time.monotonic() >= until_s, timeout_s=duration_s + 5, settle_ms=0
        )

    def messages(self, *kinds: type[Message]) -> list[Any]:
        return [a.message for a in self.arrivals if not kinds or isinstance(a.message, kinds)]

    def speech_events(self) -> list[Message]:
        return self.messages(SpeechStarted, SpeechOngoing, SpeechEnded)

    def heartbeats(self, role: str) -> list[Arrival]:
        return [
            a for a in self.arrivals if isinstance(a.message, Heartbeat) and a.message.role == role
        ]

    def capture_events(self, name: str) -> list[CaptureEvent]:
        return [m for m in self.messages(CaptureEvent) if m.event == name]

    @staticmethod
    def vad_finished(harness: StreamHarness) -> bool:
        """Capture has sent EndOfStream and the vad process has exited."""
        child = harness.children.get("vad")
        ended = bool(harness.messages(EndOfStream))
        return ended and child is not None and not child.is_alive()

    # ---- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        for child in self.children.values():
            if child.is_alive():
                child.kill(wait_s=5.0)
        self.pull.close(linger=0)
        self.context.term()
        self.ring.close()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def __enter__(self) -> StreamHarness:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def converted_file(name: str, block_duration_ms: int | None = None) -> Any:
    """The file's samples exactly as the capture process converts them: float32 (n,) (blocks of
    ``block_duration_ms``, default the configured ``capture.block_duration_ms``: the DC tracker's
    ramps follow the blocks)."""
    import numpy as np

    from pipeline.sources.file_source import FileSource

    if block_duration_ms is None:
        block_duration_ms = load_config(environ={}).config.capture.block_duration_ms

    with FileSource(DATA_DIR / name, block_duration_ms, "fast") as source:
        return np.concatenate(list(source.blocks()))


def wait_ready(pool: Any, count: int, timeout_s: float = 60.0) -> None:
    """Poll ``pool`` (a ``WorkerPool``) until ``count`` workers are ready; fail after
    ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while pool.ready_count() < count:
        pool.poll(50)
        assert time.monotonic() < deadline, "workers did not become ready"


@contextmanager
def numpy_worker_pool(runtime: Path, name: str) -> Iterator[Any]:
    """One real ``workers.asr`` process (Whisper tiny.en on the numpy engine) behind a ROUTER on
    ``ipc://RUNTIME/NAME.work``, ready; stopped and its sockets closed on the way out."""
    from pipeline.backends.factory import resolve_model_path
    from workers.worker_pool import PoolOptions, WorkerPool

    config = load_config(
        environ={}, cli_overrides={"asr.backend": "whisper", "asr.engine": "numpy"}
    ).config
    context = new_context()
    endpoint = f"ipc://{runtime}/{name}.work"
    router = open_socket(context, zmq.ROUTER, endpoint, bind=True)
    options = PoolOptions.from_config(
        config, work_endpoint=endpoint, model_path=resolve_model_path(config.asr), workers=1
    )
    pool = WorkerPool(router, options)
    try:
        pool.start()
        wait_ready(pool, 1, timeout_s=120)
        yield pool
    finally:
        pool.stop(grace_s=5.0)
        router.close(linger=0)
        context.term()
