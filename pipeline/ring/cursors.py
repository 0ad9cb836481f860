"""Reader cursors: readers that must not be lapped tell the writer how far they have read.

A ring header has ``CURSOR_SLOTS`` slots (see ``layout``). A reader claims one, keeps its index
at its read position (``set``: "I no longer need samples before this index"), and releases it
when done. A writer that can wait (a file read at ``pace = "fast"``) asks for the lowest index
held by a *live* reader and waits until its next block would not overwrite it; realtime sources
never wait and may lap anyone.

Publication uses the ring's ordering primitives: a holder copies its samples, then
``store_release``s its index (its loads of the samples are ordered before the store); the
writer ``load_acquire``s the index before it overwrites anything. A claim stores index, start
time and label, then ``store_release``s the pid, so a writer that sees the pid sees the rest.

Claims are serialized with ``flock`` on the segment (a short critical section at reader start).
Where the platform refuses ``flock`` on shared memory the claim goes on without it; two readers
claiming in the same instant could then pick the same slot (documented limit; readers start
one at a time in the daemon).

A slot whose pid is gone, or whose pid now belongs to a process started at another time (pid
reuse), is dead: ignored by ``min_index`` and handed to the next claimant. The writer never
writes a slot.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import mmap
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import RingError
from pipeline.ring import layout, segment
from pipeline.ring.ordering import MemoryOrdering

logger = logging.getLogger(__name__)

LIVENESS_CACHE_S = 0.25  # a "holder alive" verdict is trusted this long before re-checking
_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CursorInfo:
    """One claimed slot as seen now."""

    slot: int  # slot number, 0 .. CURSOR_SLOTS - 1
    label: str  # what the holder called itself ("vad", ...)
    pid: int  # holder's pid
    index: int  # holder no longer needs samples before this index
    alive: bool  # the holder process still exists (same pid, same start time)


def process_start_ms(pid: int) -> int | None:
    """Start time of process ``pid`` in ms on a clock no change of the wall clock moves, or None
    if there is no such process (or it is a zombie); 0 when it exists but cannot be read.

    On Linux: the kernel's start time in clock ticks since boot (``/proc/PID/stat``, field 22).
    Not ``psutil``'s ``create_time()`` there: it adds the boot time of ``/proc/stat``, whole
    seconds derived from the wall clock, which moves by a second when the clock is stepped (NTP,
    a resumed VM) or slews across a second's boundary; a holder's start time stored before such a
    change then read a second off after it, every holder looked dead, and a fast writer ran
    over every reader's cursor. Elsewhere (macOS) ``psutil`` gives the start time the kernel
    recorded at the process's start, which a later clock change does not move."""
    if sys.platform.startswith("linux"):
        return _linux_start_ms(pid)
    import psutil

    try:
        return round(psutil.Process(pid).create_time() * 1000)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.Error:
        return 0  # exists but unreadable (another user): treat as alive, start time unknown


def _linux_start_ms(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return 0  # exists but unreadable: alive, start time unknown
    # fields after the command name (which may hold spaces and parentheses): state is field 3
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):  # zombie or dead: the process has exited
        return None
    start_ticks = int(fields[22 - 3])
    return round(start_ticks * 1000 / _CLOCK_TICKS_PER_S)


