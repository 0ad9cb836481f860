"""Cutting a long span of audio into overlapping chunks for parallel transcription.

A span is a half-open range of absolute sample indices ``[start_index, end_index)`` (ring indices
for the daemon, file sample offsets for ``run.py transcribe``). Chunks are ``chunk_samples`` long
and consecutive chunks share ``overlap_samples``, so a word cut at one chunk's edge lies whole
inside its neighbour; ``pipeline.merging`` stitches the chunk results back together.

The last chunk is never a sliver: when it would add less than ``min_tail_samples`` of audio that
the previous chunk has not heard, the previous chunk is stretched to the end of the span instead,
provided that stays within ``max_chunk_samples`` (the backend's window, Whisper: 30 s); otherwise
the last chunk is slid back to a full ``chunk_samples`` ending at the span's end (more overlap).
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass

import numpy as np

from pipeline.audio_format import samples_to_seconds, seconds_to_samples

logger = logging.getLogger(__name__)

WHISPER_WINDOW_S = 30.0  # seconds of audio one Whisper forward pass sees
DEFAULT_MIN_TAIL_S = 2.0  # new audio below which a last chunk is folded into its neighbour


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk of a span: absolute sample indices ``[start_index, end_index)``."""

    index: int  # 0-based position of the chunk within its span
    start_index: int  # first sample (absolute)
    end_index: int  # one past the last sample (absolute)

    @property
    def sample_count(self) -> int:
        return self.end_index - self.start_index

    @property
    def start_s(self) -> float:
        """Start in seconds of the index origin (stream or file seconds)."""
        return samples_to_seconds(self.start_index)

    @property
    def end_s(self) -> float:
        return samples_to_seconds(self.end_index)

    @property
    def duration_s(self) -> float:
        return samples_to_seconds(self.sample_count)


@dataclass(frozen=True, slots=True)
class ChunkingOptions:
    """How to cut spans; validated on construction (build it once at start, fail early)."""

    chunk_samples: int  # nominal chunk length
    overlap_samples: int  # audio shared by consecutive chunks; 0 <= overlap < chunk
    max_chunk_samples: int  # hard upper bound on any chunk (the backend window)
    min_tail_samples: int  # least new audio a last chunk must bring, else it is folded

    def __post_init__(self) -> None:
        if self.chunk_samples <= 0:
            raise ValueError(f"chunk length must be positive, got {self.chunk_samples} samples")
        if self.overlap_samples < 0:
            raise ValueError(f"overlap must not be negative, got {self.overlap_samples} samples")
        if self.overlap_samples >= self.chunk_samples:
            raise ValueError(
                f"overlap ({self.overlap_samples} samples) must be shorter than the chunk "
                f"({self.chunk_samples} samples)"
            )
        if self.max_chunk_samples < self.chunk_samples:
            raise ValueError(
                f"max chunk ({self.max_chunk_samples} samples) must be at least the chunk "
                f"({self.chunk_samples} samples)"
            )
        if self.min_tail_samples < 0:
            raise ValueError(f"min tail must not be negative, got {self.min_tail_samples} samples")

    @property
    def step_samples(self) -> int:
        """Distance between the starts of consecutive chunks."""
        return self.chunk_samples - self.overlap_samples

    @classmethod
    def from_seconds(
        cls,
        chunk_duration_s: float,
        overlap_duration_s: float,
        max_chunk_duration_s: float = WHISPER_WINDOW_S,
        min_tail_duration_s: float = DEFAULT_MIN_TAIL_S,
    ) -> ChunkingOptions:
        """Options from durations in seconds (``AsrConfig.chunk_duration_s`` and friends)."""
        for name, value in (
            ("chunk_duration_s", chunk_duration_s),
            ("overlap_duration_s", overlap_duration_s),
            ("max_chunk_duration_s", max_chunk_duration_s),
            ("min_tail_duration_s", min_tail_duration_s),
        ):
            if not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
        return cls(
            chunk_samples=seconds_to_samples(chunk_duration_s),
            overlap_samples=seconds_to_samples(overlap_duration_s),
            max_chunk_samples=seconds_to_samples(max_chunk_duration_s),
            min_tail_samples=seconds_to_samples(min_tail_duration_s),
        )


