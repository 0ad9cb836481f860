"""The finals journal: every published ``TranscriptFinal`` as one JSON line, for replay.

The supervisor appends a final here *before* it publishes it, so whatever a subscriber can have
missed on the PUB socket, the journal holds (a ``ReplayRequest`` is answered from it). One way to
open it: ``FinalsJournal.from_outputs(outputs, runtime_dir, instance)``.

Files: ``<instance>.finals.jsonl`` is written; when the next line would take it past
``max_bytes`` it becomes ``.1``, the older ones shift to ``.2`` … ``.keep_files`` and the oldest
is deleted. On disk the journal stays under ``(keep_files + 1) * max_bytes`` plus one line. Every
file is created 0600 and a directory the journal creates 0700, whatever the umask.

Lines: a final is ``{"kind": "transcript.final", "v": <schema>, <every field>}`` with words as
maps; a mark ``{"kind": "journal.mark", "v": <schema>, "next_seq": N, "run_id": ..., ...}``
starts every file and every daemon run. The mark makes the numbering survive a rotation that
leaves no final behind (``keep_files = 0``) and tells a reader where a file starts.

Durability (``outputs.journal_sync``, one of ``SYNC_MODES``):

- ``fsync`` (default): each final's line is fsynced before ``append`` returns, so before it is
  published; a power loss cannot take a published final out of the journal.
- ``rotate``: lines reach the OS per final (they survive a crash of the daemon, not a power
  loss); a file is fsynced when it is rotated out and at close.
- ``none``: the journal file is never fsynced.

Rotation fsyncs the file rotated out (``fsync``, ``rotate``) and then the directory, so the
renames are durable.

Numbering: ``seq`` *continues across restarts* and is **never reused for different content**.
A new daemon goes on from the newest mark or final in the files, or from the seq high-water
file ``<journal>.seq`` (``journal_files.SeqHighWater``), whichever is higher. That file holds a
bound below which every published seq lies, written and synced *before* a final whose line is
not synced (modes ``rotate``/``none``, or any mode while the journal is degraded) is published.
It is raised in blocks of ``SEQ_RESERVE_BLOCK`` in modes ``rotate``/``none`` (one extra fsync per
block, not per final) and by one in mode ``fsync``. So after a crash that lost the journal's
unsynced tail, the next run starts past every seq that may have been published: a gap of at most
one block (which a subscriber sees as finals it cannot get back), never a seq used twice. A clean
close stores the exact next seq, so an orderly restart leaves no gap. Each run writes its
``run_id`` (new per daemon start) into its marks and finals. Only a journal that is gone
altogether (a deleted directory, a reboot that empties a tmpfs runtime dir) starts again at 0;
the new ``run_id`` lets ``TranscriptSubscriber`` tell those finals from ones it has seen.

Degraded: a write that fails (a full disk, an I/O error) never leaves ``append``: the journal
becomes *degraded* (``health()`` says why and since when), keeps the finals it could not write
in memory (at most ``tail_size``; older ones are counted as dropped) and still answers replays
from its in-memory tail. ``maintain()`` (called by ``append`` too) retries every second
(``journal_health``): it re-opens the file, cuts a torn last line, writes what is pending (what
is not in the file already) and returns to ``ok``.

A journal that cannot be opened at all when the daemon starts (its directory cannot be created,
the path lies under a file, no permission, a read-only file system, another daemon holds its
lock) is a configuration error, not a degraded journal: ``JournalError`` names the path and the
start fails with that one line (exit 2) before any child is spawned. Starting without a journal
would publish finals that no replay can give back and whose seqs the next run could reuse, with
nothing on disk to say so; the fix (a writable ``outputs.journal_path``) is the user's. Once
open, every write failure degrades instead (above): a disk that fills up later never stops the
daemon.

Damage: a line that does not parse (a crash mid-write, a disk error) is skipped with a warning;
a torn last line is cut off at open. Memory: the last ``tail_size`` finals are kept for fast
replay; older ones are read back from the files on demand. Not thread-safe: one owner (the
supervisor loop).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any, Literal, Protocol

from pipeline.journal_files import (
    SeqHighWater,
    describe,
    ensure_journal_dir,
)
from pipeline.journal_health import JournalBacklog, JournalHealth
from pipeline.journal_index import JournalIndex
from pipeline.journal_reader import (
    MARK_KIND,
    JournalReader,
    final_line,
    json_line,
)
from pipeline.journal_replay import ReplayTail, answer_replay, replay_finals
from pipeline.journal_writer import JournalError, JournalFile
from pipeline.messages import (
    DEFAULT_MAX_FRAME_BYTES,
    SCHEMA_VERSION,
    ReplayReply,
    ReplayRequest,
    TranscriptFinal,
)

logger = logging.getLogger(__name__)

FILE_SUFFIX = ".finals.jsonl"  # the journal of instance NAME is NAME.finals.jsonl
SEQ_FILE_SUFFIX = ".seq"  # the high-water file sits next to the journal: NAME.finals.jsonl.seq
SYNC_MODES = ("fsync", "rotate", "none")
SEQ_RESERVE_BLOCK = 1000  # seqs reserved per high-water write in modes rotate/none
DEFAULT_TAIL_SIZE = 1000  # finals kept in memory for replay without reading files

SyncMode = Literal["fsync", "rotate", "none"]


class OutputsLike(Protocol):
    """The fields of ``config.schema.OutputsConfig`` that ``from_outputs`` reads."""

    journal_path: str
    journal_max_mb: float
    journal_keep: int
    journal_sync: str


def journal_path(outputs: OutputsLike, runtime_dir: Path, instance: str) -> Path:
    """Where the journal of ``instance`` lives: ``outputs.journal_path`` or the runtime dir."""
    if outputs.journal_path:
        return Path(outputs.journal_path).expanduser()
    return Path(runtime_dir) / f"{instance}{FILE_SUFFIX}"


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
        sync: str = "fsync",
        run_id: str = "",
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes {max_bytes} must be > 0")
        if keep_files < 0:
            raise ValueError(f"keep_files {keep_files} must be >= 0")
        if tail_size < 1:
            raise ValueError(f"tail_size {tail_size} must be >= 1")
        if sync not in SYNC_MODES:
            raise ValueError(f"sync {sync!r} is not one of {', '.join(SYNC_MODES)}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.keep_files = keep_files
        self.sync: SyncMode = sync  # type: ignore[assignment]
        self.run_id = run_id or new_run_id()  # names this daemon run in marks and finals
        self._reader = JournalReader(self.path, JournalIndex())
        self._tail = ReplayTail(tail_size)  # the newest finals, for replay without the files
        self._file = JournalFile(
            self.path,
            max_bytes,
            keep_files,
            sync,
            self._reader,
            rotated_mark=lambda: self._mark_line("rotate"),
        )
        self._closed = False
        self._high_water = SeqHighWater(self.path.with_name(self.path.name + SEQ_FILE_SUFFIX))
        self._reserved = 0  # every published seq is below this (stored in the high-water file)
        self._backlog = JournalBacklog(max_lines=tail_size)  # degraded: what waits, and why
        try:
            ensure_journal_dir(self.path.parent)
        except OSError as e:
            raise JournalError(
                f"cannot create the journal directory {self.path.parent}: {e}"
            ) from e
        self._file.open()
        try:
            self._start_run()
        except BaseException:
            self.close()
            raise
        logger.info(
            "finals journal %s opened (run %s, sync %s): next seq %d",
            self.path,
            self.run_id,
            self.sync,
            self._next_seq,
        )

    def _start_run(self) -> None:
        """Repair the files, recover the numbering, and mark the start of this run."""
        try:
            self._file.repair_torn_line()
        except OSError as e:
            self._degrade("cannot repair", e)
        try:
            self._next_seq = max(self._reader.recover_next_seq(), self._high_water.read())
            self._reader.build_index()  # one scan of each file: replays then read only their lines
        except OSError as e:
            raise JournalError(f"cannot read finals journal {self.path}: {e}") from e
        self._reserved = self._next_seq
        try:  # allocated now, so that it can be updated in place on a full disk
            self._high_water.write(self._next_seq, self.run_id)
        except OSError as e:
            self._degrade("cannot store the seq high-water mark in", e)
        if self._backlog.degraded:
            return
        try:
            self._file.write_line(self._mark_line("open"))
            if self.sync == "fsync" and self._file.fd is not None:
                self._file.fsync()
        except OSError as e:
            self._degrade("cannot write", e)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        max_bytes: int,
        keep_files: int,
        *,
        tail_size: int = DEFAULT_TAIL_SIZE,
        sync: str = "fsync",
        run_id: str = "",
    ) -> FinalsJournal:
        """Open (creating or recovering) the journal at ``path``."""
        return cls(path, max_bytes, keep_files, tail_size=tail_size, sync=sync, run_id=run_id)

    @classmethod
    def from_outputs(
        cls, outputs: OutputsLike, runtime_dir: Path, instance: str, **kwargs: Any
    ) -> FinalsJournal:
        """The journal of daemon ``instance`` as ``outputs`` configures it (the one way the
        daemon and its tools open it): ``journal_max_mb`` in MB of 10^6 bytes."""
        return cls.open(
            journal_path(outputs, runtime_dir, instance),
            max(1, int(outputs.journal_max_mb * 1e6)),
            outputs.journal_keep,
            sync=outputs.journal_sync,
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

    @property
    def corrupt_lines(self) -> int:
        """Lines skipped as damaged while reading, since open."""
        return self._reader.corrupt_lines

    @property
    def degraded(self) -> bool:
        """True while writes fail; the daemon goes on publishing (see ``health()``)."""
        return self._backlog.degraded

    def health(self) -> JournalHealth:
        """The journal's state for ``status`` and ``metrics`` (``.as_dict()`` for a payload)."""
        return self._backlog.health()

    def append(self, final: TranscriptFinal) -> None:
        """Record ``final`` (whose seq must be ``next_seq``) before it is published.

        Never raises for a disk problem: the journal degrades instead (see the module docstring).
        On return the final may be published: its line is synced (mode ``fsync``) or its seq is
        below the synced high-water mark.
        """
        if final.seq != self._next_seq:
            raise ValueError(
                f"final seq {final.seq} is not the journal's next seq {self._next_seq}"
            )
        self.maintain()
        line = final_line(final)
        self._tail.add(final)
        self._next_seq += 1
        synced = False
        if not self._backlog.degraded:
            try:
                self._file.write_line(line, final.seq)
                if self.sync == "fsync":
                    self._file.fsync()
                    synced = True
            except OSError as e:
                self._degrade("cannot write", e)
                # torn in the file, or written but not synced: the retry cuts a torn line and
                # writes it again unless the file already ends at or after it
                self._backlog.hold(final.seq, line)
        else:
            self._backlog.hold(final.seq, line)
        if not synced:
            self._reserve(final.seq)

    def maintain(self, now_s: float | None = None) -> None:
        """While degraded, try again (at most once a second) to write what is
        pending; back to ok when that works. Cheap when healthy: call it from the owner's loop."""
        backlog = self._backlog
        if not backlog.retry_due(time.monotonic() if now_s is None else now_s):
            return
        written = 0
        try:
            self._file.reopen()
            in_file = self._reader.last_next_seq(self.path) or 0  # lines that made it before
            while backlog.lines:
                seq, line = backlog.lines[0]
                if seq >= in_file:
                    self._file.write_line(line, seq)
                    written += 1
                backlog.lines.popleft()
            self._file.write_line(self._mark_line("recover"))
            if self.sync != "none":
                self._file.fsync()
        except OSError as e:
            self._degrade("cannot write", e)
            logger.debug("finals journal %s still failing: %s", self.path, e)
            return
        logger.warning(
            "finals journal %s recovered after %.0f s (%d finals written late, %d dropped)",
            self.path,
            backlog.recovered(),
            written,
            backlog.dropped,
        )

    def close(self) -> None:
        """Sync (unless mode ``none``), store the exact next seq, release the lock."""
        if self._closed:
            return
        self._closed = True
        self.maintain(now_s=float("inf"))
        if self._file.fd is not None:
            try:
                if self.sync != "none":
                    self._file.fsync()
            except OSError as e:
                logger.warning("finals journal %s: sync at close failed: %s", self.path, e)
            self._file.close()  # releases the lock
        if hasattr(self, "_next_seq"):
            try:  # every published seq is in the synced files or below this: no gap next run
                self._high_water.write(self._next_seq, self.run_id)
            except OSError as e:
                logger.warning("cannot store the next seq in %s: %s", self._high_water.path, e)
        self._high_water.close()

    def __enter__(self) -> FinalsJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _degrade(self, what: str, error: OSError) -> None:
        reason = f"{what} {self.path}: {describe(error)}"
        if self._backlog.fail(reason):
            logger.error(
                "finals journal degraded: %s; finals are still published and kept in memory "
                "(up to %d) until it can be written again",
                reason,
                self._backlog.max_lines,
            )

    def _reserve(self, seq: int) -> None:
        """Make sure the high-water file says ``seq`` may have been published."""
        if seq < self._reserved:
            return
        block = 1 if self.sync == "fsync" else SEQ_RESERVE_BLOCK
        try:
            self._high_water.write(seq + block, self.run_id)
        except OSError as e:
            self._degrade("cannot store the seq high-water mark in", e)
            logger.error(
                "seq %d is published without a durable record: a power loss now could let the "
                "next run reuse it",
                seq,
            )
            return
        self._reserved = seq + block

    # --- replay -------------------------------------------------------------------------------

    def replay(self, since_seq: int, max_count: int) -> tuple[list[TranscriptFinal], int]:
        """Finals with ``seq >= since_seq`` still held, oldest first, at most ``max_count``.

        Returns them and the seq to ask from next: one past the last returned if the answer was
        cut at ``max_count``, else ``next_seq``. Finals no longer held (rotated out of the files
        and older than the in-memory tail) are simply not there: the first returned seq is then
        above ``since_seq``. Costs what it returns: finals older than the tail are found in the
        index and only their lines are read.
        """
        held = self._tail.finals_since(since_seq, self._next_seq, self._reader)
        return replay_finals(held, self._next_seq, max_count)

    def answer(
        self, request: ReplayRequest, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    ) -> ReplayReply:
        """The ``ReplayReply`` to ``request``, cut so that its frame fits ``max_frame_bytes``
        (``journal_replay.answer_replay``)."""
        held = self._tail.finals_since(request.since_seq, self._next_seq, self._reader)
        return answer_replay(held, self._next_seq, request.max_count, max_frame_bytes)

    # --- files --------------------------------------------------------------------------------

    def files(self) -> list[Path]:
        """The journal's files that exist, oldest first (``.N`` … ``.1``, then the current)."""
        return self._reader.files()

    @staticmethod
    def peek_next_seq(path: str | os.PathLike[str]) -> int:
        """The seq the next final of the journal at ``path`` will get, read without opening it
        for writing (a running daemon keeps it locked)."""
        path = Path(path)
        high_water = SeqHighWater(path.with_name(path.name + SEQ_FILE_SUFFIX))
        return max(JournalReader(path).recover_next_seq(), high_water.read())

    @property
    def rotations(self) -> int:
        """Files rotated out since open."""
        return self._file.rotations

    def _mark_line(self, reason: str) -> bytes:
        mark = {
            "kind": MARK_KIND,
            "v": SCHEMA_VERSION,
            "next_seq": self._next_seq,
            "run_id": self.run_id,
            "reason": reason,  # "open" (a run starts), "rotate" (a new file), "recover"
            "time_unix_s": round(time.time(), 3),
        }
        return json_line(mark)


def new_run_id() -> str:
    """A fresh id for one daemon run (12 hex digits)."""
    return uuid.uuid4().hex[:12]
