"""Reading the finals journal's files: which files, their records, seq recovery, ranges.

``JournalReader`` is what ``FinalsJournal`` reads with, and what a tool can use without opening
the journal for writing (``FinalsJournal.peek_next_seq``). Record lines are described in
``pipeline/journal.py``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.journal_index import JournalIndex, file_key
from pipeline.messages import SCHEMA_VERSION, FrameRejected, TranscriptFinal
from pipeline.messages.schema import schema_for, to_wire

logger = logging.getLogger(__name__)

MARK_KIND = "journal.mark"
FINAL_KIND = TranscriptFinal.kind
TAIL_READ_BYTES = 64 * 1024  # read from the end of a file to find its last seq
_LOUD_DAMAGE = 20  # damaged lines logged as warnings, then at debug


@dataclasses.dataclass(frozen=True, slots=True)
class Mark:
    next_seq: int


class JournalReader:
    """The files of the journal at ``path`` (``path``, ``path.1`` … ) and what they hold.

    ``index`` (``journal_index.JournalIndex``) locates finals by seq so that ``iter_finals``
    reads only the lines it yields; the writer keeps it up to date.
    """

    def __init__(self, path: Path, index: JournalIndex | None = None) -> None:
        self.path = path
        self.index = index if index is not None else JournalIndex()
        self.corrupt_lines = 0  # lines skipped while reading
        self.index_misses = 0  # lines that did not match the index (the file was read whole)

    def files(self) -> list[Path]:
        """The journal's files that exist, oldest first (``.N`` … ``.1``, then the current)."""
        rotated = sorted(self.rotated_indices(), reverse=True)
        return [self.rotated_path(i) for i in rotated] + [self.path]

    def rotated_path(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}")

    def rotated_indices(self) -> list[int]:
        prefix = self.path.name + "."
        indices = []
        if not self.path.parent.is_dir():
            return indices
        for entry in self.path.parent.iterdir():
            suffix = entry.name[len(prefix) :] if entry.name.startswith(prefix) else ""
            if suffix.isdigit() and int(suffix) > 0:
                indices.append(int(suffix))
        return indices

    def recover_next_seq(self) -> int:
        for path in reversed(self.files()):
            found = self.last_next_seq(path)
            if found is not None:
                return found
        return 0

    def last_next_seq(self, path: Path) -> int | None:
        """The seq after the newest final or mark in ``path``; None if it holds neither."""
        try:
            with open(path, "rb") as reader:
                size = reader.seek(0, os.SEEK_END)
                start = max(0, size - TAIL_READ_BYTES)
                reader.seek(start)
                lines = reader.read().split(b"\n")
        except FileNotFoundError:
            return None
        if start > 0:
            lines = lines[1:]  # the first piece is the end of a line that began earlier
        for line in reversed(lines):
            record = self.parse_or_skip(line, path)
            if record is not None:
                return _next_seq_of(record)
        if start == 0:
            return None
        found = None
        for record in self.records(path):  # the tail was all damage: read the whole file
            found = _next_seq_of(record)
        return found

    def build_index(self) -> None:
        """Index every file now (one scan each; the journal calls it at open) and forget files
        that are gone."""
        keys = set()
        for path in self.files():
            found = self.index.for_file(path)
            if found is not None:
                keys.add(found[0])
        self.index.prune(keys)

    def read_range(self, since_seq: int, max_count: int, stop_before: int) -> list[TranscriptFinal]:
        """At most ``max_count`` finals with ``since_seq <= seq < stop_before``, oldest first."""
        finals = []
        for final, _ in self.iter_finals(since_seq, stop_before):
            finals.append(final)
            if len(finals) == max_count:
                break
        return finals

    def iter_finals(
        self, since_seq: int, stop_before: int
    ) -> Iterator[tuple[TranscriptFinal, dict[str, Any]]]:
        """Finals with ``since_seq <= seq < stop_before`` from the files, oldest first, each
        with its wire map (the fields as a frame holds them). Reads only from the first such
        final's line on (found in the index), so stopping early costs only what was read."""
        last = since_seq - 1
        for path in self.files():
            found = self.index.for_file(path)
            if found is None:
                continue
            key, index = found
            newest = index.last_seq
            if newest is None or newest <= last:
                continue
            start = index.first_at_or_after(last + 1)
            if start is None:
                continue
            expected_seq, offset = start
            for final, raw in self._finals_from(path, key, offset, expected_seq):
                if final.seq <= last:
                    if final.seq >= since_seq:
                        logger.warning(
                            "finals journal %s: seq %d out of order; skipped", path, final.seq
                        )
                    continue
                if final.seq >= stop_before:
                    return
                yield final, raw
                last = final.seq

    def _finals_from(
        self, path: Path, key: tuple[int, int], offset: int, expected_seq: int
    ) -> Iterator[tuple[TranscriptFinal, dict[str, Any]]]:
        """The finals of ``path`` from byte ``offset`` on, where final ``expected_seq`` should
        start; a file that does not match its index is read from its start instead."""
        try:
            reader = open(path, "rb")  # noqa: SIM115 (closed below; a generator may be left early)
        except FileNotFoundError:
            return
        with reader:
            if file_key(reader.fileno()) != key:  # replaced since it was looked up
                offset = 0
            reader.seek(offset)
            first = True
            for line in reader:
                parsed = self._parse_final(line, path)
                if first and offset > 0:
                    first = False
                    if parsed is None or parsed[0].seq != expected_seq:
                        self.index_misses += 1
                        logger.warning(
                            "finals journal %s: the line at byte %d is not final %d as indexed; "
                            "reading the file from its start",
                            path,
                            offset,
                            expected_seq,
                        )
                        self.index.drop(key)
                        reader.seek(0)
                        continue
                if parsed is not None:
                    yield parsed

    def _parse_final(
        self, line: bytes, path: Path
    ) -> tuple[TranscriptFinal, dict[str, Any]] | None:
        if not line.strip():
            return None
        try:
            parsed = parse_wire(line)
        except ValueError as e:
            self._count_damage(path, e)
            return None
        if parsed is None or not isinstance(parsed[0], TranscriptFinal):
            return None
        return parsed  # type: ignore[return-value]

    def records(self, path: Path) -> Iterator[TranscriptFinal | Mark]:
        try:
            reader = open(path, "rb")  # noqa: SIM115 (closed below; a generator may be left early)
        except FileNotFoundError:
            return
        with reader:
            for line in reader:
                record = self.parse_or_skip(line, path)
                if record is not None:
                    yield record

    def parse_or_skip(self, line: bytes, path: Path) -> TranscriptFinal | Mark | None:
        if not line.strip():
            return None
        try:
            return parse_line(line)
        except ValueError as e:
            self._count_damage(path, e)
            return None

    def _count_damage(self, path: Path, error: ValueError) -> None:
        self.corrupt_lines += 1  # a replay reads a damaged line again: log it loudly once
        level = logging.WARNING if self.corrupt_lines <= _LOUD_DAMAGE else logging.DEBUG
        logger.log(level, "finals journal %s: skipped a damaged line (%s)", path, error)


