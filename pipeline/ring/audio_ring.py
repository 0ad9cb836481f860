"""The shared-memory audio ring: one writer, many readers, absolute sample indices.

Positions are absolute sample indices that only grow; the ring holds
``[write_index - capacity, write_index)`` and the slot of index ``i`` is ``i % capacity``.

Writing a block ``[w, w + n)``: store ``reserve_index = w + n`` -> fence -> copy the samples ->
``store_release(write_index = w + n)``. Reading ``[start, end)``: ``load_acquire(write_index)``
-> bounds check -> copy -> fence -> ``load_acquire(reserve_index)``; if the writer has reserved
(and so may have begun overwriting) the slot of ``start``, the copy is discarded and
``RingOverrun`` raised. A reader therefore never returns a sample the writer touched during the
copy. See ``ordering`` for the fences on each platform.

Flow control: a reader that must not be lapped claims a cursor slot and keeps it at its read
position (``claim_cursor``/``set_cursor``/``release_cursor``); a writer that can wait (a file
read fast) calls ``wait_for_space`` before each write. See ``cursors``. A finite stream's writer
calls ``mark_ended`` after its last write, so a reader that missed the end-of-stream message
still learns it from ``end_index``.

Typical use::

    ring = AudioRing.create("mic", seconds_to_samples(120), SAMPLE_RATE_HZ, runtime_dir)
    writer = AudioRing.attach(ring.name, writable=True)    # in capture
    writer.write(block)                                     # float32[n]
    reader = AudioRing.attach(ring.name)                    # in vad / asr
    reader.wait_for(end_index, timeout_s=0.5)
    samples = reader.read(start_index, end_index)           # float32[<= end - start], a copy
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from pathlib import Path

import numpy as np

from pipeline.audio_format import SAMPLE_DTYPE
from pipeline.errors import RingError, RingOverrun
from pipeline.ring import layout, registry, segment
from pipeline.ring.cursors import CursorInfo, CursorTable
from pipeline.ring.ordering import platform_ordering

logger = logging.getLogger(__name__)

DEFAULT_CAPACITY_S = 120.0  # seconds of audio one ring holds by default
_WAIT_SLEEP_MIN_S = 50e-6  # first poll interval of wait_for
_WAIT_SLEEP_MAX_S = 2e-3  # longest poll interval of wait_for


def _unlink_if_creator(name: str, runtime_dir: Path, creator_pid: int) -> None:
    """Finalizer of an owner that was never closed: unlink at exit, in the creator only."""
    if os.getpid() == creator_pid and segment.unlink_segment(name):
        registry.unregister_segment(runtime_dir, name)


class AudioRing:
    """One stream's audio in shared memory, created by an owner and attached by others.

    Construct with ``create`` (owner: maps read-write, unlinks on ``close``) or ``attach``.
    Only one process may write; any number read. Not thread-safe within a process.
    """

    def __init__(
        self,
        mapped: segment.MappedSegment,
        info: layout.RingInfo,
        *,
        writable: bool,
        runtime_dir: Path | None,
    ) -> None:
        self._mapped = mapped
        self.info = info
        self._writable = writable
        self._runtime_dir = runtime_dir  # set for the owner only
        self._ordering = platform_ordering()
        self._capacity = info.capacity_samples
        # float32[capacity] over the sample area; read-only unless this handle may write
        self._samples = np.frombuffer(
            mapped.mapping, SAMPLE_DTYPE, count=self._capacity, offset=layout.HEADER_SIZE_BYTES
        )
        base_address = self._samples.ctypes.data - layout.HEADER_SIZE_BYTES
        self._write_index_address = base_address + layout.WRITE_INDEX_OFFSET
        self._reserve_index_address = base_address + layout.RESERVE_INDEX_OFFSET
        self._header_words = np.frombuffer(mapped.mapping, np.uint32, count=16)
        self._heartbeat = np.frombuffer(
            mapped.mapping, np.float64, count=1, offset=layout.HEARTBEAT_OFFSET
        )
        self._end_index_address = base_address + layout.END_INDEX_OFFSET
        self._ended_address = base_address + layout.ENDED_OFFSET
        self._cursors = CursorTable(info.name, self._ordering, base_address)
        if writable:
            self._cursors.set_writable_base(base_address)
        self._closed = False
        self._finalizer: weakref.finalize | None = None
        if runtime_dir is not None:
            self._finalizer = weakref.finalize(
                self, _unlink_if_creator, info.name, runtime_dir, os.getpid()
            )

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        stream_id: str,
        capacity_samples: int,
        sample_rate_hz: int,
        runtime_dir: str | os.PathLike[str],
    ) -> AudioRing:
        """Create a new ring for ``stream_id`` and own it (the caller unlinks it on ``close``).

        ``runtime_dir`` holds the registry that lets ``remove_stale_segments`` clean up after
        a killed owner. The returned handle is writable.
        """
        if capacity_samples <= 0 or sample_rate_hz <= 0:
            raise ValueError(
                f"capacity_samples ({capacity_samples}) and sample_rate_hz ({sample_rate_hz}) "
                "must be positive"
            )
        layout.encode_stream_id(stream_id)  # fail before creating anything
        platform_ordering()  # an unsupported platform fails here, before any segment exists
        size_bytes = layout.segment_size_bytes(capacity_samples)
        runtime_path = Path(runtime_dir)
        pid = os.getpid()
        for _ in range(8):
            name = registry.make_segment_name(stream_id, pid)
            try:
                mapped = segment.create_segment(name, size_bytes)
                break
            except FileExistsError:
                continue
        else:
            raise RingError(f"could not find a free shared-memory name for stream {stream_id!r}")
        registry.register_segment(runtime_path, name, pid)
        info = layout.RingInfo(name, stream_id, capacity_samples, sample_rate_hz, pid)
        header = layout.pack_static_header(info)
        mapped.mapping[8 : len(header)] = header[8:]
        mapped.mapping[0:8] = header[0:8]  # magic last: a half-written header never validates
        ring = cls(mapped, info, writable=True, runtime_dir=runtime_path)
        ring.beat()
        logger.info(
            "created audio ring %s for stream %r: %d samples (%.1f s)",
            name,
            stream_id,
            capacity_samples,
            info.capacity_s,
        )
        return ring

    @classmethod
    def attach(cls, name: str, *, writable: bool = False) -> AudioRing:
        """Attach to the existing ring ``name``; pass ``writable=True`` in the one writer.

        Raises ``RingError`` naming the segment if it is missing or not a valid ring.
        """
        mapped = segment.open_segment(name, writable=writable)
        try:
            info = layout.unpack_header(name, mapped.mapping, mapped.size_bytes)
            ring = cls(mapped, info, writable=writable, runtime_dir=None)
        except BaseException:
            mapped.mapping.close()
            raise
        if writable:
            ring._header_words[layout.WRITER_PID_OFFSET // 4] = os.getpid()
        logger.debug("attached to audio ring %s (writable=%s)", name, writable)
        return ring

    # ---- state --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The shared-memory name other processes attach with."""
        return self.info.name

    @property
    def capacity_samples(self) -> int:
        """Number of sample slots."""
        return self._capacity

    @property
    def write_index(self) -> int:
        """End (exclusive) of the published samples: every index below it is readable."""
        self._check_open()
        return self._ordering.load_acquire(self._write_index_address)

    @property
    def oldest_index(self) -> int:
        """First index still held: ``max(0, write_index - capacity)``."""
        return max(0, self.write_index - self._capacity)

    @property
    def heartbeat_time(self) -> float:
        """The writer's ``time.time()`` at its last write or ``beat``."""
        self._check_open()
        return float(self._heartbeat[0])

    @property
    def writer_pid(self) -> int:
        """Pid of the last process that attached as writer (0 if none has)."""
        self._check_open()
        return int(self._header_words[layout.WRITER_PID_OFFSET // 4])

    def beat(self, now_s: float | None = None) -> None:
        """Record that the writer is alive (``write`` does this too)."""
        self._check_writable()
        self._heartbeat[0] = time.time() if now_s is None else now_s

    # ---- writing ------------------------------------------------------------------------

    def write(self, block: np.ndarray) -> int:
        """Append ``block`` (float32[n]) and publish it; returns the new ``write_index``.

        A block longer than the capacity keeps only its last ``capacity`` samples, but the
        index still advances by ``n``.
        """
        self._check_writable()
        if not isinstance(block, np.ndarray) or block.dtype != SAMPLE_DTYPE:
            raise TypeError(
                f"ring blocks must be numpy float32 arrays, got {type(block).__name__} "
                f"of dtype {getattr(block, 'dtype', None)}"
            )
        if block.ndim != 1:
            raise ValueError(f"ring blocks must be 1-D (mono samples), got shape {block.shape}")
        ordering = self._ordering
        start_index = ordering.load_acquire(self._write_index_address)
        end_index = start_index + block.shape[0]
        if block.shape[0] > self._capacity:
            block = block[-self._capacity :]
        first_index = end_index - block.shape[0]
        # never lower the reservation: a writer killed mid-write may have reserved (and touched)
        # more than its successor is about to write
        reserve_index = ordering.load_acquire(self._reserve_index_address)
        ordering.store_release(self._reserve_index_address, max(reserve_index, end_index))
        ordering.fence()  # readers must see the reservation before any overwritten slot
        slot = first_index % self._capacity
        head = min(block.shape[0], self._capacity - slot)
        self._samples[slot : slot + head] = block[:head]
        self._samples[: block.shape[0] - head] = block[head:]
        ordering.store_release(self._write_index_address, end_index)
        self._heartbeat[0] = time.time()
        logger.debug("%s: wrote [%d, %d)", self.name, start_index, end_index)
        return end_index

    def wait_for_space(self, block_len: int, timeout_s: float) -> bool:
        """Wait until ``block_len`` more samples overwrite nothing a live cursor holder needs.

        That is ``write_index + block_len - min_cursor <= capacity`` (always true with no
        cursor claimed). Returns False when ``timeout_s`` passes first. Only writers that can
        wait call this (files read fast); realtime sources write regardless.
        """
        self._check_writable()
        if not 0 <= block_len <= self._capacity:
            raise ValueError(
                f"a block of {block_len} samples can never fit a ring of {self._capacity}"
            )
        limit = self._capacity - block_len
        write_index = self._ordering.load_acquire(self._write_index_address)
        held = self._cursors.min_index(check_liveness=False)  # fast path: no process checks
        if held is None or write_index - held <= limit:
            return True
        deadline_s = time.monotonic() + timeout_s
        sleep_s = _WAIT_SLEEP_MIN_S
        while True:
            held = self._cursors.min_index(check_liveness=True)
            if held is None or write_index - held <= limit:
                return True
            remaining_s = deadline_s - time.monotonic()
            if remaining_s <= 0:
                return False
            time.sleep(min(sleep_s, remaining_s))
            sleep_s = min(sleep_s * 2, _WAIT_SLEEP_MAX_S)

    def mark_ended(self) -> int:
        """Record that no sample at or after the current ``write_index`` will be written.

        Returns that final index. Readers see it as ``end_index``.
        """
        self._check_writable()
        final_index = self._ordering.load_acquire(self._write_index_address)
        self._ordering.store_release(self._end_index_address, final_index)
        self._ordering.store_release(self._ended_address, 1)
        logger.info("%s: stream ended at index %d", self.name, final_index)
        return final_index

    @property
    def end_index(self) -> int | None:
        """The final index once the writer has called ``mark_ended``, else None."""
        self._check_open()
        if not self._ordering.load_acquire(self._ended_address):
            return None
        return self._ordering.load_acquire(self._end_index_address)

    # ---- reader cursors -----------------------------------------------------------------

    def claim_cursor(self, label: str, index: int | None = None) -> int:
        """Claim a cursor slot at ``index`` (default: ``oldest_index``); returns the slot.

        ``label`` (at most 8 bytes kept) names the holder in ``cursors()``. While the slot is
        held and this process lives, a waiting writer does not overwrite samples at or after
        the cursor's index. Raises ``RingError`` when every slot is held by a live process.
        """
        self._check_open()
        return self._cursors.claim(label, self.oldest_index if index is None else index)

    def set_cursor(self, slot: int, index: int) -> None:
        """Publish that this holder no longer needs samples before ``index`` (after reading)."""
        self._check_open()
        self._cursors.set(slot, index)

    def release_cursor(self, slot: int) -> None:
        """Give the slot back (``close`` releases every slot this handle still holds)."""
        self._check_open()
        self._cursors.release(slot)

    def min_cursor(self) -> int | None:
        """Lowest index held by a live cursor holder, or None when there is none."""
        self._check_open()
        return self._cursors.min_index(check_liveness=True)

    def cursors(self) -> list[CursorInfo]:
        """Every claimed slot (dead holders included, marked ``alive=False``)."""
        self._check_open()
        return self._cursors.holders()

    # ---- reading ------------------------------------------------------------------------

    def wait_for(self, index: int, timeout_s: float) -> int:
        """Wait until ``write_index >= index`` or ``timeout_s`` passes; returns ``write_index``.

        Polls with a short backoff (50 µs .. 2 ms); callers woken by an audio tick pass a
        small timeout. Compare the result with ``index`` to tell success from timeout.
        """
        write_index = self.write_index
        if write_index >= index:
            return write_index
        deadline_s = time.monotonic() + timeout_s
        sleep_s = _WAIT_SLEEP_MIN_S
        while write_index < index:
            remaining_s = deadline_s - time.monotonic()
            if remaining_s <= 0:
                break
            time.sleep(min(sleep_s, remaining_s))
            sleep_s = min(sleep_s * 2, _WAIT_SLEEP_MAX_S)
            write_index = self.write_index
        return write_index

    def read(self, start_index: int, end_index: int) -> np.ndarray:
        """A copy of samples ``[start_index, min(end_index, write_index))``: float32[k].

        ``k`` is ``end_index - start_index`` when all of it is written, fewer (maybe 0) when
        the writer has not got there yet: use ``wait_for`` first to wait. Raises
        ``RingOverrun`` if ``start_index`` is no longer held, including when the writer
        overwrote it while this read was copying.
        """
        return self._read(start_index, end_index, want_view=False)

    def read_view(self, start_index: int, end_index: int) -> np.ndarray:
        """Like ``read`` but zero-copy when the range does not cross the wrap point.

        The returned read-only float32[k] view is only valid until the writer laps it: after
        using it, check ``still_valid(start_index)``; if that is False, what was computed from
        the view may be garbage. A range that wraps is returned as a copy.
        """
        return self._read(start_index, end_index, want_view=True)

    def still_valid(self, start_index: int) -> bool:
        """Whether samples from ``start_index`` on are still intact (call after using a view)."""
        self._check_open()
        self._ordering.fence()  # the caller's loads of the view happen before the check
        reserve_index = self._ordering.load_acquire(self._reserve_index_address)
        return start_index >= reserve_index - self._capacity

    def _read(self, start_index: int, end_index: int, *, want_view: bool) -> np.ndarray:
        self._check_open()
        if start_index < 0 or end_index < start_index:
            raise ValueError(f"bad ring range [{start_index}, {end_index})")
        write_index = self._ordering.load_acquire(self._write_index_address)
        oldest_index = max(0, write_index - self._capacity)
        if start_index < oldest_index:
            raise RingOverrun(start_index, oldest_index, write_index)
        stop_index = max(start_index, min(end_index, write_index))
        samples = self._copy_range(start_index, stop_index, want_view=want_view)
        self._ordering.fence()  # the copy's loads happen before the reservation is re-read
        reserve_index = self._ordering.load_acquire(self._reserve_index_address)
        if start_index < reserve_index - self._capacity:
            write_index = self._ordering.load_acquire(self._write_index_address)
            raise RingOverrun(start_index, max(0, reserve_index - self._capacity), write_index)
        logger.debug("%s: read [%d, %d)", self.name, start_index, stop_index)
        return samples

    def _copy_range(self, start_index: int, stop_index: int, *, want_view: bool) -> np.ndarray:
        """float32[stop - start] of the slots of ``[start_index, stop_index)``."""
        slot = start_index % self._capacity
        count = stop_index - start_index
        if slot + count <= self._capacity:
            part = self._samples[slot : slot + count]
            if want_view:
                view = part.view()
                view.flags.writeable = False
                return view
            return part.copy()
        head = self._capacity - slot
        return np.concatenate((self._samples[slot:], self._samples[: count - head]))

    # ---- lifetime -----------------------------------------------------------------------

    @property
    def is_owner(self) -> bool:
        """Whether this handle created the ring (and so unlinks it on ``close``)."""
        return self._runtime_dir is not None

    def unlink(self) -> None:
        """Remove the ring's name (owner only); attached processes keep their mapping."""
        if not self.is_owner:
            raise RingError(f"only the creator of audio ring {self.name!r} may unlink it")
        if self._finalizer is not None:
            self._finalizer.detach()
        if segment.unlink_segment(self.name):
            logger.info("unlinked audio ring %s", self.name)
        registry.unregister_segment(self._runtime_dir, self.name)

    def close(self) -> None:
        """Unmap the ring; the owner also unlinks it. Idempotent.

        Views returned by ``read_view`` keep the mapping alive until they are dropped.
        """
        if self._closed:
            return
        self._closed = True
        self._cursors.close()
        if self.is_owner:
            self.unlink()
        del self._samples, self._header_words, self._heartbeat
        try:
            self._mapped.mapping.close()
        except BufferError:
            logger.debug("%s: views still use the mapping; it is released with them", self.name)

    def __enter__(self) -> AudioRing:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"write_index={self.write_index}"
        return f"AudioRing({self.name!r}, stream={self.info.stream_id!r}, {state})"

    def _check_open(self) -> None:
        if self._closed:
            raise RingError(f"audio ring {self.name!r} is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if not self._writable:
            raise RingError(f"audio ring {self.name!r} was attached read-only")
