"""``run.py transcribe FILE``: a whole file in parallel overlapping chunks on N asr workers.

The parent reads and converts the file once (16 kHz mono float32), writes it into a
shared-memory ring it owns, cuts it into chunks (``pipeline.chunking``), hands chunk requests
to a ``WorkerPool`` of ``workers.asr`` processes and merges their words
(``pipeline.merging``): the same chunker, merger and workers as the daemon's long segments.
``--compare`` then runs one sequential long-form pass on a single worker with all cores and
reports the speed-up and the word difference.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zmq

from config.schema import Config
from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.bus.runtime_dir import resolve_runtime_dir
from pipeline.bus.sockets import SocketOptions, new_context, open_socket
from pipeline.chunking import ChunkingOptions, plan_chunks
from pipeline.errors import AudioSourceError, BackendError, StreamscribeError
from pipeline.long_form import LongFormPass
from pipeline.merging import ChunkWords, merge_chunks, merged_text
from pipeline.messages.work import TranscribeRequest, TranscribeResult, WorkerError
from pipeline.ring import AudioRing, remove_stale_segments
from pipeline.sources import open_source
from pipeline.words import Transcription, Word
from workers.worker_pool import PoolOptions, WorkerPool

logger = logging.getLogger(__name__)

STREAM_ID = "file"
MAX_ATTEMPTS = 3  # a chunk whose worker failed this often stops the run
LOAD_BLOCK_MS = 500  # block size when reading the file


@dataclass(frozen=True)
class ChunkTiming:
    index: int
    start_s: float
    end_s: float
    engine_ms: float  # the backend's own time for this chunk
    worker: str


@dataclass(frozen=True)
class PassReport:
    """One pass over the file: parallel chunks, or the sequential long-form reference."""

    name: str  # "parallel" or "sequential"
    workers: int
    wall_s: float  # first request sent → last result received (model loading excluded)
    load_s: float  # workers started → all ready
    words: tuple[Word, ...]
    text: str
    chunks: tuple[ChunkTiming, ...]
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    restarts: int = 0


def load_file_audio(path: str | Path) -> np.ndarray:
    """The whole file as 16 kHz mono float32 (shape (n,)); ``AudioSourceError`` if unusable."""
    source = open_source(f"file:{path}", block_duration_ms=LOAD_BLOCK_MS, pace="fast", loop=False)
    try:
        blocks = list(source.blocks())
    finally:
        source.close()
    audio = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    if len(audio) == 0:
        raise AudioSourceError(f"{path}: the file holds no audio")
    return audio


class _Progress:
    """A one-line progress bar on a terminal's stderr; silent otherwise."""

    def __init__(self, label: str, total: int, enabled: bool) -> None:
        self.label = label
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self.started_s = time.perf_counter()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(width * done / max(1, self.total))
        elapsed_s = time.perf_counter() - self.started_s
        bar = "#" * filled + "." * (width - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {done}/{self.total}  {elapsed_s:6.1f} s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


class _PoolRun:
    """A pool of workers on one ROUTER socket for the duration of one pass."""

    def __init__(
        self,
        config: Config,
        model_path: str,
        workers: int,
        runtime_dir: Path,
        name: str,
        log_level: str,
    ) -> None:
        self.context = new_context()
        self.socket_path = runtime_dir / f"tx{os.getpid()}{name[0]}.work"
        endpoint = f"ipc://{self.socket_path}"
        self.router = open_socket(
            self.context,
            zmq.ROUTER,
            endpoint,
            bind=True,
            options=SocketOptions(max_frame_bytes=config.outputs.max_frame_bytes),
        )
        self.pool = WorkerPool(
            self.router,
            PoolOptions.from_config(
                config,
                work_endpoint=endpoint,
                model_path=model_path,
                workers=workers,
                log_level=log_level,
            ),
        )
        self.config = config
        self.workers = workers

    def __enter__(self) -> _PoolRun:
        started_s = time.perf_counter()
        self.pool.start()
        deadline_s = time.monotonic() + self.config.supervisor.startup_timeout_s
        while self.pool.ready_count() < self.workers:
            self.pool.poll(50)
            if self.pool.all_failed():
                raise BackendError(
                    "every asr worker failed to start; run with --log-level INFO for details"
                )
            if time.monotonic() > deadline_s:
                raise BackendError(
                    f"asr workers not ready after {self.config.supervisor.startup_timeout_s} s "
                    "(supervisor.startup_timeout_s)"
                )
        self.load_s = time.perf_counter() - started_s
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.pool.stop(grace_s=self.config.supervisor.shutdown_timeout_s)
        self.router.close(linger=0)
        self.context.term()
        self.socket_path.unlink(missing_ok=True)  # libzmq leaves the ipc file behind

    def peak_rss_mb(self) -> dict[str, float]:
        return {slot.role: slot.peak_rss_bytes / 1e6 for slot in self.pool}


def _request(
    ring: AudioRing, request_id: str, index: int, count: int, start: int, end: int, prompt: str = ""
) -> TranscribeRequest:
    return TranscribeRequest(
        request_id=request_id,
        stream_id=STREAM_ID,
        segment_id=0,
        chunk_index=index,
        chunk_count=count,
        ring_name=ring.name,
        start_index=start,
        end_index=end,
        prompt=prompt,
    )


def _check_error(message: WorkerError, attempts: dict[str, int], key: str) -> None:
    attempts[key] = attempts.get(key, 0) + 1
    if not message.retryable or attempts[key] >= MAX_ATTEMPTS:
        raise BackendError(f"chunk {key} failed: {message.error_kind}: {message.message}")
    logger.warning("chunk %s failed (%s), sending it again", key, message.message)


def run_parallel_pass(
    ring: AudioRing,
    config: Config,
    model_path: str,
    workers: int,
    runtime_dir: Path,
    log_level: str,
    progress: bool,
    chunking: ChunkingOptions,
) -> PassReport:
    """The file in chunks planned by ``plan_chunks`` on ``workers`` processes, merged."""
    chunks = plan_chunks(0, ring.write_index, chunking, workers)
    requests = {
        c.index: _request(ring, f"p{c.index}", c.index, len(chunks), c.start_index, c.end_index)
        for c in chunks
    }
    with _PoolRun(config, model_path, workers, runtime_dir, "parallel", log_level) as run:
        pending: deque[TranscribeRequest] = deque(requests.values())
        results: dict[int, tuple[TranscribeResult, str]] = {}
        attempts: dict[str, int] = {}
        bar = _Progress(f"{workers} workers", len(chunks), progress)
        started_s = time.perf_counter()
        while len(results) < len(chunks):
            for role in run.pool.idle_roles():
                if not pending:
                    break
                request = pending.popleft()
                if request.chunk_index in results:
                    continue
                if not run.pool.submit(role, request):
                    pending.appendleft(request)
            events = run.pool.poll(20)
            pending.extend(
                loss.request for loss in events.lost if isinstance(loss.request, TranscribeRequest)
            )
            for role, message in events.replies:
                if isinstance(message, TranscribeResult) and message.chunk_index not in results:
                    results[message.chunk_index] = (message, role)
                    bar.update(len(results))
                elif isinstance(message, WorkerError):
                    index = int(message.request_id[1:])
                    _check_error(message, attempts, message.request_id)
                    pending.append(requests[index])
            if run.pool.all_failed():
                raise BackendError("every asr worker failed; the file was not transcribed")
        wall_s = time.perf_counter() - started_s
        bar.close()
        merged = merge_chunks([ChunkWords.from_chunk(c, results[c.index][0].words) for c in chunks])
        timings = tuple(
            ChunkTiming(
                c.index, c.start_s, c.end_s, results[c.index][0].engine_ms, results[c.index][1]
            )
            for c in chunks
        )
        return PassReport(
            "parallel",
            workers,
            wall_s,
            run.load_s,
            merged,
            merged_text(merged),
            timings,
            run.peak_rss_mb(),
            run.pool.total_restarts,
        )


def run_sequential_pass(
    ring: AudioRing,
    config: Config,
    model_path: str,
    runtime_dir: Path,
    log_level: str,
    progress: bool,
) -> PassReport:
    """One worker with all cores reads the file window after window (no overlap merging)."""
    single = _single_worker_config(config)
    plan = LongFormPass(0, ring.write_index, window_s=30.0)
    with _PoolRun(single, model_path, 1, runtime_dir, "sequential", log_level) as run:
        bar = _Progress(
            "sequential", max(1, round(ring.write_index / SAMPLE_RATE_HZ / 28.5)), progress
        )
        timings: list[ChunkTiming] = []
        attempts: dict[str, int] = {}
        started_s = time.perf_counter()
        while (window := plan.next_window()) is not None:
            index = len(timings)
            request = _request(ring, f"s{index}", 0, 1, window[0], window[1], plan.prompt())
            answer = _await_one(run, request, attempts)
            plan.accept(Transcription(answer.text, answer.words))
            timings.append(
                ChunkTiming(
                    index,
                    window[0] / SAMPLE_RATE_HZ,
                    window[1] / SAMPLE_RATE_HZ,
                    answer.engine_ms,
                    "asr-1",
                )
            )
            bar.update(len(timings))
        wall_s = time.perf_counter() - started_s
        bar.close()
        result = plan.result()
        return PassReport(
            "sequential",
            1,
            wall_s,
            run.load_s,
            result.words,
            merged_text(result.words) or result.text,
            tuple(timings),
            run.peak_rss_mb(),
            run.pool.total_restarts,
        )


def _await_one(
    run: _PoolRun, request: TranscribeRequest, attempts: dict[str, int]
) -> TranscribeResult:
    sent = False
    while True:
        if not sent and run.pool.idle_roles():
            sent = run.pool.submit(run.pool.idle_roles()[0], request)
        events = run.pool.poll(20)
        if any(loss.request is not None for loss in events.lost):
            sent = False
        for _, message in events.replies:
            if isinstance(message, TranscribeResult) and message.request_id == request.request_id:
                return message
            if isinstance(message, WorkerError) and message.request_id == request.request_id:
                _check_error(message, attempts, request.request_id)
                sent = False
        if run.pool.all_failed():
            raise BackendError("the asr worker failed; the file was not transcribed")


def _single_worker_config(config: Config) -> Config:
    from dataclasses import replace

    return replace(config, asr=replace(config.asr, workers=1))


def transcribe_file(
    path: str | Path,
    config: Config,
    workers: int,
    compare: bool = False,
    log_level: str = "WARNING",
    progress: bool = True,
) -> tuple[float, PassReport, PassReport | None]:
    """Transcribe ``path``; returns (audio seconds, parallel report, sequential report or None)."""
    from pipeline.backends.factory import resolve_model_path

    audio = load_file_audio(path)
    audio_s = len(audio) / SAMPLE_RATE_HZ
    model_path = resolve_model_path(config.asr)
    runtime_dir = resolve_runtime_dir(config.outputs.runtime_dir)
    for name in remove_stale_segments(runtime_dir):
        logger.info("removed shared memory %s left by a killed run", name)
    ring = AudioRing.create(STREAM_ID, len(audio) + SAMPLE_RATE_HZ, SAMPLE_RATE_HZ, runtime_dir)
    try:
        ring.write(audio)
        chunking = ChunkingOptions.from_seconds(
            config.asr.chunk_duration_s, config.asr.overlap_duration_s
        )
        parallel = run_parallel_pass(
            ring, config, model_path, workers, runtime_dir, log_level, progress, chunking
        )
        sequential = None
        if compare:
            sequential = run_sequential_pass(
                ring, config, model_path, runtime_dir, log_level, progress
            )
        return audio_s, parallel, sequential
    except StreamscribeError:
        raise
    finally:
        ring.close()
