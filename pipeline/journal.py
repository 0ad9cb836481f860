"""The finals journal: every published ``TranscriptFinal`` as one JSON line, for replay.

The supervisor appends a final here *before* it publishes it, so whatever a subscriber can have
missed on the PUB socket, the journal holds (a ``ReplayRequest`` is answered from it).

Files: ``finals.jsonl`` is written; when the next line would take it past ``max_bytes`` it
becomes ``finals.jsonl.1``, the older ones shift to ``.2`` … ``.keep_files`` and the oldest is
deleted. On disk the journal stays under ``(keep_files + 1) * max_bytes`` plus one line.

Lines: a final is ``{"kind": "transcript.final", "v": <schema>, <every field>}`` with words as
maps; a mark ``{"kind": "journal.mark", "v": <schema>, "next_seq": N, "run_id": ..., ...}``
starts every file and every daemon run. The mark makes the numbering survive a rotation that
leaves no final behind (``keep_files = 0``) and tells a reader where a file starts.

Numbering: ``seq`` *continues across restarts*. A new daemon reads the newest mark or final and
goes on from there, so a subscriber that stays connected through a restart sees one gap-free
sequence and ``ReplayRequest(since_seq)`` never mixes two runs' numbers. Only a journal that is
gone altogether (a deleted directory, a reboot that empties a tmpfs runtime dir) starts again at
0; ``TranscriptSubscriber`` notices that from a replay answer whose ``next_seq`` went backwards.

Damage: a line that does not parse (a crash mid-write, a disk error) is skipped with a warning;
a torn last line is cut off at open. Appends are flushed per line (``fsync=True`` also syncs it
to disk, for power loss). Memory: the last ``tail_size`` finals are kept for fast replay; older
ones are read back from the files on demand. Not thread-safe: one owner (the supervisor loop).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from pipeline.errors import StreamscribeError
from pipeline.messages import (
    DEFAULT_MAX_FRAME_BYTES,
    SCHEMA_VERSION,
    FrameRejected,
    ReplayReply,
    ReplayRequest,
    TranscriptFinal,
    encode,
)
from pipeline.messages.schema import schema_for, to_wire

logger = logging.getLogger(__name__)

DEFAULT_FILE_NAME = "finals.jsonl"
DEFAULT_TAIL_SIZE = 1000  # finals kept in memory for replay without reading files
MARK_KIND = "journal.mark"
FINAL_KIND = TranscriptFinal.kind
_TAIL_READ_BYTES = 64 * 1024  # read from the end of a file to find its last seq at open
_LOUD_DAMAGE = 20  # damaged lines logged as warnings, then at debug


class JournalError(StreamscribeError):
    """The journal cannot be opened or written (locked by another daemon, unwritable, ...)."""


class OutputsLike(Protocol):
    """The fields of ``config.schema.OutputsConfig`` that ``from_outputs`` reads."""

    journal_path: str
    journal_max_mb: float
    journal_keep: int


@dataclasses.dataclass(frozen=True, slots=True)
class _Mark:
    next_seq: int


class FinalsJournal:
    """Append-only, rotated JSONL journal of finals with replay by ``seq``.

    ``FinalsJournal.open(path, max_bytes, keep_files)`` (or the constructor: the same thing)
    repairs a torn last line, recovers ``next_seq`` and writes a mark for this run. Use
    ``next_seq`` to number a final, ``append`` it, then publish it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_bytes: int,
        keep_files: int,
        *,
        tail_size: int = DEFAULT_TAIL_SIZE,
        fsync: bool = False,
        run_id: str = "",
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes {max_bytes} must be > 0")
        if keep_files < 0:
            raise ValueError(f"keep_files {keep_files} must be >= 0")
        if tail_size < 1:
            raise ValueError(f"tail_size {tail_size} must be >= 1")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.keep_files = keep_files
        self.fsync = fsync
        self.run_id = run_id or uuid.uuid4().hex[:12]  # names this daemon run in the marks
        self.corrupt_lines = 0  # lines skipped while reading, since open
        self.rotations = 0
        self._tail: deque[TranscriptFinal] = deque(maxlen=tail_size)
        self._file: BinaryIO | None = None
        self._size = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open_current()
        try:
            self._repair_torn_line()
            self._next_seq = self._recover_next_seq()
            self._write_mark("open")
        except BaseException:
            self.close()
            raise
        logger.info(
            "finals journal %s opened (run %s): next seq %d", self.path, self.run_id, self._next_seq
        )

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        max_bytes: int,
        keep_files: int,
        *,
        tail_size: int = DEFAULT_TAIL_SIZE,
        fsync: bool = False,
        run_id: str = "",
    ) -> FinalsJournal:
        """Open (creating or recovering) the journal at ``path``."""
        return cls(path, max_bytes, keep_files, tail_size=tail_size, fsync=fsync, run_id=run_id)

    @classmethod
    def from_outputs(cls, outputs: OutputsLike, runtime_dir: Path, **kwargs: Any) -> FinalsJournal:
        """The journal ``outputs`` configures; an empty ``journal_path`` means the runtime dir."""
        path = Path(outputs.journal_path).expanduser() if outputs.journal_path else None
        return cls.open(
            path or Path(runtime_dir) / DEFAULT_FILE_NAME,
            max(1, int(outputs.journal_max_mb * 1024 * 1024)),
            outputs.journal_keep,
            **kwargs,
        )

    # --- writing ------------------------------------------------------------------------------

    @property
    def next_seq(self) -> int:
        """The seq the next appended final must carry."""
        return self._next_seq

    @property
    def last_seq(self) -> int | None:
        """The seq of the newest final ever journaled here (any run), None if there is none."""
        return self._next_seq - 1 if self._next_seq > 0 else None

    def append(self, final: TranscriptFinal) -> None:
        """Write ``final`` (whose seq must be ``next_seq``) as one flushed line."""
        if final.seq != self._next_seq:
            raise ValueError(
                f"final seq {final.seq} is not the journal's next seq {self._next_seq}"
            )
        self._write_line(_final_line(final))
        self._tail.append(final)
        self._next_seq += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()  # releases the lock
            self._file = None

    def __enter__(self) -> FinalsJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- replay -------------------------------------------------------------------------------

    def replay(self, since_seq: int, max_count: int) -> tuple[list[TranscriptFinal], int]:
        """Finals with ``seq >= since_seq`` still held, oldest first, at most ``max_count``.

        Returns them and the seq to ask from next: one past the last returned if the answer was
        cut at ``max_count``, else ``next_seq``. Finals no longer held (rotated out of the files
        and older than the in-memory tail) are simply not there: the first returned seq is then
        above ``since_seq``.
        """
        if max_count < 1:
            raise ValueError(f"max_count {max_count} must be >= 1")
        if since_seq >= self._next_seq:
            return [], self._next_seq
        finals: list[TranscriptFinal] = []
        tail_start = self._tail[0].seq if self._tail else self._next_seq
        if since_seq < tail_start:
            finals = self._read_files(since_seq, max_count, stop_before=tail_start)
        if len(finals) < max_count and self._tail:
            first = max(since_seq, tail_start)
            offset = first - tail_start  # the tail is contiguous: append checks every seq
            for index in range(offset, len(self._tail)):
                finals.append(self._tail[index])
                if len(finals) == max_count:
                    break
        if len(finals) == max_count and finals[-1].seq + 1 < self._next_seq:
            return finals, finals[-1].seq + 1
        return finals, self._next_seq

    def answer(
        self, request: ReplayRequest, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    ) -> ReplayReply:
        """The ``ReplayReply`` to ``request``, cut so that its frame fits ``max_frame_bytes``."""
        finals, next_seq = self.replay(request.since_seq, request.max_count)
        while True:
            reply = ReplayReply(finals=tuple(finals), next_seq=next_seq)
            try:
                encode(reply, max_frame_bytes=max_frame_bytes)
                return reply
            except FrameRejected as e:
                if e.reason != "oversize":
                    raise
            if len(finals) == 1:  # cannot happen for a final that was published; do not loop
                logger.warning("final seq %d does not fit a replay frame; skipped", finals[0].seq)
                return ReplayReply(finals=(), next_seq=finals[0].seq + 1)
            finals = finals[: len(finals) // 2]
            next_seq = finals[-1].seq + 1

    # --- files --------------------------------------------------------------------------------

    def files(self) -> list[Path]:
        """The journal's files that exist, oldest first (``.N`` … ``.1``, then the current)."""
        rotated = sorted(self._rotated_indices(), reverse=True)
        return [self._rotated_path(i) for i in rotated] + [self.path]

    def _rotated_path(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}")

    def _rotated_indices(self) -> list[int]:
        prefix = self.path.name + "."
        indices = []
        for entry in self.path.parent.iterdir():
            suffix = entry.name[len(prefix) :] if entry.name.startswith(prefix) else ""
            if suffix.isdigit() and int(suffix) > 0:
                indices.append(int(suffix))
        return indices

    def _open_current(self) -> None:
        try:
            file = open(self.path, "ab", buffering=0)  # noqa: SIM115 (kept open for appends)
        except OSError as e:
            raise JournalError(f"cannot open finals journal {self.path}: {e}") from e
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            file.close()
            raise JournalError(
                f"finals journal {self.path} is in use by another process (is a daemon with the "
                "same runtime directory running?)"
            ) from e
        self._file = file
        self._size = os.fstat(file.fileno()).st_size

    def _write_line(self, line: bytes) -> None:
        if self._size > 0 and self._size + len(line) > self.max_bytes:
            self._rotate()
        self._write_raw(line)

    def _write_raw(self, line: bytes) -> None:
        assert self._file is not None, "journal is closed"
        try:
            self._file.write(line)  # unbuffered: one write(2) per line
            if self.fsync:
                os.fsync(self._file.fileno())
        except OSError as e:
            raise JournalError(f"cannot write finals journal {self.path}: {e}") from e
        self._size += len(line)

    def _write_mark(self, reason: str) -> None:
        mark = {
            "kind": MARK_KIND,
            "v": SCHEMA_VERSION,
            "next_seq": self._next_seq,
            "run_id": self.run_id,
            "reason": reason,  # "open" (a daemon run starts) or "rotate" (a new file)
            "time_unix_s": round(time.time(), 3),
        }
        self._write_line(_json_line(mark))

    def _rotate(self) -> None:
        assert self._file is not None
        for index in sorted(self._rotated_indices(), reverse=True):
            source = self._rotated_path(index)
            if index >= self.keep_files:
                source.unlink(missing_ok=True)
            else:
                os.replace(source, self._rotated_path(index + 1))
        if self.keep_files > 0:
            os.replace(self.path, self._rotated_path(1))
        else:
            self.path.unlink(missing_ok=True)
        self._file.close()
        self._file = None
        self._open_current()
        self.rotations += 1
        logger.debug("finals journal rotated at seq %d", self._next_seq)
        self._write_mark("rotate")

    def _repair_torn_line(self) -> None:
        """Cut off a last line without its newline (a crash mid-write), or end it if whole."""
        if self._size == 0:
            return
        with open(self.path, "rb") as reader:
            start = max(0, self._size - _TAIL_READ_BYTES)
            reader.seek(start)
            chunk = reader.read()
        if chunk.endswith(b"\n"):
            return
        cut = chunk.rfind(b"\n")
        if cut < 0 and start > 0:  # a last "line" longer than the read: garbage all the same
            cut_at = start
            torn = b""
        else:
            cut_at = start + cut + 1
            torn = chunk[cut + 1 :]
        try:
            _parse_line(torn)
        except ValueError:
            logger.warning(
                "finals journal %s: cutting a torn last line of %d bytes (a crash mid-write)",
                self.path,
                self._size - cut_at,
            )
            os.truncate(self.path, cut_at)
            self._size = cut_at
            return
        self._write_raw(b"\n")

    def _recover_next_seq(self) -> int:
        for path in reversed(self.files()):
            found = self._last_next_seq(path)
            if found is not None:
                return found
        return 0

    def _last_next_seq(self, path: Path) -> int | None:
        """The seq after the newest final or mark in ``path``; None if it holds neither."""
        try:
            with open(path, "rb") as reader:
                size = reader.seek(0, os.SEEK_END)
                start = max(0, size - _TAIL_READ_BYTES)
                reader.seek(start)
                lines = reader.read().split(b"\n")
        except FileNotFoundError:
            return None
        if start > 0:
            lines = lines[1:]  # the first piece is the end of a line that began earlier
        for line in reversed(lines):
            record = self._parse_or_skip(line, path)
            if record is not None:
                return _next_seq_of(record)
        if start == 0:
            return None
        found = None
        for record in self._records(path):  # the tail was all damage: read the whole file
            found = _next_seq_of(record)
        return found

    def _first_seq(self, path: Path) -> int | None:
        """The seq the first record of ``path`` starts at (its mark, else its first final)."""
        for record in self._records(path):
            return record.seq if isinstance(record, TranscriptFinal) else record.next_seq
        return None

    def _read_files(
        self, since_seq: int, max_count: int, stop_before: int
    ) -> list[TranscriptFinal]:
        paths = self.files()
        start_index = 0
        for index, path in enumerate(paths):
            first = self._first_seq(path)
            if first is not None and first <= since_seq:
                start_index = index  # nothing at or after since_seq lies in an earlier file
        finals: list[TranscriptFinal] = []
        last = since_seq - 1
        for path in paths[start_index:]:
            for record in self._records(path):
                if not isinstance(record, TranscriptFinal) or record.seq < since_seq:
                    continue
                if record.seq >= stop_before:
                    return finals
                if record.seq <= last:
                    logger.warning(
                        "finals journal %s: seq %d out of order; skipped", path, record.seq
                    )
                    continue
                finals.append(record)
                last = record.seq
                if len(finals) == max_count:
                    return finals
        return finals

    def _records(self, path: Path) -> Iterator[TranscriptFinal | _Mark]:
        try:
            reader = open(path, "rb")  # noqa: SIM115 (closed below; a generator may be left early)
        except FileNotFoundError:
            return
        with reader:
            for line in reader:
                record = self._parse_or_skip(line, path)
                if record is not None:
                    yield record

    def _parse_or_skip(self, line: bytes, path: Path) -> TranscriptFinal | _Mark | None:
        if not line.strip():
            return None
        try:
            return _parse_line(line)
        except ValueError as e:
            self.corrupt_lines += 1  # a replay reads a damaged line again: log it loudly once
            level = logging.WARNING if self.corrupt_lines <= _LOUD_DAMAGE else logging.DEBUG
            logger.log(level, "finals journal %s: skipped a damaged line (%s)", path, e)
            return None


def _json_line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _final_line(final: TranscriptFinal) -> bytes:
    return _json_line({"kind": FINAL_KIND, "v": SCHEMA_VERSION, **to_wire(final)})


def _parse_line(line: bytes) -> TranscriptFinal | _Mark | None:
    """The record on ``line``; None for a kind this version does not know; ValueError if damaged."""
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
            return schema_for(TranscriptFinal).convert(record, "journal")
        except FrameRejected as e:
            raise ValueError(str(e)) from e
    if kind == MARK_KIND:
        next_seq = record.get("next_seq")
        if type(next_seq) is not int or next_seq < 0:
            raise ValueError(f"mark with next_seq {next_seq!r}")
        return _Mark(next_seq)
    if not isinstance(kind, str):
        raise ValueError(f"kind {kind!r}")
    return None


def _next_seq_of(record: TranscriptFinal | _Mark) -> int:
    return record.seq + 1 if isinstance(record, TranscriptFinal) else record.next_seq
