"""One daemon per instance name: a pid file in the runtime directory, and cleanup after a kill.

A second start of the same instance while the first runs fails with a clear error. A pid file
whose process is gone (the daemon was killed with ``kill -9``) is taken over, and the ipc socket
files it left are removed before new ones are bound.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from pipeline.bus.endpoints import SOCKET_NAMES
from pipeline.errors import StreamscribeError

logger = logging.getLogger(__name__)


class DaemonAlreadyRunning(StreamscribeError):
    """Another daemon holds this instance's lock."""


class DaemonLock:
    def __init__(self, runtime_dir: Path, instance: str) -> None:
        self.runtime_dir = Path(runtime_dir)
        self.instance = instance
        self.path = self.runtime_dir / f"{instance}.pid"
        self.pid = os.getpid()
        self._fd: int | None = None

    def __enter__(self) -> DaemonLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DaemonAlreadyRunning(
                f"daemon instance {self.instance!r} is already running (pid {holder}, lock {self.path})"
            ) from e
        previous = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if previous and previous != str(self.pid):
            logger.warning(
                "previous daemon (pid %s) did not shut down cleanly; cleaning up", previous
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{self.pid}\n".encode(), 0)
        self._fd = fd
        return self

    def remove_stale_sockets(self) -> list[Path]:
        """Socket files of this instance (only called while holding the lock)."""
        removed = []
        for name in SOCKET_NAMES:
            path = self.runtime_dir / f"{self.instance}.{name}"
            if path.exists() or path.is_symlink():
                path.unlink()
                removed.append(path)
        return removed

    def __exit__(self, *exc_info: object) -> None:
        self.remove_stale_sockets()
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        self.path.unlink(missing_ok=True)
