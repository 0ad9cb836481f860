"""The runtime directory: where ipc sockets live. Only its owner may open it (mode 0700).

Private whatever the umask: the directory and any parent created for it get mode 0700 set
explicitly (``mkdir``'s mode is masked by the umask); the daemon also runs with umask 077, so
its sockets, pid file, journal and shared memory are created private too.

Default: ``$XDG_RUNTIME_DIR/streamscribe`` on Linux (falling back to ``/tmp/streamscribe-<uid>``),
``$TMPDIR/streamscribe`` on macOS (a per-user directory there).
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import tempfile
from pathlib import Path

from pipeline.errors import BusError

logger = logging.getLogger(__name__)

DIR_MODE = 0o700
# sockaddr_un.sun_path is 104 bytes on macOS and 108 on Linux, the terminating NUL included.
MAX_SOCKET_PATH_BYTES = 103 if sys.platform == "darwin" else 107


def default_runtime_dir() -> Path:
    """The per-user default runtime directory (not created)."""
    if sys.platform == "darwin":
        base = os.environ.get("TMPDIR") or tempfile.gettempdir()
        return Path(base) / "streamscribe"
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg) and os.path.isdir(xdg):
        return Path(xdg) / "streamscribe"
    return Path(tempfile.gettempdir()) / f"streamscribe-{os.getuid()}"


def resolve_runtime_dir(configured: str = "") -> Path:
    """Create (if needed) and check the runtime directory.

    ``configured`` is ``outputs.runtime_dir``; empty means the default, whose permissions are
    repaired when it is ours. A configured directory with loose permissions is refused instead,
    since it may be shared on purpose.
    """
    if configured:
        return ensure_private_dir(Path(configured).expanduser(), fix_permissions=False)
    return ensure_private_dir(default_runtime_dir(), fix_permissions=True)


def ensure_private_dir(path: Path, *, fix_permissions: bool = False) -> Path:
    """Make ``path`` a directory only the current user can open, or raise BusError.

    Refuses a symlink, a non-directory, a directory owned by another user, and (unless
    ``fix_permissions``) one that grants group or other users any access.
    """
    path = Path(os.path.abspath(path))
    try:
        _make_private_parents(path.parent)
        path.mkdir(mode=DIR_MODE)
        logger.debug("created runtime directory %s", path)
    except FileExistsError:
        pass
    except OSError as e:
        raise BusError(f"cannot create runtime directory {path}: {e}") from e
    try:
        info = os.lstat(path)
    except OSError as e:
        raise BusError(f"cannot inspect runtime directory {path}: {e}") from e
    if stat.S_ISLNK(info.st_mode):
        raise BusError(f"runtime directory {path} is a symlink; refusing to use it")
    if not stat.S_ISDIR(info.st_mode):
        raise BusError(f"runtime directory {path} exists and is not a directory")
    if info.st_uid != os.getuid():
        raise BusError(
            f"runtime directory {path} is owned by uid {info.st_uid}, not by this user "
            f"(uid {os.getuid()}); choose another outputs.runtime_dir"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        if not fix_permissions:
            raise BusError(
                f"runtime directory {path} has mode {mode:04o}; other users could reach its "
                f"sockets. Run 'chmod 700 {path}' or choose another outputs.runtime_dir"
            )
        logger.warning("runtime directory %s had mode %04o; setting 0700", path, mode)
    if mode != DIR_MODE:
        try:
            os.chmod(path, DIR_MODE)
        except OSError as e:
            raise BusError(f"cannot set mode 0700 on runtime directory {path}: {e}") from e
    return path


def _make_private_parents(path: Path) -> None:
    """Create the missing directories of ``path`` with mode 0700 (mkdir's mode obeys the umask,
    so the mode is set again explicitly); existing ones are left as they are."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(directory, DIR_MODE)


def check_socket_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a str if it fits in a Unix socket address, else BusError naming it."""
    text = os.fspath(path)
    size = len(os.fsencode(text))
    if size > MAX_SOCKET_PATH_BYTES:
        raise BusError(
            f"ipc socket path {text!r} is {size} bytes; Unix sockets allow at most "
            f"{MAX_SOCKET_PATH_BYTES} here. Choose a shorter outputs.runtime_dir or instance name"
        )
    return text