class CursorTable:
    """The cursor slots of one ring handle. ``base_address``: header byte 0 in this handle."""

    def __init__(self, ring_name: str, ordering: MemoryOrdering, base_address: int) -> None:
        self._name = ring_name
        self._ordering = ordering
        self._read_base = base_address
        self._write_base: int | None = None  # header address in a mapping this handle may write
        self._header_mapping: mmap.mmap | None = None  # writable header-only mapping, if opened
        self._header_anchor: ctypes.Array | None = None  # keeps the address valid
        self._owned: set[int] = set()
        self._verdicts: dict[int, tuple[int, int, bool, float]] = {}  # slot -> pid, ms, alive, t

    def set_writable_base(self, base_address: int) -> None:
        """The handle's own mapping is writable (the ring's writer): no extra mapping needed."""
        self._write_base = base_address

    # ---- holder side -------------------------------------------------------------------

    def claim(self, label: str, index: int) -> int:
        """Claim a free (or dead) slot at ``index``; returns the slot. ``RingError`` if full."""
        if index < 0:
            raise ValueError(f"cursor index {index} must be >= 0")
        write_base = self._writable_header()
        raw_label = label.encode("utf-8")[: layout.MAX_CURSOR_LABEL_BYTES]
        my_pid = os.getpid()
        my_start_ms = process_start_ms(my_pid) or 0
        with self._claim_lock():
            for slot in range(layout.CURSOR_SLOTS):
                pid = self._load(slot, layout.CURSOR_PID)
                if pid and self._alive(slot, pid, cached=False):
                    continue
                address = self._slot_address(write_base, slot)
                ctypes.c_uint64.from_address(address + layout.CURSOR_INDEX).value = index
                ctypes.c_uint64.from_address(address + layout.CURSOR_STARTED_MS).value = my_start_ms
                ctypes.memmove(address + layout.CURSOR_LABEL, b"\0" * 8, 8)
                ctypes.memmove(address + layout.CURSOR_LABEL, raw_label, len(raw_label))
                self._ordering.store_release(address + layout.CURSOR_PID, my_pid)
                self._owned.add(slot)
                self._verdicts.pop(slot, None)
                logger.debug(
                    "%s: cursor slot %d claimed by %r at %d", self._name, slot, label, index
                )
                return slot
        holders = ", ".join(f"{c.label}[{c.pid}]" for c in self.holders())
        raise RingError(
            f"all {layout.CURSOR_SLOTS} cursor slots of audio ring {self._name!r} are held "
            f"({holders})"
        )

    def set(self, slot: int, index: int) -> None:
        """Publish that the holder of ``slot`` no longer needs samples before ``index``."""
        self._check_owned(slot)
        address = self._slot_address(self._write_base, slot) + layout.CURSOR_INDEX
        self._ordering.store_release(address, index)

    def release(self, slot: int) -> None:
        """Give ``slot`` back; the writer no longer waits for it. Idempotent per claim."""
        if slot not in self._owned:
            return
        address = self._slot_address(self._write_base, slot) + layout.CURSOR_PID
        self._ordering.store_release(address, 0)
        self._owned.discard(slot)
        logger.debug("%s: cursor slot %d released", self._name, slot)

    def release_all(self) -> None:
        for slot in list(self._owned):
            self.release(slot)

    # ---- writer side -------------------------------------------------------------------

    def min_index(self, *, check_liveness: bool) -> int | None:
        """Lowest index of the claimed slots (only live holders if ``check_liveness``)."""
        lowest: int | None = None
        for slot in range(layout.CURSOR_SLOTS):
            pid = self._load(slot, layout.CURSOR_PID)
            if not pid or (check_liveness and not self._alive(slot, pid, cached=True)):
                continue
            index = self._load(slot, layout.CURSOR_INDEX)
            lowest = index if lowest is None else min(lowest, index)
        return lowest

    def holders(self) -> list[CursorInfo]:
        """Every claimed slot, live or dead, in slot order."""
        found = []
        for slot in range(layout.CURSOR_SLOTS):
            pid = self._load(slot, layout.CURSOR_PID)
            if not pid:
                continue
            index = self._load(slot, layout.CURSOR_INDEX)
            raw = ctypes.string_at(
                self._slot_address(self._read_base, slot) + layout.CURSOR_LABEL,
                layout.MAX_CURSOR_LABEL_BYTES,
            )
            label = raw.rstrip(b"\0").decode("utf-8", errors="replace")
            alive = self._alive(slot, pid, cached=False)
            found.append(CursorInfo(slot, label, pid, index, alive))
        return found

    # ---- internals ---------------------------------------------------------------------

    def close(self) -> None:
        """Release owned slots and unmap the header mapping (if one was opened)."""
        self.release_all()
        self._header_anchor = None
        if self._header_mapping is not None:
            with contextlib.suppress(BufferError):
                self._header_mapping.close()
            self._header_mapping = None
        self._write_base = None

    def _load(self, slot: int, field_offset: int) -> int:
        return self._ordering.load_acquire(self._slot_address(self._read_base, slot) + field_offset)

    @staticmethod
    def _slot_address(base: int | None, slot: int) -> int:
        assert base is not None
        return base + layout.CURSOR_OFFSET + slot * layout.CURSOR_SLOT_BYTES

    def _alive(self, slot: int, pid: int, *, cached: bool) -> bool:
        started_ms = self._load(slot, layout.CURSOR_STARTED_MS)
        now_s = time.monotonic()
        verdict = self._verdicts.get(slot)
        fresh = verdict is not None and (
            not verdict[2] or now_s - verdict[3] < LIVENESS_CACHE_S  # a dead holder stays dead
        )
        if cached and fresh and verdict[:2] == (pid, started_ms):
            return verdict[2]
        actual_ms = process_start_ms(pid)
        alive = actual_ms is not None and (
            actual_ms == 0 or started_ms == 0 or abs(actual_ms - started_ms) <= 1
        )
        self._verdicts[slot] = (pid, started_ms, alive, now_s)
        if not alive:
            logger.debug("%s: cursor slot %d holder pid %d is gone", self._name, slot, pid)
        return alive

    def _check_owned(self, slot: int) -> None:
        if slot not in self._owned:
            raise RingError(f"cursor slot {slot} of audio ring {self._name!r} is not held here")

    def _writable_header(self) -> int:
        if self._write_base is None:
            mapping = segment.open_header(self._name, layout.HEADER_SIZE_BYTES)
            anchor = (ctypes.c_char * layout.HEADER_SIZE_BYTES).from_buffer(mapping)
            self._header_mapping, self._header_anchor = mapping, anchor
            self._write_base = ctypes.addressof(anchor)
        return self._write_base

    @contextlib.contextmanager
    def _claim_lock(self):
        fd = segment.open_fd(self._name)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as e:  # e.g. a platform without flock on shared memory
                logger.debug(
                    "%s: no flock for cursor claims (%s); claiming unlocked", self._name, e
                )
            yield
        finally:
            os.close(fd)  # closing drops the lock
