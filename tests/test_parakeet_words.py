"""Parakeet pieces → words, streaming options and their frame mapping; no model, no mlx."""

from __future__ import annotations

import subprocess
import sys

import pytest

from config.schema import AsrConfig
from pipeline.backends.parakeet import (
    ParakeetStreamingOptions,
    Piece,
    clamp_pieces,
    group_words,
    words_from_pieces,
)
from pipeline.errors import ConfigError

FRAME_SAMPLES = 1280  # parakeet: 8 × 10 ms mel hop = 80 ms


def _pieces(*spec: tuple[str, float, float]) -> list[Piece]:
    return [
        Piece(start_s=i * 0.08, end_s=i * 0.08 + 0.08, text=t, confidence=c)
        for i, (t, c, _) in enumerate(spec)
    ]


def test_pieces_with_leading_space_start_words() -> None:
    pieces = _pieces(
        (" st", 0.9, 0), ("ream", 0.7, 0), ("ing", 0.5, 0), (" now", 0.8, 0), (".", 0.6, 0)
    )
    assert [len(g) for g in group_words(pieces)] == [3, 2]
    first, second = words_from_pieces(pieces)
    assert first.text == " streaming" and second.text == " now."
    assert first.start_s == 0.0 and first.end_s == pytest.approx(0.24)
    assert first.probability == pytest.approx(0.7)


def test_min_confidence_drops_pieces_and_empty_words() -> None:
    pieces = _pieces((" st", 0.2, 0), ("ream", 0.9, 0), (" now", 0.1, 0))
    words = words_from_pieces(pieces, min_confidence=0.5)
    assert [w.text for w in words] == [" ream"]  # keeps its word start, loses the weak piece
    assert words[0].start_s == pytest.approx(0.08)
    assert words_from_pieces(pieces, min_confidence=1.0) == []


def test_clamp_keeps_times_inside_and_monotonic() -> None:
    pieces = [Piece(0.5, 0.6, " a", 1.0), Piece(0.4, 0.45, " b", 1.0), Piece(0.9, 1.4, " c", 1.0)]
    clamped = clamp_pieces(pieces, end_s=1.0, start_s=0.45)
    starts = [p.start_s for p in clamped]
    assert starts == sorted(starts) and starts[0] == 0.5
    assert all(0.45 <= p.start_s <= p.end_s <= 1.0 for p in clamped)


@pytest.mark.parametrize(
    ("preset", "frames", "latency_s"),
    [
        ("low-latency", (25, 3, 3), 0.48),
        ("balanced", (63, 6, 6), 0.96),
        ("high-quality", (125, 13, 13), 2.08),
    ],
)
def test_presets_map_to_encoder_frames(
    preset: str, frames: tuple[int, int, int], latency_s: float
) -> None:
    options = ParakeetStreamingOptions.preset(preset)
    context = options.context(FRAME_SAMPLES)
    assert (context.left_frames, context.chunk_frames, context.right_frames) == frames
    assert context.context_size == (
        frames[0],
        frames[2],
    )  # parakeet-mlx transcribe_stream(context_size=)
    assert context.latency_s == pytest.approx(latency_s)
    assert options.latency_s == pytest.approx(options.chunk_s + options.right_context_s)


def test_options_from_asr_config_and_validation() -> None:
    asr = AsrConfig(
        parakeet_left_context_s=2.0,
        parakeet_chunk_s=0.25,
        parakeet_right_context_s=0.0,
        parakeet_attention="full",
        parakeet_min_confidence=0.3,
        dtype="bfloat16",
    )
    options = ParakeetStreamingOptions.from_config(asr)
    assert options == ParakeetStreamingOptions(2.0, 0.25, 0.0, "full", "bfloat16", 0.3)
    assert options.context(FRAME_SAMPLES).chunk_frames == 3
    assert ParakeetStreamingOptions(chunk_s=0.01).context(FRAME_SAMPLES).chunk_frames == 1
    with pytest.raises(ConfigError, match="attention"):
        ParakeetStreamingOptions(attention="sliding")
    with pytest.raises(ConfigError, match="preset"):
        ParakeetStreamingOptions.preset("fastest")


def test_import_is_light() -> None:
    code = (
        "import sys, pipeline.backends.parakeet, pipeline.backends.parakeet_stream, "
        "pipeline.backends.parakeet_testing; "
        "heavy = [m for m in sys.modules if m.startswith(('mlx', 'parakeet_mlx'))]; "
        "sys.exit(1 if heavy else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