def split_span(start_index: int, end_index: int, options: ChunkingOptions) -> tuple[Chunk, ...]:
    """Cut ``[start_index, end_index)`` into chunks; an empty span gives no chunk.

    Every sample of the span is in at least one chunk, chunks are in order, each is at most
    ``options.max_chunk_samples`` long, and a span no longer than one chunk is one chunk.
    """
    if end_index < start_index:
        raise ValueError(f"span end {end_index} is before its start {start_index}")
    if start_index < 0:
        raise ValueError(f"span start must not be negative, got {start_index}")
    span_samples = end_index - start_index
    if span_samples == 0:
        return ()
    if span_samples <= options.chunk_samples:
        return (Chunk(0, start_index, end_index),)

    step = options.step_samples
    count = 1 + math.ceil((span_samples - options.chunk_samples) / step)
    bounds = [
        [start_index + i * step, min(start_index + i * step + options.chunk_samples, end_index)]
        for i in range(count)
    ]
    # The last chunk's audio that the one before has not heard.
    new_samples = end_index - bounds[-2][1]
    if new_samples < options.min_tail_samples:
        if end_index - bounds[-2][0] <= options.max_chunk_samples:
            bounds.pop()
            bounds[-1][1] = end_index
        else:
            bounds[-1][0] = end_index - options.chunk_samples
    chunks = tuple(Chunk(i, start, end) for i, (start, end) in enumerate(bounds))
    logger.debug(
        "span [%d, %d) of %.2f s cut into %d chunks",
        start_index,
        end_index,
        samples_to_seconds(span_samples),
        len(chunks),
    )
    return chunks


def chunk_count(span_samples: int, options: ChunkingOptions) -> int:
    """How many chunks ``split_span`` makes of a span of ``span_samples`` samples."""
    if span_samples < 0:
        raise ValueError(f"span length must not be negative, got {span_samples} samples")
    return len(split_span(0, span_samples, options))


