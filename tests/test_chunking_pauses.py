"""Seams of file chunks moved into pauses (real recordings), and longest chunks served first."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import soundfile

from pipeline.chunking import (
    MIN_PAUSE_S,
    Chunk,
    ChunkingOptions,
    cut_at_pauses,
    plan_chunks,
)
from pipeline.scheduling.chunked import ChunkedWork

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SR = 16_000


def load(name: str) -> np.ndarray:
    audio, rate = soundfile.read(DATA / name, dtype="float32")
    assert rate == SR
    return audio


def rms_db(audio: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(audio, dtype=np.float64)) + 1e-12))


def check_cover(chunks: tuple[Chunk, ...], end: int, max_samples: int) -> None:
    assert chunks[0].start_index == 0 and chunks[-1].end_index == end
    for before, after in itertools.pairwise(chunks):
        assert after.start_index <= before.end_index  # joined or overlapping, never a gap
        assert after.start_index > before.start_index and after.end_index > before.end_index
    assert all(c.sample_count <= max_samples for c in chunks)


def test_dictation_seams_move_into_pauses_without_overlap() -> None:
    audio = load("dictation_dev.wav")  # 50 s, pauses between sentences
    options = ChunkingOptions.from_seconds(20.0, 2.0)
    planned = plan_chunks(0, len(audio), options, workers=2)
    assert len(planned) == 4
    moved = cut_at_pauses(audio, planned, options.chunk_samples)
    check_cover(moved, len(audio), options.chunk_samples)
    joins = [b.start_index for a, b in itertools.pairwise(moved) if a.end_index == b.start_index]
    assert joins, "no seam found a pause in dictation"
    speech_db = np.percentile(
        [rms_db(audio[i : i + 160]) for i in range(0, len(audio) - 160, 160)], 95
    )
    half_pause = int(MIN_PAUSE_S / 2 * SR)
    for cut in joins:
        assert rms_db(audio[cut - half_pause : cut + half_pause]) < speech_db - 30
        nearest = min(abs(cut - (b.start_index + a.end_index) // 2) for a, b in
                      itertools.pairwise(planned))  # fmt: skip
        assert nearest <= 3 * SR


def test_continuous_speech_keeps_its_overlap() -> None:
    audio = load("monologue_dev.wav")  # no pause over 0.15 s for 33 s
    options = ChunkingOptions.from_seconds(20.0, 2.0)
    planned = plan_chunks(0, len(audio), options, workers=2)
    assert len(planned) == 2
    assert cut_at_pauses(audio, planned, options.chunk_samples) == planned


def test_the_cut_is_the_middle_of_the_pause() -> None:
    audio = np.concatenate(
        [
            np.full(19 * SR, 0.3, np.float32),
            np.zeros(SR, np.float32),
            np.full(19 * SR, 0.3, np.float32),
        ]
    )
    options = ChunkingOptions.from_seconds(21.0, 1.0, max_chunk_duration_s=21.0)
    planned = plan_chunks(0, len(audio), options, workers=2)
    moved = cut_at_pauses(audio, planned, options.chunk_samples)
    check_cover(moved, len(audio), options.chunk_samples)
    assert moved[0].end_index == moved[1].start_index == int(19.5 * SR)  # the pause's middle


def test_longest_chunks_go_first() -> None:
    chunks = (Chunk(0, 0, 20 * SR), Chunk(1, 20 * SR, 44 * SR), Chunk(2, 44 * SR, 60 * SR))
    work = ChunkedWork(chunks)
    assert sorted(work.rank, key=work.rank.__getitem__) == [1, 0, 2]
