"""The journal's current file: opened locked, written one line per ``write(2)``, rotated.

``JournalFile`` owns the file descriptor of ``<instance>.finals.jsonl`` (an exclusive ``flock``:
one daemon per journal), its size and identity (for the seq index), rotation (``.1`` … ``.N``,
the oldest deleted; the file rotated out and then the directory are fsynced unless the mode is
``none``) and the repair of a torn last line. What goes into the lines, the numbering and the
degraded state belong to ``FinalsJournal`` (``pipeline.journal``).
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path

from pipeline.errors import StreamscribeError
from pipeline.journal_files import ensure_journal_dir, fsync_dir, open_private_append, write_all
from pipeline.journal_index import FileKey, file_key
from pipeline.journal_reader import TAIL_READ_BYTES, JournalReader, parse_line

logger = logging.getLogger(__name__)


class JournalError(StreamscribeError):
    """The journal cannot be opened (locked by another daemon, unreadable, a bad setting)."""


class JournalFile:
    def __init__(
        self,
        path: Path,
        max_bytes: int,
        keep_files: int,
        sync: str,
        reader: JournalReader,
        rotated_mark: Callable[[], bytes],  # the line that starts a file after a rotation
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep_files = keep_files
        self.sync = sync
        self.reader = reader
        self.rotated_mark = rotated_mark
        self.fd: int | None = None
        self.key: FileKey | None = None  # the identity of the current file (for the index)
        self.size = 0
        self.rotations = 0

    def open(self) -> None:
        """Open the current file for appending (created 0600) and lock it."""
        try:
            fd = open_private_append(self.path)
        except OSError as e:
            raise JournalError(f"cannot open finals journal {self.path}: {e}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            raise JournalError(
                f"finals journal {self.path} is in use by another process (is a daemon with the "
                "same runtime directory running?)"
            ) from e
        self.fd = fd
        self.size = os.fstat(fd).st_size
        self.key = file_key(fd)
        if self.size == 0:  # no lines: whatever the index holds for this inode is a deleted
            self.reader.index.start_empty(self.key)  # file's (inodes are reused), not this one's

    def reopen(self) -> None:
        """Open the current file again (after an error) and cut a torn last line."""
        self.close()
        ensure_journal_dir(self.path.parent)
        self._open_as_os_error()
        self.repair_torn_line()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock
            self.fd = None

    def fsync(self) -> None:
        assert self.fd is not None, "journal is closed"
        os.fsync(self.fd)

    def write_line(self, line: bytes, seq: int | None = None) -> None:
        """Append ``line`` (final ``seq``'s, or a mark's), rotating first if it would not fit."""
        if self.size > 0 and self.size + len(line) > self.max_bytes:
            self.rotate()
        offset = self.size
        self.write_raw(line)
        if seq is not None and self.key is not None:
            self.reader.index.note(self.key, seq, offset)

    def write_raw(self, line: bytes) -> None:
        assert self.fd is not None, "journal is closed"
        write_all(self.fd, line)  # O_APPEND, unbuffered: one write(2) per line
        self.size += len(line)

    def rotate(self) -> None:
        assert self.fd is not None
        if self.sync != "none":
            os.fsync(self.fd)  # the file rotated out is complete on disk
        for index in sorted(self.reader.rotated_indices(), reverse=True):
            source = self.reader.rotated_path(index)
            if index >= self.keep_files:
                source.unlink(missing_ok=True)
            else:
                os.replace(source, self.reader.rotated_path(index + 1))
        if self.keep_files > 0:
            os.replace(self.path, self.reader.rotated_path(1))
        else:
            self.path.unlink(missing_ok=True)
        self.close()
        self._open_as_os_error()
        if self.sync != "none":
            fsync_dir(self.path.parent)  # the renames and the new file survive a power loss
        self.reader.build_index()  # forgets the file rotated away (the others keep their inode)
        self.rotations += 1
        logger.debug("finals journal %s rotated", self.path)
        self.write_line(self.rotated_mark())

    def _open_as_os_error(self) -> None:
        """``open``, its failure raised as the ``OSError`` behind it (the journal degrades)."""
        try:
            self.open()
        except JournalError as e:
            cause = e.__cause__
            raise cause if isinstance(cause, OSError) else OSError(str(e)) from e

    def repair_torn_line(self) -> None:
        """Cut off a last line without its newline (a crash or a full disk mid-write), or end
        it if it is whole."""
        if self.size == 0:
            return
        with open(self.path, "rb") as reader:
            start = max(0, self.size - TAIL_READ_BYTES)
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
            parse_line(torn)
        except ValueError:
            logger.warning(
                "finals journal %s: cutting a torn last line of %d bytes (a crash mid-write)",
                self.path,
                self.size - cut_at,
            )
            os.truncate(self.path, cut_at)
            self.size = cut_at
            if self.key is not None:
                self.reader.index.truncated(self.key, cut_at)
            return
        self.write_raw(b"\n")
        if self.key is not None:  # a whole last line, now ended: index the file again
            self.reader.index.drop(self.key)
            self.reader.index.for_file(self.path)
