"""Ring flow control: reader cursors, ``wait_for_space``, dead holders, the end-of-stream mark."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import RingError
from pipeline.ring import AudioRing, layout

CAPACITY_SAMPLES = 1000
RATE_HZ = 16_000
ROOT = Path(__file__).resolve().parents[1]


def block(count: int, value: float = 0.25) -> np.ndarray:
    return np.full(count, value, dtype=np.float32)


@pytest.fixture
def ring(tmp_path: Path):
    owner = AudioRing.create("cursors", CAPACITY_SAMPLES, RATE_HZ, tmp_path)
    yield owner
    owner.close()


@pytest.fixture
def reader(ring: AudioRing):
    handle = AudioRing.attach(ring.name)
    yield handle
    handle.close()


def test_claim_set_release_and_listing(ring: AudioRing, reader: AudioRing) -> None:
    assert ring.min_cursor() is None and ring.cursors() == []
    slot = reader.claim_cursor("vad-long-label", 10)
    other = reader.claim_cursor("asr-1", 40)
    assert slot != other
    assert ring.min_cursor() == 10
    reader.set_cursor(slot, 70)
    assert ring.min_cursor() == 40
    holders = {c.slot: c for c in ring.cursors()}
    assert holders[slot].label == "vad-long" and holders[slot].index == 70  # 8 bytes kept
    assert holders[other].pid == os.getpid() and holders[other].alive
    reader.release_cursor(other)
    reader.release_cursor(other)  # idempotent
    assert ring.min_cursor() == 70
    with pytest.raises(RingError, match="not held"):
        reader.set_cursor(other, 80)
    reader.close()  # releases what it still holds
    assert ring.min_cursor() is None


def test_read_only_reader_can_publish_a_cursor_but_not_write(
    ring: AudioRing, reader: AudioRing
) -> None:
    slot = reader.claim_cursor("vad")
    assert ring.cursors()[0].index == 0  # default: the oldest index
    reader.set_cursor(slot, 5)
    with pytest.raises(RingError, match="read-only"):
        reader.write(block(10))


def test_wait_for_space_honours_the_lowest_live_cursor(ring: AudioRing, reader: AudioRing) -> None:
    assert ring.wait_for_space(CAPACITY_SAMPLES, timeout_s=0)  # no holder: always room
    slot = reader.claim_cursor("vad", 0)
    ring.write(block(900))
    assert ring.wait_for_space(100, timeout_s=0)  # 900 + 100 - 0 <= 1000
    assert not ring.wait_for_space(101, timeout_s=0.02)
    reader.set_cursor(slot, 1)
    assert ring.wait_for_space(101, timeout_s=0)
    with pytest.raises(ValueError, match="never fit"):
        ring.wait_for_space(CAPACITY_SAMPLES + 1, timeout_s=0)
    with pytest.raises(RingError, match="read-only"):
        reader.wait_for_space(1, timeout_s=0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat's boot time")
def test_a_live_holder_stays_alive_when_the_wall_clock_moves_the_boot_time(
    ring: AudioRing, reader: AudioRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The boot time in /proc/stat is whole seconds derived from the wall clock: a clock step
    (NTP, a resumed VM) moves it by a second. A holder's start time taken before such a step
    must still match after it, or the holder looks dead and a fast writer runs over its
    cursor (psutil's create_time() adds that boot time)."""
    import psutil
    from psutil import _pslinux

    slot = reader.claim_cursor("vad", 0)
    ring.write(block(900))
    assert not ring.wait_for_space(101, timeout_s=0.02)
    stepped = _pslinux.boot_time() + 1.0
    monkeypatch.setattr(_pslinux, "boot_time", lambda: stepped)
    monkeypatch.setattr(psutil, "boot_time", lambda: stepped)
    time.sleep(0.3)  # past the liveness cache: the writer checks the holder again
    assert not ring.wait_for_space(101, timeout_s=0.02)
    assert ring.cursors()[0].alive
    reader.set_cursor(slot, 1)
    assert ring.wait_for_space(101, timeout_s=0)


def test_wait_for_space_wakes_when_the_holder_moves(ring: AudioRing, reader: AudioRing) -> None:
    import threading

    slot = reader.claim_cursor("vad", 0)
    ring.write(block(CAPACITY_SAMPLES))
    mover = threading.Timer(0.05, reader.set_cursor, (slot, 200))
    mover.start()
    started_s = time.monotonic()
    assert ring.wait_for_space(200, timeout_s=2.0)
    assert 0.03 < time.monotonic() - started_s < 1.0
    mover.join()


def _claim_in_child(ring_name: str, *, kill: bool) -> int:
    """A child that claims a cursor at 0 and then dies (killed, or exiting without release)."""
    code = textwrap.dedent(
        f"""
        import os, signal, sys
        from pipeline.ring import AudioRing
        ring = AudioRing.attach({ring_name!r})
        ring.claim_cursor("child", 0)
        print(os.getpid(), flush=True)
        if {kill!r}:
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(0)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    return int(out.stdout.split()[0])


@pytest.mark.parametrize("kill", [True, False])
def test_slots_of_dead_holders_are_ignored_and_reclaimed(ring: AudioRing, kill: bool) -> None:
    dead_pid = _claim_in_child(ring.name, kill=kill)
    (holder,) = ring.cursors()
    assert holder.pid == dead_pid and not holder.alive and holder.label == "child"
    assert ring.min_cursor() is None
    ring.write(block(CAPACITY_SAMPLES))
    assert ring.wait_for_space(CAPACITY_SAMPLES, timeout_s=0.5)  # the dead holder holds nothing
    assert ring.claim_cursor("vad", 3) == holder.slot  # the dead slot is handed on
    assert ring.min_cursor() == 3


def test_all_slots_held_is_a_clear_error(ring: AudioRing, reader: AudioRing) -> None:
    for number in range(layout.CURSOR_SLOTS):
        reader.claim_cursor(f"r{number}", number)
    with pytest.raises(RingError, match=f"all {layout.CURSOR_SLOTS} cursor slots.*r7"):
        reader.claim_cursor("one-more")


def test_end_of_stream_mark(ring: AudioRing, reader: AudioRing) -> None:
    assert reader.end_index is None
    ring.write(block(123))
    assert ring.mark_ended() == 123
    assert reader.end_index == 123


def test_a_successor_writer_never_lowers_the_reservation(
    ring: AudioRing, reader: AudioRing
) -> None:
    """A writer killed mid-write reserved more than it published; that audio stays invalid."""
    ring.write(block(CAPACITY_SAMPLES))
    reserve_address = ring._reserve_index_address
    ring._ordering.store_release(reserve_address, CAPACITY_SAMPLES + 300)  # the dead writer's
    ring.write(block(100))  # the successor writes less than was reserved
    assert ring._ordering.load_acquire(reserve_address) == CAPACITY_SAMPLES + 300
    assert not reader.still_valid(250)  # possibly overwritten by the dead writer
    assert reader.still_valid(300)


def test_cursor_slots_fit_the_header() -> None:
    assert layout.FORMAT_VERSION == 2
    assert layout.CURSOR_OFFSET % 64 == 0 and layout.CURSOR_SLOT_BYTES % 8 == 0
    assert layout.HEADER_SIZE_BYTES % 64 == 0
    assert layout.END_INDEX_OFFSET % 8 == 0 and layout.ENDED_OFFSET % 8 == 0
