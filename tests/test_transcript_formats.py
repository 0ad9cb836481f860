"""Text, JSON, SRT and VTT rendering of timed segments."""

from __future__ import annotations

import json

import pytest

from pipeline.transcript_formats import TimedText, caption_pieces, format_timestamp, render
from pipeline.words import Word


def words(text: str, start_s: float, step_s: float) -> tuple[Word, ...]:
    return tuple(
        Word(start_s + i * step_s, start_s + (i + 1) * step_s - 0.05, " " + w, 0.9)
        for i, w in enumerate(text.split())
    )


ITEMS = [
    TimedText(0.5, 2.0, "Hello there.", words("Hello there.", 0.5, 0.7)),
    TimedText(3661.25, 3662.0, "Late.", words("Late.", 3661.25, 0.7)),
]


def test_timestamps() -> None:
    assert format_timestamp(3661.2504, ",") == "01:01:01,250"
    assert format_timestamp(0.0006, ".") == "00:00:00.001"
    assert format_timestamp(-1.0, ".") == "00:00:00.000"


def test_srt_and_vtt_layout() -> None:
    srt = render(ITEMS, "srt")
    assert srt.startswith("1\n00:00:00,500 --> 00:00:01,850\nHello there.\n")
    assert "2\n01:01:01,250 --> 01:01:01,900\nLate.\n" in srt
    vtt = render(ITEMS, "vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.500 --> 00:00:01.850\nHello there.\n")


def test_long_segment_is_split_into_captions_at_word_boundaries() -> None:
    text = " ".join(f"word{i}" for i in range(40))
    item = TimedText(0.0, 20.0, text, words(text, 0.0, 0.5))
    pieces = caption_pieces(item)
    assert len(pieces) > 2
    assert " ".join(p.text for p in pieces) == text
    assert all(p.end_s - p.start_s <= 7.0 and len(p.text) <= 84 for p in pieces)


def test_json_lines_and_text() -> None:
    records = [json.loads(line) for line in render(ITEMS, "json").splitlines()]
    assert records[0]["text"] == "Hello there." and records[0]["words"][1]["text"] == " there."
    assert render(ITEMS, "text") == "Hello there.\nLate."
    with pytest.raises(ValueError, match="unknown output format"):
        render(ITEMS, "docx")