def json_line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def final_line(final: TranscriptFinal) -> bytes:
    return json_line({"kind": FINAL_KIND, "v": SCHEMA_VERSION, **to_wire(final)})


def parse_line(line: bytes) -> TranscriptFinal | Mark | None:
    """The record on ``line``; None for a kind this version does not know; ValueError if damaged."""
    parsed = parse_wire(line)
    return None if parsed is None else parsed[0]


def parse_wire(line: bytes) -> tuple[TranscriptFinal | Mark, dict[str, Any]] | None:
    """``parse_line``'s record with the line's fields as read (a final's wire map)."""
    try:
        record = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"not JSON: {e}") from e
    if not isinstance(record, dict):
        raise ValueError(f"a JSON {type(record).__name__}, not an object")
    kind = record.pop("kind", None)
    version = record.pop("v", None)
    if version != SCHEMA_VERSION:
        raise ValueError(f"schema version {version!r}, expected {SCHEMA_VERSION}")
    if kind == FINAL_KIND:
        try:
            return schema_for(TranscriptFinal).convert(record, "journal"), record
        except FrameRejected as e:
            raise ValueError(str(e)) from e
    if kind == MARK_KIND:
        next_seq = record.get("next_seq")
        if type(next_seq) is not int or next_seq < 0:
            raise ValueError(f"mark with next_seq {next_seq!r}")
        return Mark(next_seq), record
    if not isinstance(kind, str):
        raise ValueError(f"kind {kind!r}")
    return None


def _next_seq_of(record: TranscriptFinal | Mark) -> int:
    return record.seq + 1 if isinstance(record, TranscriptFinal) else record.next_seq
