"""Replay from the finals journal: the in-memory tail, and replies cut to the frame limit.

The journal keeps its newest finals in a ``ReplayTail`` (each with its msgpack size, so a reply
is filled by adding up sizes, never by encoding it twice); older finals are read back from the
files through the seq index (``journal_reader``). ``finals_since`` walks both lazily, so a reply
cut early reads no further: a replay costs what it returns.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from typing import Any

import msgpack

from pipeline.journal_reader import JournalReader
from pipeline.messages import DEFAULT_MAX_FRAME_BYTES, SCHEMA_VERSION, ReplayReply, TranscriptFinal
from pipeline.messages.codec import KIND_KEY, VERSION_KEY
from pipeline.messages.schema import to_wire

logger = logging.getLogger(__name__)

# a reply is filled by adding up its finals' sizes, up to the frame limit less this share of it
# (a number the journal holds as an int may become a float in the frame: a few bytes more)
REPLY_MARGIN_FRACTION = 1 / 64


class ReplayTail:
    """The newest ``size`` finals (contiguous seqs: the journal checks every one) and their
    sizes in a frame."""

    def __init__(self, size: int) -> None:
        self.finals: deque[TranscriptFinal] = deque(maxlen=size)
        self.sizes: deque[int] = deque(maxlen=size)  # each one's msgpack bytes

    def __len__(self) -> int:
        return len(self.finals)

    def add(self, final: TranscriptFinal) -> None:
        self.finals.append(final)
        self.sizes.append(wire_size(to_wire(final)))

    def finals_since(
        self, since_seq: int, next_seq: int, reader: JournalReader
    ) -> Iterator[tuple[TranscriptFinal, int | dict[str, Any]]]:
        """Every final held with ``seq >= since_seq``, oldest first, with its msgpack size (from
        the tail) or its wire map (read from a file: ``wire_size`` gives the size); lazily:
        whoever stops early reads no further."""
        if since_seq >= next_seq:
            return
        tail_start = self.finals[0].seq if self.finals else next_seq
        if since_seq < tail_start:
            yield from reader.iter_finals(since_seq, stop_before=tail_start)
        offset = max(since_seq, tail_start) - tail_start
        for index in range(offset, len(self.finals)):
            yield self.finals[index], self.sizes[index]


def replay_finals(
    held: Iterator[tuple[TranscriptFinal, Any]], next_seq: int, max_count: int
) -> tuple[list[TranscriptFinal], int]:
    """At most ``max_count`` of ``held`` and the seq to ask from next (see
    ``FinalsJournal.replay``)."""
    if max_count < 1:
        raise ValueError(f"max_count {max_count} must be >= 1")
    finals: list[TranscriptFinal] = []
    for final, _ in held:
        finals.append(final)
        if len(finals) == max_count:
            break
    return finals, continue_at(finals, next_seq, cut=len(finals) == max_count)


def answer_replay(
    held: Iterator[tuple[TranscriptFinal, int | dict[str, Any]]],
    next_seq: int,
    max_count: int,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
) -> ReplayReply:
    """A ``ReplayReply`` of ``held`` cut so that its frame fits ``max_frame_bytes``: finals are
    added while their sizes add up to the limit (less ``REPLY_MARGIN_FRACTION``), and reading
    stops there."""
    if max_count < 1:
        raise ValueError(f"max_count {max_count} must be >= 1")
    budget = max_frame_bytes - reply_overhead_bytes() - int(max_frame_bytes * REPLY_MARGIN_FRACTION)
    finals: list[TranscriptFinal] = []
    total = 0
    cut = False
    for final, wire in held:
        size = wire if isinstance(wire, int) else wire_size(wire)
        if total + size > budget:
            if not finals:  # cannot happen for a final that was published; do not loop
                logger.warning("final seq %d does not fit a replay frame; skipped", final.seq)
                return ReplayReply(finals=(), next_seq=final.seq + 1)
            cut = True
            break
        finals.append(final)
        total += size
        if len(finals) == max_count:
            cut = True
            break
    return ReplayReply(finals=tuple(finals), next_seq=continue_at(finals, next_seq, cut=cut))


def continue_at(finals: list[TranscriptFinal], next_seq: int, *, cut: bool) -> int:
    """Where the next request starts: after the last final of a cut reply, else ``next_seq``."""
    if cut and finals and finals[-1].seq + 1 < next_seq:
        return finals[-1].seq + 1
    return next_seq


def wire_size(wire: dict[str, Any]) -> int:
    """The bytes a final's wire map takes inside a frame."""
    return len(msgpack.packb(wire, use_bin_type=True))


def reply_overhead_bytes() -> int:
    """The bytes of a ``ReplayReply`` frame around its finals, at most (the largest next_seq,
    the longest array header)."""
    empty = {VERSION_KEY: SCHEMA_VERSION, KIND_KEY: ReplayReply.kind, "finals": [], "next_seq": 0}
    return len(msgpack.packb(empty, use_bin_type=True)) + 8 + 4
