"""``run.py transcribe FILE``: a whole file in parallel overlapping chunks on N asr workers.

The parent reads and converts the file once (16 kHz mono float32), writes it into a
shared-memory ring it owns, and hands the whole file as one segment to the daemon's own
``SegmentScheduler`` with its ``ChunkedSegments`` work: the same chunk planner, request ids,
retry limit and merger as the daemon's long segments, on a ``WorkerPool`` of ``workers.asr``
processes. ``--compare`` then runs the scheduler's ``SequentialWindows`` (one long-form pass on a
single worker with all cores) and reports the speed-up and the word difference.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zmq

from config.schema import Config
from pipeline.audio_format import SAMPLE_RATE_HZ, samples_to_seconds
from pipeline.bus.runtime_dir import resolve_runtime_dir
from pipeline.bus.sockets import SocketOptions, new_context, open_socket
from pipeline.chunking import Chunk, ChunkingOptions, cut_at_pauses, plan_chunks
from pipeline.errors import AudioSourceError, BackendError, StreamscribeError
from pipeline.messages.base import Message
from pipeline.messages.speech import SpeechEnded, SpeechStarted
from pipeline.messages.transcripts import TranscriptFinal
from pipeline.messages.work import TranscribeRequest, TranscribeResult, WorkerError
from pipeline.ring import AudioRing, remove_stale_segments
from pipeline.scheduling import SchedulerOptions, SegmentScheduler
from pipeline.scheduling.batching import unpack
from pipeline.scheduling.chunked import ChunkedSegments
from pipeline.scheduling.windows import SequentialWindows
from pipeline.sources import open_source
from pipeline.words import Word
from workers.worker_pool import PoolOptions, WorkerPool

logger = logging.getLogger(__name__)

STREAM_ID = "file"
SEQUENTIAL_WINDOW_S = 30.0  # the reference pass reads Whisper's window at a time
LOAD_BLOCK_MS = 500  # block size when reading the file
WARM_UP_S = 2  # audio each worker reads once before a pass is timed (its loudest stretch)


@dataclass(frozen=True)
class ChunkTiming:
    index: int
    start_s: float
    end_s: float
    engine_ms: float  # the backend's own time for this chunk (its share of a batch's)
    worker: str
    batch_size: int = 1  # windows decoded together with this one (asr.file_max_batch)


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
    # CPU seconds each worker process used from the first request to the final (all its
    # threads): the work done, less sensitive than wall time to other load on the machine
    cpu_s: dict[str, float] = field(default_factory=dict)


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
        self.cpu_at_start: dict[str, float] = {}

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

    def warm_up(self, ring_name: str, span: tuple[int, int] | None) -> None:
        """One short request per worker before the timed pass: a worker's first request pays
        one-time costs (first BLAS calls, lazy imports, the weights' pages: +0.2 CPU s measured
        on a 24 s chunk, one thread) that belong to loading the model, not to the file."""
        if span is None:
            return
        waiting = set()
        for role in self.pool.idle_roles():
            request = TranscribeRequest(
                f"warmup-{role}", STREAM_ID, 0, 0, 1, ring_name, span[0], span[1]
            )
            if self.pool.submit(role, request):
                waiting.add(role)
        deadline_s = time.monotonic() + self.config.supervisor.startup_timeout_s
        while waiting and time.monotonic() < deadline_s:
            events = self.pool.poll(20)
            for role, _ in events.replies:
                waiting.discard(role)
            for loss in events.lost:
                waiting.discard(loss.role)

    def peak_rss_mb(self) -> dict[str, float]:
        return {slot.role: slot.peak_rss_bytes / 1e6 for slot in self.pool}

    def cpu_used(self) -> dict[str, float]:
        """CPU seconds of each worker since ``cpu_at_start`` (a restarted one: since its start)."""
        now = self.cpu_s()
        return {
            role: round(used - min(self.cpu_at_start.get(role, 0.0), used), 3)
            for role, used in now.items()
        }

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds (user + system) each worker process has used so far."""
        import psutil

        used = {}
        for slot in self.pool:
            try:
                times = psutil.Process(slot.pid).cpu_times()
            except (psutil.Error, TypeError, ValueError):
                continue
            used[slot.role] = times.user + times.system
        return used


