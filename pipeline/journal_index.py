"""Where each final lies in the journal's files: seq -> (file, byte offset), for cheap replays.

A replay of finals older than the in-memory tail reads only the lines it returns: it looks the
first seq up here, seeks to that line and reads on from there. Without the index it had to parse
every line of every file from the start (about a second for a few hundred long finals).

Files are known by their identity (device, inode), not their name: a rotation renames
``journal`` to ``journal.1`` and so on, which keeps the inode, so the offsets stay right. An
index is built by one scan of a file (``scan``: finds each final's seq without parsing the
whole line) the first time the file is seen (the journal scans all files at open) and is then
kept up to date by the writer (``note``; ``truncated`` after a torn line was cut). Files that are
gone are forgotten (``prune``). A reader that finds a line that does not match the index falls
back to reading that file from its start and drops the index, which is rebuilt at the next use.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
from array import array
from pathlib import Path

logger = logging.getLogger(__name__)

FileKey = tuple[int, int]  # (st_dev, st_ino)
FINAL_PREFIX = b'{"kind":"transcript.final",'  # how journal_reader.final_line starts a final
# the first "seq" key of a final's line is the final's own (words have no seq); a quote inside a
# JSON string is escaped, so this cannot match inside the stream id or the text
_SEQ_KEY = re.compile(rb'"seq":(\d+)[,}]')
_SCAN_CHUNK_BYTES = 1 << 20


def file_key(path: Path | int) -> FileKey:
    """The identity of a file (a path, or an open descriptor) that survives a rename."""
    st = os.fstat(path) if isinstance(path, int) else os.stat(path)
    return (st.st_dev, st.st_ino)


class FileIndex:
    """The seqs of the finals in one file, ascending, and the byte offset of each one's line."""

    __slots__ = ("offsets", "seqs")

    def __init__(self) -> None:
        self.seqs = array("q")
        self.offsets = array("q")

    def add(self, seq: int, offset: int) -> None:
        if self.seqs and seq <= self.seqs[-1]:
            return  # out of order (damage): a reader skips it too
        self.seqs.append(seq)
        self.offsets.append(offset)

    def first_at_or_after(self, seq: int) -> tuple[int, int] | None:
        """(seq, offset) of the first final here with a seq >= ``seq``; None if there is none."""
        at = bisect.bisect_left(self.seqs, seq)
        if at == len(self.seqs):
            return None
        return self.seqs[at], self.offsets[at]

    def cut(self, size: int) -> None:
        """Forget lines at or after byte ``size`` (the file was truncated there)."""
        at = bisect.bisect_left(self.offsets, size)
        del self.seqs[at:]
        del self.offsets[at:]

    @property
    def last_seq(self) -> int | None:
        return self.seqs[-1] if self.seqs else None


def scan(path: Path) -> FileIndex:
    """Index ``path`` by one read (seq found by a pattern, lines not parsed); OSError if it
    cannot be read."""
    index = FileIndex()
    offset = 0
    rest = b""
    with open(path, "rb") as reader:
        while chunk := reader.read(_SCAN_CHUNK_BYTES):
            data = rest + chunk
            lines = data.split(b"\n")
            rest = lines.pop()
            for line in lines:
                _index_line(index, line, offset)
                offset += len(line) + 1
    # a last piece without its newline is torn: the journal cuts it at open; not indexed
    return index


def _index_line(index: FileIndex, line: bytes, offset: int) -> None:
    if not line.startswith(FINAL_PREFIX):
        return
    found = _SEQ_KEY.search(line)
    if found is not None:
        index.add(int(found.group(1)), offset)


class JournalIndex:
    """The ``FileIndex`` of every journal file seen, by file identity."""

    def __init__(self) -> None:
        self._files: dict[FileKey, FileIndex] = {}
        self.scans = 0  # files indexed by a scan (for tests and logs)

    def for_file(self, path: Path) -> tuple[FileKey, FileIndex] | None:
        """The index of ``path`` (scanned now if it is not known); None if it is gone."""
        try:
            key = file_key(path)
        except FileNotFoundError:
            return None
        index = self._files.get(key)
        if index is None:
            try:
                index = scan(path)
            except FileNotFoundError:
                return None
            self._files[key] = index
            self.scans += 1
        return key, index

    def note(self, key: FileKey, seq: int, offset: int) -> None:
        """The writer appended final ``seq`` at ``offset`` of the file ``key``."""
        index = self._files.get(key)
        if index is None:
            index = self._files[key] = FileIndex()
        index.add(seq, offset)

    def known(self, key: FileKey) -> bool:
        return key in self._files

    def start_empty(self, key: FileKey) -> None:
        """A file the writer just created (no lines yet)."""
        self._files[key] = FileIndex()

    def truncated(self, key: FileKey, size: int) -> None:
        index = self._files.get(key)
        if index is not None:
            index.cut(size)

    def drop(self, key: FileKey) -> None:
        self._files.pop(key, None)

    def prune(self, keys: set[FileKey]) -> None:
        """Forget every file not in ``keys`` (rotated away or deleted)."""
        for key in list(self._files):
            if key not in keys:
                del self._files[key]
