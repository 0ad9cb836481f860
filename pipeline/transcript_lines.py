"""What ``run.py transcribe`` and ``run.py subscribe`` print, built from transcript data.

- ``sentences``: a file's words grouped into caption-sized segments (sentence ends, pauses).
- ``LiveFormat``: the text one live message (final or partial) becomes in a chosen format; a
  subscriber loop writes what it returns. Formats are those of ``transcript_formats``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pipeline.messages import Message, TranscriptFinal, TranscriptPartial
from pipeline.transcript_formats import (
    FORMATS,
    TimedText,
    render_json_lines,
    render_srt,
    render_vtt,
)

SENTENCE_ENDS = (".", "?", "!")
PAUSE_S = 1.0  # a silence longer than this between two words starts a new segment
CLEAR_LINE = "\r\033[K"  # carriage return and erase: a partial line is rewritten in place
DIM, RESET = "\033[2m", "\033[0m"


def sentences(items: Sequence[TimedText], pause_s: float = PAUSE_S) -> list[TimedText]:
    """Group word items into caption-sized segments (sentence ends or pauses over ``pause_s``)."""
    groups: list[list[TimedText]] = []
    current: list[TimedText] = []
    for item in items:
        if current and (item.start_s - current[-1].end_s > pause_s):
            groups.append(current)
            current = []
        current.append(item)
        if item.text.rstrip().endswith(SENTENCE_ENDS):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return [
        TimedText(
            g[0].start_s,
            g[-1].end_s,
            "".join(i.text for i in g).strip(),
            tuple(w for i in g for w in i.words),
        )
        for g in groups
    ]


class LiveFormat:
    """Live messages as text in ``output_format``; ``partials``: partials are shown too.

    text: finals one per line, the newest partial rewritten in place on the line below (stable
    part plain, unstable part dim); json: one JSON object per final or partial; srt / vtt:
    numbered / timed captions of the finals (vtt starts with its header).
    """

    def __init__(self, output_format: str, *, partials: bool = False) -> None:
        if output_format not in FORMATS:
            raise ValueError(f"format {output_format!r}: must be one of {FORMATS}")
        self.output_format = output_format
        self.partials = partials
        self._caption_number = 1

    def header(self) -> str:
        return "WEBVTT\n\n" if self.output_format == "vtt" else ""

    def render(self, message: Message) -> str:
        """What to write for ``message`` ("" for nothing)."""
        if isinstance(message, TranscriptFinal):
            return self._final(message)
        if isinstance(message, TranscriptPartial):
            return self._partial(message)
        return ""  # speech events and metrics are not printed

    def _final(self, final: TranscriptFinal) -> str:
        item = TimedText(final.start_s, final.end_s, final.text, tuple(final.words))
        if self.output_format == "text":
            prefix = CLEAR_LINE if self.partials else ""
            return prefix + (final.text + "\n" if final.text else "")
        if self.output_format == "json":
            record = json.loads(render_json_lines([item]))
            record.update(
                seq=final.seq,
                segment_id=final.segment_id,
                stream_id=final.stream_id,
                latency_ms=round(final.latency_ms, 1),
                kind=final.kind,
            )
            return json.dumps(record, ensure_ascii=False) + "\n"
        if not final.text:
            return ""
        if self.output_format == "srt":
            text = render_srt([item], first_number=self._caption_number)
            self._caption_number += text.count(" --> ")
            return text + "\n"
        return render_vtt([item], header=False) + "\n"

    def _partial(self, partial: TranscriptPartial) -> str:
        if self.output_format == "text":
            return f"{CLEAR_LINE}{partial.stable} {DIM}{partial.unstable}{RESET}"
        if self.output_format == "json":
            record = {
                "kind": partial.kind,
                "segment_id": partial.segment_id,
                "revision": partial.revision,
                "stable": partial.stable,
                "unstable": partial.unstable,
            }
            return json.dumps(record) + "\n"
        return ""