def balanced_options(
    span_samples: int,
    workers: int,
    overlap_samples: int,
    max_chunk_samples: int,
    min_tail_samples: int = 0,
) -> ChunkingOptions:
    """Chunks as long as the backend window allows, their count a multiple of ``workers``.

    For whole files: the fewest equal chunks that keep every worker busy to the end. With
    Whisper's shortened encoder (``asr.audio_ctx`` auto) a chunk costs about in proportion to its
    length, so the chunks shorter than the window that balancing gives cost less too; more,
    shorter chunks would add overlap (read twice) and edges to merge for little gain.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    step_max = max_chunk_samples - overlap_samples
    if step_max <= 0:
        raise ValueError("the overlap must be shorter than the longest chunk")
    needed = max(1, math.ceil(max(0, span_samples - overlap_samples) / step_max))
    count = math.ceil(needed / workers) * workers
    step = math.ceil(max(0, span_samples - overlap_samples) / count)
    chunk = min(max_chunk_samples, max(step + overlap_samples, overlap_samples + 1))
    return ChunkingOptions(chunk, overlap_samples, max_chunk_samples, min_tail_samples)


def plan_chunks(
    start_index: int, end_index: int, options: ChunkingOptions, workers: int = 1
) -> tuple[Chunk, ...]:
    """How a segment or file is transcribed: one request when it fits ``options.chunk_samples``;
    otherwise equal overlapping chunks of at most that length, their count a multiple of
    ``workers`` so they finish together. The daemon's long segments and ``run.py transcribe``
    both plan with this."""
    if end_index - start_index <= options.chunk_samples:
        return (Chunk(0, start_index, end_index),) if end_index > start_index else ()
    balanced = balanced_options(
        end_index - start_index,
        workers,
        options.overlap_samples,
        options.chunk_samples,
        options.min_tail_samples,
    )
    return split_span(start_index, end_index, balanced)


PAUSE_SEARCH_S = 3.0  # a seam moves at most this far to a pause
MIN_PAUSE_S = 0.3  # quiet this long between words: no word is cut there
QUIET_BELOW_LOUD_DB = 35.0  # quiet: this far below the span's loud frames (95th percentile)
_FRAME_SAMPLES = 160  # 10 ms energy frames


def cut_at_pauses(
    audio: np.ndarray, chunks: tuple[Chunk, ...], max_chunk_samples: int
) -> tuple[Chunk, ...]:
    """``chunks`` with each overlapping seam moved into a pause near it, without overlap.

    ``audio`` holds the span's samples from ``chunks[0].start_index`` (16 kHz float32). Where a
    quiet stretch of at least ``MIN_PAUSE_S`` lies within ``PAUSE_SEARCH_S`` of a seam's middle,
    the two chunks meet at the middle of that pause: no word lies across it, so the merge is a
    join and nobody reads the overlap twice (less engine work, no seam to guess at). A seam in
    continuous speech keeps its overlap. No chunk grows past ``max_chunk_samples``.
    """
    if len(chunks) < 2:
        return chunks
    origin = chunks[0].start_index
    quiet = _quiet_frames(audio)
    bounds = [[c.start_index, c.end_index] for c in chunks]
    for k in range(len(chunks) - 1):
        middle = (chunks[k + 1].start_index + chunks[k].end_index) // 2
        cut = _pause_near(quiet, middle - origin)
        if cut is None:
            continue
        cut += origin
        if cut - bounds[k][0] > max_chunk_samples or bounds[k + 1][1] - cut > max_chunk_samples:
            continue
        if not bounds[k][0] < cut < bounds[k + 1][1]:
            continue
        bounds[k][1] = bounds[k + 1][0] = cut
    moved = tuple(Chunk(i, start, end) for i, (start, end) in enumerate(bounds))
    logger.debug(
        "%d of %d seams moved into pauses",
        sum(a.end_index == b.start_index for a, b in itertools.pairwise(moved)),
        len(moved) - 1,
    )
    return moved


def _quiet_frames(audio: np.ndarray) -> np.ndarray:
    """One flag per 10 ms frame: quiet compared with the span's loud frames."""
    count = len(audio) // _FRAME_SAMPLES
    if count == 0:
        return np.zeros(0, dtype=bool)
    frames = np.asarray(audio[: count * _FRAME_SAMPLES], dtype=np.float32).reshape(count, -1)
    level_db = 10 * np.log10(np.mean(np.square(frames, dtype=np.float64), axis=1) + 1e-12)
    return level_db < np.percentile(level_db, 95) - QUIET_BELOW_LOUD_DB


def _pause_near(quiet: np.ndarray, middle_sample: int) -> int | None:
    """The middle (sample offset) of the quiet run of at least ``MIN_PAUSE_S`` nearest to
    ``middle_sample`` within ``PAUSE_SEARCH_S``; None when there is none."""
    search = int(PAUSE_SEARCH_S * 100)
    centre = middle_sample // _FRAME_SAMPLES
    low, high = max(0, centre - search), min(len(quiet), centre + search)
    need = int(MIN_PAUSE_S * 100)
    best: tuple[int, int] | None = None  # (distance, middle frame)
    run_start = None
    for frame in range(low, high + 1):
        is_quiet = frame < high and bool(quiet[frame])
        if is_quiet and run_start is None:
            run_start = frame
        elif not is_quiet and run_start is not None:
            if frame - run_start >= need:
                mid = (run_start + frame) // 2
                if best is None or abs(mid - centre) < best[0]:
                    best = (abs(mid - centre), mid)
            run_start = None
    return None if best is None else best[1] * _FRAME_SAMPLES
