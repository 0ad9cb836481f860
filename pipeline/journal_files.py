"""File-level parts of the finals journal: private files, syncs, and the seq high-water file.

Everything here is created private whatever the process umask: files 0600, directories the
journal creates 0700 (an existing directory the user chose is left as it is, with a warning when
other users can enter it).

``SeqHighWater`` is a small fixed-size file next to the journal (``<journal>.seq``) holding a
bound: no seq at or above it has been published. It is rewritten in place (one ``pwrite`` of
``RECORD_BYTES``, within one disk sector, then ``fsync``), so it can still be updated when the
disk is full (no block is allocated) and a power loss leaves the old or the new record.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700
RECORD_BYTES = 128  # the high-water record, padded; well within one 512-byte sector
# errors that mean "the disk is full or failing, try again later", not "misconfigured"
TRANSIENT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOENT, errno.ESTALE}
)


def ensure_journal_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) with mode 0700; warn if an existing one is open."""
    missing = []
    probe = Path(os.path.abspath(path))
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(directory, DIR_MODE)  # mkdir's mode is masked by the umask
    if not missing:
        st = os.stat(path)
        if not stat.S_ISDIR(st.st_mode):  # e.g. journal_path under a file
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(path))
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            logger.warning(
                "finals journal directory %s has mode %04o: other users can list it "
                "(the journal files themselves are 0600)",
                path,
                mode,
            )


def open_private_append(path: Path) -> int:
    """An O_APPEND descriptor on ``path``, created 0600; an existing file is made 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` (a short write on a filling disk is continued or raises)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, "short write")
        view = view[written:]


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def describe(error: OSError) -> str:
    """A short reason for status: ``No space left on device (ENOSPC)``."""
    name = errno.errorcode.get(error.errno or 0, "")
    text = error.strerror or str(error)
    return f"{text} ({name})" if name else text


class SeqHighWater:
    """The persisted bound on published seqs (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def read(self) -> int:
        """The stored bound; 0 when the file is missing or damaged (damage is logged)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        try:
            value = json.loads(raw.decode().strip() or "null")["reserved_seq"]
            if type(value) is not int or value < 0:
                raise ValueError(f"reserved_seq {value!r}")
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as e:
            logger.warning("seq high-water file %s is damaged (%s); ignoring it", self.path, e)
            return 0
        return value

    def write(self, reserved_seq: int, run_id: str) -> None:
        """Store ``reserved_seq`` durably (pwrite in place + fsync); OSError if it cannot."""
        record = json.dumps({"reserved_seq": reserved_seq, "run_id": run_id}).encode()
        if len(record) > RECORD_BYTES - 1:
            raise ValueError(f"high-water record of {len(record)} bytes is too long")
        data = record.ljust(RECORD_BYTES - 1) + b"\n"
        if self._fd is None:
            self._open()
        assert self._fd is not None
        try:
            if os.pwrite(self._fd, data, 0) != len(data):
                raise OSError(errno.ENOSPC, "short write")
            os.fsync(self._fd)
        except OSError:
            self.close()  # reopened at the next write (the file may have been replaced)
            raise

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _open(self) -> None:
        existed = self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
                os.fchmod(fd, FILE_MODE)
            if os.fstat(fd).st_size < RECORD_BYTES:
                # allocate the record's block now, so later updates need no new space
                os.pwrite(fd, b" " * (RECORD_BYTES - 1) + b"\n", 0)
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        if not existed:
            fsync_dir(self.path.parent)
