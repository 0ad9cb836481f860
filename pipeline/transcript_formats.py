"""Rendering timed transcript segments as text, JSON lines, SubRip (SRT) or WebVTT.

Shared by ``run.py transcribe`` (whole files) and ``run.py subscribe`` (one final at a time):
both hand over ``TimedText`` items and get strings back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.words import Word

FORMATS = ("text", "json", "srt", "vtt")
MAX_CAPTION_S = 7.0  # a caption longer than this is split at word boundaries
MAX_CAPTION_CHARS = 84  # two lines of ~42 characters


@dataclass(frozen=True, slots=True)
class TimedText:
    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...] = ()


def format_timestamp(seconds: float, decimal_marker: str) -> str:
    """``HH:MM:SS,mmm`` (SRT, marker ``,``) or ``HH:MM:SS.mmm`` (VTT, marker ``.``)."""
    total_ms = max(0, round(seconds * 1000.0))
    hours, rest_ms = divmod(total_ms, 3_600_000)
    minutes, rest_ms = divmod(rest_ms, 60_000)
    secs, millis = divmod(rest_ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_marker}{millis:03d}"


def caption_pieces(item: TimedText) -> list[TimedText]:
    """Split one segment into captions of at most ``MAX_CAPTION_S`` / ``MAX_CAPTION_CHARS``."""
    if not item.words:
        return [item] if item.text.strip() else []
    pieces: list[TimedText] = []
    current: list[Word] = []
    for word in item.words:
        text = "".join(w.text for w in [*current, word]).strip()
        too_long = current and (
            word.end_s - current[0].start_s > MAX_CAPTION_S or len(text) > MAX_CAPTION_CHARS
        )
        if too_long:
            pieces.append(_piece(current))
            current = []
        current.append(word)
    if current:
        pieces.append(_piece(current))
    return pieces


def _piece(words: list[Word]) -> TimedText:
    return TimedText(
        words[0].start_s, words[-1].end_s, "".join(w.text for w in words).strip(), tuple(words)
    )


def render_srt(items: Iterable[TimedText], first_number: int = 1) -> str:
    blocks = []
    for number, piece in enumerate(
        (p for item in items for p in caption_pieces(item)), first_number
    ):
        span = f"{format_timestamp(piece.start_s, ',')} --> {format_timestamp(piece.end_s, ',')}"
        blocks.append(f"{number}\n{span}\n{piece.text}\n")
    return "\n".join(blocks)


def render_vtt(items: Iterable[TimedText], header: bool = True) -> str:
    blocks = ["WEBVTT\n"] if header else []
    for piece in (p for item in items for p in caption_pieces(item)):
        span = f"{format_timestamp(piece.start_s, '.')} --> {format_timestamp(piece.end_s, '.')}"
        blocks.append(f"{span}\n{piece.text}\n")
    return "\n".join(blocks)


def render_json_lines(items: Iterable[TimedText]) -> str:
    lines = []
    for item in items:
        record = {
            "start_s": round(item.start_s, 3),
            "end_s": round(item.end_s, 3),
            "text": item.text,
            "words": [
                {
                    "start_s": round(w.start_s, 3),
                    "end_s": round(w.end_s, 3),
                    "text": w.text,
                    "probability": round(w.probability, 4),
                }
                for w in item.words
            ],
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    return "\n".join(lines)


def render_text(items: Iterable[TimedText]) -> str:
    return "\n".join(item.text.strip() for item in items if item.text.strip())


def render(items: list[TimedText], output_format: str) -> str:
    """Render in one of ``FORMATS``; raises ``ValueError`` for any other name."""
    if output_format == "text":
        return render_text(items)
    if output_format == "json":
        return render_json_lines(items)
    if output_format == "srt":
        return render_srt(items)
    if output_format == "vtt":
        return render_vtt(items)
    raise ValueError(
        f"unknown output format {output_format!r}: expected one of {', '.join(FORMATS)}"
    )
