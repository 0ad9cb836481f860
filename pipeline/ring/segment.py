"""Raw POSIX shared memory: create, open and unlink a named segment, mapped with ``mmap``.

This is what ``multiprocessing.shared_memory.SharedMemory`` does inside, minus its resource
tracker: before Python 3.13 the tracker of every *attaching* process registers the segment and
unlinks it (with a "leaked shared_memory" warning) when that process exits, which would pull
the ring out from under the daemon. Here nothing is registered anywhere; only the creator
unlinks, and stale segments of a killed creator are found by ``registry``.
"""

from __future__ import annotations

import logging
import mmap
import os
from dataclasses import dataclass

from pipeline.errors import RingError

try:
    import _posixshmem
except ImportError:  # pragma: no cover - Windows has no POSIX shared memory
    _posixshmem = None

logger = logging.getLogger(__name__)

SEGMENT_MODE = 0o600  # only the user who runs the daemon can map its audio


def _require_posixshmem() -> None:
    if _posixshmem is None:  # pragma: no cover
        raise RingError("POSIX shared memory (_posixshmem) is not available on this platform")


@dataclass(frozen=True)
class MappedSegment:
    """A mapped segment: its name (with leading slash), size and the ``mmap`` over it."""

    name: str
    size_bytes: int
    mapping: mmap.mmap


def create_segment(name: str, size_bytes: int) -> MappedSegment:
    """Create a new segment ``name`` of ``size_bytes`` zero bytes and map it read-write.

    Raises ``FileExistsError`` if the name is taken, ``RingError`` for any other failure.
    """
    _require_posixshmem()
    fd = _posixshmem.shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=SEGMENT_MODE)
    try:
        os.ftruncate(fd, size_bytes)
        mapping = mmap.mmap(fd, size_bytes)
    except OSError as e:
        os.close(fd)
        _unlink_quietly(name)
        raise RingError(f"cannot size or map new shared memory {name!r}: {e}") from e
    os.close(fd)
    logger.debug("created shared memory %s (%d bytes)", name, size_bytes)
    return MappedSegment(name, size_bytes, mapping)


def open_segment(name: str, *, writable: bool) -> MappedSegment:
    """Map an existing segment; ``RingError`` naming it if it is missing or unreadable."""
    _require_posixshmem()
    flags = os.O_RDWR if writable else os.O_RDONLY
    try:
        fd = _posixshmem.shm_open(name, flags, mode=SEGMENT_MODE)
    except FileNotFoundError as e:
        raise RingError(f"no audio ring named {name!r} (shared memory not found)") from e
    except OSError as e:
        raise RingError(f"cannot open audio ring {name!r}: {e}") from e
    try:
        size_bytes = os.fstat(fd).st_size
        access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
        mapping = mmap.mmap(fd, size_bytes, access=access) if size_bytes else None
    except OSError as e:
        raise RingError(f"cannot map audio ring {name!r}: {e}") from e
    finally:
        os.close(fd)
    if mapping is None:
        raise RingError(f"shared memory {name!r} is empty: not an audio ring")
    return MappedSegment(name, size_bytes, mapping)


def open_fd(name: str) -> int:
    """A read-write descriptor of the existing segment ``name`` (the caller closes it)."""
    _require_posixshmem()
    try:
        return _posixshmem.shm_open(name, os.O_RDWR, mode=SEGMENT_MODE)
    except FileNotFoundError as e:
        raise RingError(f"no audio ring named {name!r} (shared memory not found)") from e
    except OSError as e:
        raise RingError(f"cannot open audio ring {name!r} read-write: {e}") from e


def open_header(name: str, header_bytes: int) -> mmap.mmap:
    """A writable mapping of the first ``header_bytes`` of segment ``name`` only.

    Readers that attached read-only use it to publish their cursor without being able to
    touch the samples.
    """
    fd = open_fd(name)
    try:
        return mmap.mmap(fd, header_bytes, access=mmap.ACCESS_WRITE)
    except OSError as e:
        raise RingError(f"cannot map the header of audio ring {name!r}: {e}") from e
    finally:
        os.close(fd)


def unlink_segment(name: str) -> bool:
    """Remove ``name`` from the shared-memory namespace; ``False`` if it was already gone.

    Processes that still map it keep their mapping until they close it.
    """
    _require_posixshmem()
    try:
        _posixshmem.shm_unlink(name)
    except FileNotFoundError:
        return False
    logger.debug("unlinked shared memory %s", name)
    return True


def _unlink_quietly(name: str) -> None:
    try:
        unlink_segment(name)
    except OSError:
        logger.warning("could not unlink half-created shared memory %s", name, exc_info=True)
