"""A segment's final words and text from its chunk results.

One chunk: its words as they are. Several: ``pipeline.merging.merge_chunks`` stitches the seams.
A chunk given up (its audio was lost) is simply missing; the others are merged around the gap.
The merger is being improved independently; should it ever raise, the chunks are joined by time
instead, because a segment's final must be published whatever happens.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.merging import ChunkWords, merge_chunks, merged_text
from pipeline.words import Word

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """One chunk's answer: its words in stream seconds and the backend's own text."""

    words: ChunkWords
    text: str  # used only when the backend gave no words


def assemble_final(results: Iterable[ChunkResult]) -> tuple[tuple[Word, ...], str]:
    """(words in stream seconds, text) of a segment from the results of its chunks (any order)."""
    ordered = sorted(results, key=lambda result: result.words.index)
    if not ordered:
        return (), ""
    if len(ordered) == 1:
        words = ordered[0].words.words
    else:
        try:
            words = merge_chunks([result.words for result in ordered])
        except Exception:
            logger.exception("merging %d chunks failed; joining them by time", len(ordered))
            words = _joined_by_time(ordered)
    if words:
        return tuple(words), merged_text(words)
    # A backend without word times: the texts in chunk order (seams are not deduplicated).
    return (), " ".join(text for text in (r.text.strip() for r in ordered) if text)


def _joined_by_time(ordered: list[ChunkResult]) -> tuple[Word, ...]:
    """Each chunk's words from where the chunk before it ended (crude, but never doubled)."""
    words: list[Word] = []
    for result in ordered:
        after_s = words[-1].end_s if words else float("-inf")
        words.extend(w for w in result.words.words if w.start_s >= after_s)
    return tuple(words)
