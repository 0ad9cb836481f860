"""Cutting spans into overlapping chunks."""

from __future__ import annotations

import itertools
import random

import pytest

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.chunking import Chunk, ChunkingOptions, chunk_count, split_span

SR = SAMPLE_RATE_HZ


def default_options() -> ChunkingOptions:
    return ChunkingOptions.from_seconds(10.0, 2.0)


def test_from_seconds_converts_to_samples() -> None:
    options = default_options()
    assert options.chunk_samples == 10 * SR
    assert options.overlap_samples == 2 * SR
    assert options.max_chunk_samples == 30 * SR
    assert options.step_samples == 8 * SR


@pytest.mark.parametrize(
    ("chunk_s", "overlap_s", "max_s", "message"),
    [
        (0.0, 0.0, 30.0, "chunk length must be positive"),
        (-1.0, 0.0, 30.0, "chunk length must be positive"),
        (10.0, -1.0, 30.0, "overlap must not be negative"),
        (10.0, 10.0, 30.0, "must be shorter than the chunk"),
        (10.0, 12.0, 30.0, "must be shorter than the chunk"),
        (10.0, 2.0, 5.0, "must be at least the chunk"),
        (float("nan"), 2.0, 30.0, "finite"),
    ],
)
def test_invalid_options_are_rejected(
    chunk_s: float, overlap_s: float, max_s: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ChunkingOptions.from_seconds(chunk_s, overlap_s, max_s)


def test_invalid_spans_are_rejected() -> None:
    with pytest.raises(ValueError, match="before its start"):
        split_span(100, 50, default_options())
    with pytest.raises(ValueError, match="negative"):
        split_span(-5, 50, default_options())
    with pytest.raises(ValueError, match="negative"):
        chunk_count(-1, default_options())


def test_empty_span_has_no_chunk() -> None:
    assert split_span(500, 500, default_options()) == ()


def test_short_span_is_one_chunk() -> None:
    assert split_span(1000, 1000 + 3 * SR, default_options()) == (Chunk(0, 1000, 1000 + 3 * SR),)
    exact = split_span(0, 10 * SR, default_options())
    assert exact == (Chunk(0, 0, 10 * SR),)


def test_even_span_uses_regular_steps() -> None:
    # 26 s = 10 + 8 + 8: three full chunks, starting every 8 s.
    chunks = split_span(0, 26 * SR, default_options())
    assert [(c.start_s, c.end_s) for c in chunks] == [(0.0, 10.0), (8.0, 18.0), (16.0, 26.0)]
    assert [c.index for c in chunks] == [0, 1, 2]


def test_absolute_indices_are_kept() -> None:
    base = 123_456_789
    chunks = split_span(base, base + 26 * SR, default_options())
    assert chunks[0].start_index == base
    assert chunks[-1].end_index == base + 26 * SR
    assert chunks[1].start_index == base + 8 * SR


def test_short_tail_is_folded_into_the_previous_chunk() -> None:
    # 19 s: a third chunk would bring only 1 s of new audio; the second chunk stretches to 11 s.
    chunks = split_span(0, 19 * SR, default_options())
    assert [(c.start_s, c.end_s) for c in chunks] == [(0.0, 10.0), (8.0, 19.0)]


def test_long_enough_tail_is_its_own_chunk() -> None:
    # 21 s: the third chunk brings 3 s of new audio (>= 2 s), so it stays, shorter than 10 s.
    chunks = split_span(0, 21 * SR, default_options())
    assert [(c.start_s, c.end_s) for c in chunks] == [(0.0, 10.0), (8.0, 18.0), (16.0, 21.0)]


def test_tail_never_makes_a_chunk_longer_than_the_window() -> None:
    # chunk 28 s, overlap 2 s, window 30 s: folding a 1 s tail would give 29 s, allowed...
    options = ChunkingOptions.from_seconds(28.0, 2.0, max_chunk_duration_s=30.0)
    chunks = split_span(0, 55 * SR, options)
    assert [(c.start_s, c.end_s) for c in chunks] == [(0.0, 28.0), (26.0, 55.0)]
    # ...but a 4.5 s tail with a min tail of 5 s would give 32.5 s: the last chunk slides back.
    options = ChunkingOptions.from_seconds(
        28.0, 2.0, max_chunk_duration_s=30.0, min_tail_duration_s=5.0
    )
    chunks = split_span(0, int(58.5 * SR), options)
    assert [(c.start_s, c.end_s) for c in chunks] == [(0.0, 28.0), (26.0, 54.0), (30.5, 58.5)]


def test_zero_overlap_is_allowed() -> None:
    options = ChunkingOptions.from_seconds(10.0, 0.0)
    chunks = split_span(0, 30 * SR, options)
    assert [(c.start_s, c.end_s) for c in chunks] == [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]


def test_chunk_count_matches_split_span() -> None:
    options = default_options()
    assert chunk_count(0, options) == 0
    assert chunk_count(5 * SR, options) == 1
    assert chunk_count(19 * SR, options) == 2
    assert chunk_count(21 * SR, options) == 3


@pytest.mark.parametrize("seed", range(200))
def test_random_spans_cover_everything_within_bounds(seed: int) -> None:
    rng = random.Random(seed)
    chunk_s = rng.uniform(2.0, 30.0)
    overlap_s = rng.uniform(0.0, min(10.0, chunk_s - 0.5))
    options = ChunkingOptions.from_seconds(
        chunk_s, overlap_s, min_tail_duration_s=rng.uniform(0.0, 5.0)
    )
    start = rng.randrange(0, 10**9)
    end = start + rng.randrange(0, 300 * SR)
    chunks = split_span(start, end, options)
    assert chunk_count(end - start, options) == len(chunks)
    if start == end:
        assert chunks == ()
        return
    assert chunks[0].start_index == start
    assert chunks[-1].end_index == end
    for i, chunk in enumerate(chunks):
        assert chunk.index == i
        assert 0 < chunk.sample_count <= options.max_chunk_samples
    for before, after in itertools.pairwise(chunks):
        assert before.start_index < after.start_index
        assert after.start_index <= before.end_index  # no gap
        assert before.end_index < after.end_index
        # overlap at least the configured one
        assert before.end_index - after.start_index >= options.overlap_samples
    if len(chunks) > 1:
        # no sliver: the last chunk brings enough new audio or is at least a full chunk
        new_samples = chunks[-1].end_index - chunks[-2].end_index
        assert (
            new_samples >= options.min_tail_samples
            or chunks[-1].sample_count >= options.chunk_samples
        )


def test_balanced_options_fill_every_worker_with_window_sized_chunks() -> None:
    from pipeline.chunking import balanced_options

    rate = 16_000
    for span_s, workers, expected in ((136, 2, 6), (60, 2, 4), (20, 2, 2), (95, 3, 6), (10, 1, 1)):
        options = balanced_options(span_s * rate, workers, 2 * rate, 30 * rate)
        chunks = split_span(0, span_s * rate, options)
        assert len(chunks) == expected, (span_s, workers, len(chunks))
        assert all(c.sample_count <= 30 * rate for c in chunks)
        assert chunks[0].start_index == 0 and chunks[-1].end_index == span_s * rate
