"""Ring segment names and the bookkeeping that lets a restarted daemon remove stale segments.

A name is ``/ss<owner pid>_<stream tag>_<random hex>`` (at most 31 characters, macOS's limit),
so it is unique per daemon instance and carries the pid that owns it. Each creator appends
``<pid> <name>`` to a registry file in the caller's runtime directory and removes the line when
it unlinks. ``remove_stale_segments`` unlinks every registered segment whose owner is dead and,
on Linux, every ``/dev/shm`` entry with our prefix whose owner is dead: a ``kill -9`` of the
daemon leaves nothing the next start does not clean. macOS cannot list POSIX shared memory,
which is why the registry exists.

A pid may be reused. A live pid that is this very process but did not create the segment (a
container restarting the daemon under the same pid) counts as dead; another process that
reused the pid keeps the segment alive until it exits.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import secrets
from pathlib import Path

from pipeline.ring.segment import unlink_segment

logger = logging.getLogger(__name__)

NAME_PREFIX = "ss"  # every ring segment name starts with "/ss<pid>_"
MAX_NAME_CHARS = 31  # macOS PSHMNAMLEN, leading slash included
REGISTRY_FILE_NAME = "ring-segments"  # in the runtime directory: one "<pid> <name>" per line
LINUX_SHM_DIR = Path("/dev/shm")
_STREAM_TAG_CHARS = 8
_NAME_RE = re.compile(rf"^/?{NAME_PREFIX}(\d+)_[A-Za-z0-9]*_[0-9a-f]+$")

_created_here: set[str] = set()  # names this process created and has not unlinked yet


def make_segment_name(stream_id: str, pid: int | None = None) -> str:
    """A fresh name ``/ss<pid>_<tag>_<hex>`` for a ring of ``stream_id``, at most 31 chars."""
    pid = os.getpid() if pid is None else pid
    tag = re.sub(r"[^A-Za-z0-9]", "", stream_id)[:_STREAM_TAG_CHARS]
    name = f"/{NAME_PREFIX}{pid}_{tag}_{secrets.token_hex(3)}"
    if len(name) > MAX_NAME_CHARS:  # only with an absurd pid; keep the parseable shape
        name = f"/{NAME_PREFIX}{pid}__{secrets.token_hex(3)}"[:MAX_NAME_CHARS]
    return name


def owner_pid_of(name: str) -> int | None:
    """The owner pid carried by a ring segment name, or ``None`` if it is not one of ours."""
    match = _NAME_RE.match(name)
    return int(match.group(1)) if match else None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _owner_dead(name: str, pid: int) -> bool:
    if pid == os.getpid():
        return name not in _created_here
    return not _pid_alive(pid)


@contextlib.contextmanager
def _locked_registry(runtime_dir: Path):
    runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(runtime_dir / REGISTRY_FILE_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8") as registry:
        fcntl.flock(registry, fcntl.LOCK_EX)
        yield registry


def _read_entries(registry) -> list[tuple[int, str]]:
    registry.seek(0)
    entries = []
    for line in registry.read().splitlines():
        pid_text, _, name = line.strip().partition(" ")
        if pid_text.isdigit() and name.startswith("/"):
            entries.append((int(pid_text), name))
    return entries


def _write_entries(registry, entries: list[tuple[int, str]]) -> None:
    registry.seek(0)
    registry.truncate()
    registry.write("".join(f"{pid} {name}\n" for pid, name in entries))
    registry.flush()


def register_segment(runtime_dir: str | os.PathLike[str], name: str, pid: int) -> None:
    """Record that ``pid`` owns segment ``name`` (call right after creating it)."""
    _created_here.add(name)
    with _locked_registry(Path(runtime_dir)) as registry:
        _write_entries(registry, [*_read_entries(registry), (pid, name)])


def unregister_segment(runtime_dir: str | os.PathLike[str], name: str) -> None:
    """Forget segment ``name`` (call after unlinking it)."""
    _created_here.discard(name)
    with _locked_registry(Path(runtime_dir)) as registry:
        entries = _read_entries(registry)
        kept = [(pid, entry) for pid, entry in entries if entry != name]
        if len(kept) != len(entries):
            _write_entries(registry, kept)


def _scan_linux_shm() -> list[tuple[int, str]]:
    if not LINUX_SHM_DIR.is_dir():
        return []
    found = []
    for entry in LINUX_SHM_DIR.iterdir():
        pid = owner_pid_of(entry.name)
        if pid is not None:
            found.append((pid, "/" + entry.name))
    return found


def _unlink_stale(name: str) -> bool:
    try:
        return unlink_segment(name)
    except PermissionError:
        logger.debug("stale segment %s belongs to another user; left alone", name)
        return False


def remove_stale_segments(runtime_dir: str | os.PathLike[str]) -> list[str]:
    """Unlink ring segments whose owner process is dead; returns the names removed.

    Looks at the registry in ``runtime_dir`` and, where the platform can list them (Linux
    ``/dev/shm``), at every segment named with our prefix. Segments of live owners are kept.
    """
    removed: list[str] = []
    with _locked_registry(Path(runtime_dir)) as registry:
        entries = _read_entries(registry)
        kept = []
        for pid, name in entries:
            if not _owner_dead(name, pid):
                kept.append((pid, name))
            elif _unlink_stale(name):
                removed.append(name)
        if len(kept) != len(entries):
            _write_entries(registry, kept)
    for pid, name in _scan_linux_shm():
        if name not in removed and _owner_dead(name, pid) and _unlink_stale(name):
            removed.append(name)
    if removed:
        logger.info("removed %d stale audio ring segment(s): %s", len(removed), removed)
    return removed