def _file_options(
    config: Config, model_path: str, workers: int, chunking: ChunkingOptions, max_batch: int = 1
) -> SchedulerOptions:
    """The daemon's scheduler options for one file: no partials, no prompts between chunks (so
    every chunk is independent and ``max_batch`` of them may go to a worker as one batch, its
    windows decoded together: ``asr.file_max_batch``)."""
    return SchedulerOptions(
        backend=config.asr.backend,
        model=Path(model_path).name,
        chunking=chunking,
        partial_min_audio_samples=0,
        partial_interval_s=0.0,
        workers=workers,
        use_prompt=False,
        max_batch=max_batch,
        max_batched_audio_s=samples_to_seconds(chunking.max_chunk_samples),
    )


def _transcribe_span(
    run: _PoolRun,
    scheduler: SegmentScheduler,
    end_index: int,
    bar: _Progress,
) -> tuple[TranscriptFinal, list[ChunkTiming], float]:
    """The file's audio ``[0, end_index)`` as one segment through ``scheduler`` on the pool:
    the daemon's dispatch, retry limit and request ids. Returns its final, the timing of each
    request answered (in answer order) and the wall time from the first request to the final.
    A request given up (failed ``max_attempts`` times, or a non-retryable error) stops the run.
    """
    now_s = time.monotonic()
    scheduler.speech_started(SpeechStarted(STREAM_ID, 0, 0), now_s)
    scheduler.speech_ended(SpeechEnded(STREAM_ID, 0, 0, end_index), now_s)
    finals: list[Message] = []
    timings: list[ChunkTiming] = []
    last_error = ""
    started_s = time.perf_counter()
    while not finals:
        now_s = time.monotonic()
        for role, request in scheduler.dispatch(run.pool.idle_roles(), now_s):
            if not run.pool.submit(role, request):
                scheduler.on_unsent(role, request, now_s)
        events = run.pool.poll(20)
        now_s = time.monotonic()
        for role, message in events.replies:
            sent = {
                request.request_id: request
                for request in scheduler.in_flight().values()
                if isinstance(request, TranscribeRequest)
            }
            for item in unpack(message):  # a batch's answer: one reply per chunk
                if isinstance(item, TranscribeResult) and item.request_id in sent:
                    timings.append(_timing(sent[item.request_id], item, role, len(timings)))
                    bar.update(len(timings))
                elif isinstance(item, WorkerError):
                    last_error = f"{item.request_id}: {item.error_kind}: {item.message}"
                    logger.warning("request %s failed", last_error)
            finals.extend(scheduler.on_reply(role, message, now_s))
        for loss in events.lost:
            if loss.request is not None:
                last_error = f"{loss.role} {loss.why}"
            finals.extend(scheduler.worker_lost(loss.role, now_s, loss.why))
        if scheduler.stats().chunks_failed:
            raise BackendError(
                f"a request was given up ({last_error}); the file was not transcribed"
            )
        if run.pool.all_failed():
            raise BackendError("every asr worker failed; the file was not transcribed")
    wall_s = time.perf_counter() - started_s
    bar.close()
    (final,) = finals
    assert isinstance(final, TranscriptFinal)
    return final, timings, wall_s


def _timing(
    request: TranscribeRequest, result: TranscribeResult, role: str, number: int
) -> ChunkTiming:
    """Timing of one answered request: a chunk by its index, a window by its ``number``."""
    return ChunkTiming(
        request.chunk_index if request.chunk_count > 1 else number,
        samples_to_seconds(request.start_index),
        samples_to_seconds(request.end_index),
        result.engine_ms,
        role,
        int(result.details.get("batch_size", 1)),
    )


