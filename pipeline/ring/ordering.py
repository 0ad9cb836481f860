"""Memory ordering between the ring's one writer and its readers, chosen per platform.

Python has no fences, so the ring asks this module for three primitives on an 8-byte aligned
word of shared memory (the write index and the reserve index, see ``audio_ring``):

- ``store_release(address, value)``: every store before it is visible before ``value``;
- ``load_acquire(address)``: no load after it is satisfied before it;
- ``fence()``: a full barrier (loads and stores before it are ordered before those after it).

The writer does ``store reserve -> fence -> write samples -> store_release(write_index)``; a
reader does ``load_acquire(write_index) -> copy -> fence -> load_acquire(reserve)``.

Per platform:

- x86-64 (``x86_64``/``AMD64``, Linux or macOS): total store order. Stores are seen in program
  order, loads are not reordered with older loads, and an aligned 8-byte access is single-copy
  atomic, so plain loads and stores (one ``memcpy`` of 8 bytes in numpy's C code) are already
  release/acquire in hardware. The compiler cannot move a C-level access across the boundary
  between two CPython calls (each is an opaque function call), so no fence instruction is needed.
- macOS arm64 (Apple Silicon): ``OSMemoryBarrier`` from libSystem, a ``dmb ish`` full barrier,
  placed before the releasing store and after the acquiring load.
- Linux arm64: libatomic with ``__ATOMIC_SEQ_CST``. Its 8-byte load and store compile to ``ldar``
  and ``stlr`` (acquire and release on the word itself). ``fence()`` is
  ``__atomic_fetch_add_8`` on a private word: ``ldaddal`` with LSE (fully ordered), or an
  ``ldaxr``/``stlxr`` loop without it, whose release half orders every earlier access before it
  and whose acquire half orders every later access after it. Combined with ARMv8's rule that a
  store-release is ordered before a later load-acquire, both the writer's reserve store and the
  reader's sample loads are ordered before what follows the fence.

Any other architecture raises ``RingError`` when a ring is created or attached: being silently
wrong about ordering would hand readers torn audio.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform
from enum import Enum

from pipeline.errors import RingError

logger = logging.getLogger(__name__)

_SEQ_CST = 5  # __ATOMIC_SEQ_CST
_X86_64_MACHINES = frozenset({"x86_64", "amd64"})  # platform.machine(), lower-cased
_ARM64_MACHINES = frozenset({"arm64", "aarch64"})


class OrderingKind(Enum):
    """How a platform orders the ring's publish and read."""

    TOTAL_STORE_ORDER = "tso"  # x86-64: hardware orders plain aligned accesses enough
    OS_MEMORY_BARRIER = "os_memory_barrier"  # macOS arm64: libSystem OSMemoryBarrier
    LIBATOMIC = "libatomic"  # Linux arm64: libatomic seq_cst load/store/fetch_add


def select_ordering_kind(system: str, machine: str) -> OrderingKind:
    """The ordering a platform needs, from ``platform.system()`` and ``platform.machine()``.

    Raises ``RingError`` for a platform where no correct ordering is known.
    """
    arch = machine.lower()
    if arch in _X86_64_MACHINES:
        return OrderingKind.TOTAL_STORE_ORDER
    if arch in _ARM64_MACHINES and system == "Darwin":
        return OrderingKind.OS_MEMORY_BARRIER
    if arch in _ARM64_MACHINES and system == "Linux":
        return OrderingKind.LIBATOMIC
    raise RingError(
        f"no memory-ordering strategy for the audio ring on {system}/{machine}: "
        "supported are x86-64 (Linux, macOS), arm64 macOS and arm64 Linux"
    )


class MemoryOrdering:
    """Plain 8-byte accesses with no fence: correct on total-store-order hardware (x86-64)."""

    kind = OrderingKind.TOTAL_STORE_ORDER

    def fence(self) -> None:
        """Full barrier; nothing to do under total store order."""

    def store_release(self, address: int, value: int) -> None:
        """Store ``value`` at ``address`` after every earlier store is visible."""
        self.fence()
        ctypes.c_uint64.from_address(address).value = value

    def load_acquire(self, address: int) -> int:
        """Load the word at ``address``; later loads are not satisfied before it."""
        value = ctypes.c_uint64.from_address(address).value
        self.fence()
        return value


class OsMemoryBarrierOrdering(MemoryOrdering):
    """macOS: ``OSMemoryBarrier()`` from libSystem (a full ``dmb ish`` on arm64)."""

    kind = OrderingKind.OS_MEMORY_BARRIER

    def __init__(self, library_path: str = "/usr/lib/libSystem.B.dylib") -> None:
        try:
            barrier = ctypes.CDLL(library_path).OSMemoryBarrier
        except (OSError, AttributeError) as e:
            raise RingError(f"OSMemoryBarrier not found in {library_path}: {e}") from e
        barrier.argtypes = []
        barrier.restype = None
        self._barrier = barrier

    def fence(self) -> None:
        """Full hardware barrier."""
        self._barrier()


class LibatomicOrdering(MemoryOrdering):
    """Linux arm64: libatomic seq_cst 8-byte load, store and fetch_add."""

    kind = OrderingKind.LIBATOMIC

    def __init__(self, library_path: str | None = None) -> None:
        path = library_path or ctypes.util.find_library("atomic") or "libatomic.so.1"
        try:
            lib = ctypes.CDLL(path)
            # getattr: a dunder name written as an attribute inside a class would be mangled
            load, store, fetch_add = (
                getattr(lib, f"__atomic_{op}_8") for op in ("load", "store", "fetch_add")
            )
        except (OSError, AttributeError) as e:
            raise RingError(
                f"libatomic ({path}) is needed for the audio ring on arm64 Linux: {e}; "
                "install it (Debian/Ubuntu: libatomic1)"
            ) from e
        load.argtypes = [ctypes.c_void_p, ctypes.c_int]
        load.restype = ctypes.c_uint64
        store.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int]
        store.restype = None
        fetch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int]
        fetch_add.restype = ctypes.c_uint64
        self._load, self._store, self._fetch_add = load, store, fetch_add
        self._private_word = ctypes.c_uint64(0)  # target of the fencing read-modify-write
        self._private_address = ctypes.addressof(self._private_word)

    def fence(self) -> None:
        """Seq_cst read-modify-write on a private word: acquire and release at once."""
        self._fetch_add(self._private_address, 1, _SEQ_CST)

    def store_release(self, address: int, value: int) -> None:
        """``stlr``: earlier loads and stores are ordered before this store."""
        self._store(address, value, _SEQ_CST)

    def load_acquire(self, address: int) -> int:
        """``ldar``: later loads and stores are ordered after this load."""
        return int(self._load(address, _SEQ_CST))


_cached: MemoryOrdering | None = None


def build_ordering(kind: OrderingKind) -> MemoryOrdering:
    """A new ordering of ``kind`` (loads its C library where it needs one)."""
    if kind is OrderingKind.TOTAL_STORE_ORDER:
        return MemoryOrdering()
    if kind is OrderingKind.OS_MEMORY_BARRIER:
        return OsMemoryBarrierOrdering()
    return LibatomicOrdering()


def platform_ordering() -> MemoryOrdering:
    """The ordering for this machine, built once per process; ``RingError`` if unsupported."""
    global _cached
    if _cached is None:
        kind = select_ordering_kind(platform.system(), platform.machine())
        _cached = build_ordering(kind)
        logger.debug("audio ring memory ordering: %s", kind.value)
    return _cached