def run_parallel_pass(
    ring: AudioRing,
    config: Config,
    model_path: str,
    workers: int,
    runtime_dir: Path,
    log_level: str,
    progress: bool,
    chunking: ChunkingOptions,
    audio: np.ndarray | None = None,
    warm_span: tuple[int, int] | None = None,
) -> PassReport:
    """The file in chunks planned by ``plan_chunks`` on ``workers`` processes, merged: the
    daemon's ``ChunkedSegments`` for one segment covering the file. With ``audio`` (the file's
    samples), seams near a pause are moved into it without overlap (``cut_at_pauses``)."""

    def planner(start: int, end: int) -> tuple[Chunk, ...]:
        chunks = plan_chunks(start, end, chunking, workers)
        if audio is None:
            return chunks
        return cut_at_pauses(audio[start:end], chunks, chunking.chunk_samples)

    chunk_count = len(planner(0, ring.write_index))
    options = _file_options(config, model_path, workers, chunking, config.asr.file_max_batch)
    work = ChunkedSegments(planner)
    scheduler = SegmentScheduler(options, {STREAM_ID: ring.name}, work=(work,))
    with _PoolRun(config, model_path, workers, runtime_dir, "parallel", log_level) as run:
        run.warm_up(ring.name, warm_span)
        bar = _Progress(f"{workers} workers", chunk_count, progress)
        run.cpu_at_start = run.cpu_s()
        final, timings, wall_s = _transcribe_span(run, scheduler, ring.write_index, bar)
        return PassReport(
            "parallel",
            workers,
            wall_s,
            run.load_s,
            final.words,
            final.text,
            tuple(sorted(timings, key=lambda timing: timing.index)),
            run.peak_rss_mb(),
            run.pool.total_restarts,
            run.cpu_used(),
        )


def run_sequential_pass(
    ring: AudioRing,
    config: Config,
    model_path: str,
    runtime_dir: Path,
    log_level: str,
    progress: bool,
    warm_span: tuple[int, int] | None = None,
) -> PassReport:
    """One worker with all cores reads the file window after window (no overlap merging): the
    scheduler's ``SequentialWindows`` for one segment covering the file."""
    single = _single_worker_config(config)
    chunking = ChunkingOptions.from_seconds(SEQUENTIAL_WINDOW_S, 0.0)  # unused by windows
    options = _file_options(single, model_path, 1, chunking)
    windows = SequentialWindows(window_s=SEQUENTIAL_WINDOW_S)
    scheduler = SegmentScheduler(options, {STREAM_ID: ring.name}, work=(windows,))
    with _PoolRun(single, model_path, 1, runtime_dir, "sequential", log_level) as run:
        estimate = max(1, round(ring.write_index / SAMPLE_RATE_HZ / 28.5))
        run.warm_up(ring.name, warm_span)
        bar = _Progress("sequential", estimate, progress)
        run.cpu_at_start = run.cpu_s()
        final, timings, wall_s = _transcribe_span(run, scheduler, ring.write_index, bar)
        return PassReport(
            "sequential",
            1,
            wall_s,
            run.load_s,
            final.words,
            final.text,
            tuple(timings),
            run.peak_rss_mb(),
            run.pool.total_restarts,
            run.cpu_used(),
        )


def _single_worker_config(config: Config) -> Config:
    from dataclasses import replace

    return replace(config, asr=replace(config.asr, workers=1, blas_threads=0))  # all cores


def transcribe_file(
    path: str | Path,
    config: Config,
    workers: int,
    compare: bool = False,
    log_level: str = "WARNING",
    progress: bool = True,
    pause_cuts: bool = True,
    warm_up: bool = True,
) -> tuple[float, PassReport, PassReport | None]:
    """Transcribe ``path``; returns (audio seconds, parallel report, sequential report or None).
    ``pause_cuts``: chunks meet in pauses where one lies near a seam (else they overlap).
    ``warm_up``: each worker reads ``WARM_UP_S`` of the file once before a pass is timed."""
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
        warm_span = _loudest_span(audio, WARM_UP_S * SAMPLE_RATE_HZ) if warm_up else None
        parallel = run_parallel_pass(
            ring,
            config,
            model_path,
            workers,
            runtime_dir,
            log_level,
            progress,
            chunking,
            audio if pause_cuts else None,
            warm_span,
        )
        sequential = None
        if compare:
            sequential = run_sequential_pass(
                ring, config, model_path, runtime_dir, log_level, progress, warm_span
            )
        return audio_s, parallel, sequential
    except StreamscribeError:
        raise
    finally:
        ring.close()


def _loudest_span(audio: np.ndarray, length: int) -> tuple[int, int]:
    """``[start, end)`` of the loudest ``length`` samples of ``audio`` (whole seconds apart)."""
    if len(audio) <= length:
        return 0, len(audio)
    starts = range(0, len(audio) - length + 1, SAMPLE_RATE_HZ)
    start = max(starts, key=lambda i: float(np.mean(np.square(audio[i : i + length]))))
    return start, start + length
