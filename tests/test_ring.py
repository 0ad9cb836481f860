"""The audio ring in one process: indices, wrap, views, overruns, errors, names and ordering."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import RingError, RingOverrun
from pipeline.ring import (
    AudioRing,
    layout,
    make_segment_name,
    ordering,
    registry,
    remove_stale_segments,
    segment,
)

CAPACITY_SAMPLES = 4096
RATE_HZ = 16_000


def expected(start_index: int, end_index: int) -> np.ndarray:
    """float32[end - start]: the test signal, exactly representable (k / 2**23)."""
    return ((np.arange(start_index, end_index) % 2**23) * 2.0**-23).astype(np.float32)


@pytest.fixture
def ring(tmp_path: Path):
    owner = AudioRing.create("test", CAPACITY_SAMPLES, RATE_HZ, tmp_path)
    yield owner
    owner.close()


@pytest.fixture
def reader(ring: AudioRing):
    handle = AudioRing.attach(ring.name)
    yield handle
    handle.close()


def test_random_blocks_round_trip_across_many_wraps(ring: AudioRing, reader: AudioRing) -> None:
    rng = np.random.default_rng(1)
    write_index = read_index = 0
    while write_index < 12 * CAPACITY_SAMPLES:
        size = int(rng.integers(1, 1500))
        assert ring.write(expected(write_index, write_index + size)) == write_index + size
        write_index += size
        while read_index < write_index:
            end = min(write_index, read_index + int(rng.integers(1, 1200)))
            got = reader.read(read_index, end)
            np.testing.assert_array_equal(got, expected(read_index, end))
            read_index = end
    assert reader.write_index == write_index
    assert reader.oldest_index == write_index - CAPACITY_SAMPLES


def test_read_past_write_index_returns_what_exists(ring: AudioRing, reader: AudioRing) -> None:
    ring.write(expected(0, 100))
    assert reader.read(50, 500).shape == (50,)
    assert reader.read(100, 200).shape == (0,)
    assert reader.read(300, 400).shape == (0,)
    with pytest.raises(ValueError):
        reader.read(10, 5)


def test_wait_for_times_out_or_returns_at_once(ring: AudioRing, reader: AudioRing) -> None:
    ring.write(expected(0, 100))
    assert reader.wait_for(100, timeout_s=1.0) == 100
    assert reader.wait_for(101, timeout_s=0.01) == 100


def test_view_is_zero_copy_and_read_only_unless_it_wraps(
    ring: AudioRing, reader: AudioRing
) -> None:
    ring.write(expected(0, CAPACITY_SAMPLES + 1000))
    view = reader.read_view(2000, 3000)
    np.testing.assert_array_equal(view, expected(2000, 3000))
    assert np.shares_memory(view, reader._samples)
    assert not view.flags.writeable
    wrapped = reader.read_view(CAPACITY_SAMPLES - 10, CAPACITY_SAMPLES + 10)
    np.testing.assert_array_equal(wrapped, expected(CAPACITY_SAMPLES - 10, CAPACITY_SAMPLES + 10))
    assert not np.shares_memory(wrapped, reader._samples)
    copy = reader.read(2000, 3000)
    assert not np.shares_memory(copy, reader._samples)


def test_view_invalid_after_writer_laps_it(ring: AudioRing, reader: AudioRing) -> None:
    ring.write(expected(0, 1000))
    view = reader.read_view(0, 1000)
    assert reader.still_valid(0)
    ring.write(np.full(CAPACITY_SAMPLES + 1 - 1000, 0.5, np.float32))
    assert view[0] == 0.5  # the view now shows the writer's newest sample
    assert not reader.still_valid(0)
    assert reader.still_valid(1)


def test_write_longer_than_capacity_keeps_the_newest(ring: AudioRing, reader: AudioRing) -> None:
    total = 3 * CAPACITY_SAMPLES + 123
    assert ring.write(expected(0, total)) == total
    assert reader.oldest_index == total - CAPACITY_SAMPLES
    np.testing.assert_array_equal(
        reader.read(total - CAPACITY_SAMPLES, total), expected(total - CAPACITY_SAMPLES, total)
    )


@pytest.mark.parametrize(
    "block, error",
    [
        (np.zeros(10, np.float64), TypeError),
        (np.zeros(10, np.int16), TypeError),
        ([0.0] * 10, TypeError),
        (np.zeros((10, 2), np.float32), ValueError),
    ],
)
def test_write_rejects_other_dtypes_and_shapes(ring: AudioRing, block, error) -> None:
    with pytest.raises(error):
        ring.write(block)
    assert ring.write_index == 0


def test_overrun_is_an_error_never_wrong_samples(ring: AudioRing, reader: AudioRing) -> None:
    ring.write(expected(0, CAPACITY_SAMPLES + 500))
    with pytest.raises(RingOverrun) as caught:
        reader.read(499, 600)
    assert (caught.value.start_index, caught.value.oldest_index) == (499, 500)
    assert caught.value.write_index == CAPACITY_SAMPLES + 500
    np.testing.assert_array_equal(reader.read(500, 600), expected(500, 600))


class _LappedDuringCopy(AudioRing):
    """A reader whose writer (``self.lapper``) writes between the copy and the re-check."""

    lapper: AudioRing
    lap_samples: int

    def _copy_range(self, start_index: int, stop_index: int, *, want_view: bool) -> np.ndarray:
        samples = super()._copy_range(start_index, stop_index, want_view=want_view)
        written = self.lapper.write_index
        self.lapper.write(expected(written, written + self.lap_samples))
        return samples


@pytest.mark.parametrize("want_view", [False, True])
def test_writer_lapping_during_the_copy_is_detected(ring: AudioRing, want_view: bool) -> None:
    ring.write(expected(0, CAPACITY_SAMPLES))
    lapped = _LappedDuringCopy.attach(ring.name)
    lapped.lapper, lapped.lap_samples = ring, 10
    try:
        read = lapped.read_view if want_view else lapped.read
        with pytest.raises(RingOverrun):
            read(5, 100)  # the lap overwrote [0, 10): the copy may hold new samples
        np.testing.assert_array_equal(read(20, 100), expected(20, 100))  # untouched: fine
    finally:
        lapped.close()


def test_reserved_but_unpublished_write_fails_the_recheck(
    ring: AudioRing, reader: AudioRing
) -> None:
    ring.write(expected(0, CAPACITY_SAMPLES))
    ring._ordering.store_release(ring._reserve_index_address, CAPACITY_SAMPLES + 50)
    with pytest.raises(RingOverrun):
        reader.read(0, 100)  # the writer may be overwriting [0, 50) right now
    np.testing.assert_array_equal(reader.read(50, 100), expected(50, 100))


def test_attach_missing_name_names_it() -> None:
    with pytest.raises(RingError, match="/ss1_nothere_000000"):
        AudioRing.attach("/ss1_nothere_000000")


def test_attach_rejects_foreign_or_other_version_segments(ring: AudioRing) -> None:
    name = make_segment_name("junk")
    junk = segment.create_segment(name, 4096)
    try:
        with pytest.raises(RingError, match=name):
            AudioRing.attach(name)
    finally:
        junk.mapping.close()
        segment.unlink_segment(name)
    ring._mapped.mapping[8:12] = (99).to_bytes(4, sys.byteorder)
    with pytest.raises(RingError, match=f"{ring.name}.*version 99"):
        AudioRing.attach(ring.name)


def test_header_fields_and_heartbeat(ring: AudioRing, reader: AudioRing) -> None:
    assert reader.info == ring.info
    assert reader.info.stream_id == "test" and reader.info.owner_pid == os.getpid()
    assert reader.info.capacity_s == CAPACITY_SAMPLES / RATE_HZ
    ring.beat(now_s=1234.5)
    assert reader.heartbeat_time == 1234.5
    writer = AudioRing.attach(ring.name, writable=True)
    assert reader.writer_pid == os.getpid()
    writer.write(expected(0, 10))
    assert reader.heartbeat_time > 1234.5
    writer.close()


def test_only_the_writer_writes_and_only_the_owner_unlinks(
    ring: AudioRing, reader: AudioRing
) -> None:
    with pytest.raises(RingError, match="read-only"):
        reader.write(expected(0, 10))
    with pytest.raises(RingError, match="creator"):
        reader.unlink()
    reader.close()
    reader.close()
    assert Path("/dev/shm" + ring.name).exists()
    with pytest.raises(RingError, match="closed"):
        _ = reader.write_index


def test_owner_close_unlinks_and_unregisters(tmp_path: Path) -> None:
    owner = AudioRing.create("gone", 256, RATE_HZ, tmp_path)
    name = owner.name
    assert name in (tmp_path / registry.REGISTRY_FILE_NAME).read_text()
    owner.close()
    assert not Path("/dev/shm" + name).exists()
    assert name not in (tmp_path / registry.REGISTRY_FILE_NAME).read_text()
    with pytest.raises(RingError):
        AudioRing.attach(name)


def test_segment_names_are_short_unique_and_carry_the_pid() -> None:
    names = {make_segment_name("a very long stream id: with / odd chars") for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert len(name) <= registry.MAX_NAME_CHARS and name.startswith("/ss")
        assert registry.owner_pid_of(name) == os.getpid()
    assert len(make_segment_name("x", pid=4_194_304)) <= registry.MAX_NAME_CHARS
    assert registry.owner_pid_of("/psm_1234") is None


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_remove_stale_segments_uses_the_registry(tmp_path: Path, ring: AudioRing) -> None:
    stale_name = make_segment_name("old", pid=_dead_pid())
    stale = segment.create_segment(stale_name, 64)
    stale.mapping.close()
    registry.register_segment(tmp_path, stale_name, registry.owner_pid_of(stale_name))
    registry._created_here.discard(stale_name)
    assert remove_stale_segments(tmp_path) == [stale_name]
    assert not Path("/dev/shm" + stale_name).exists()
    assert AudioRing.attach(ring.name).info == ring.info  # a live owner's ring is kept
    assert remove_stale_segments(tmp_path) == []


@pytest.mark.parametrize(
    "system, machine, kind",
    [
        ("Linux", "x86_64", ordering.OrderingKind.TOTAL_STORE_ORDER),
        ("Darwin", "x86_64", ordering.OrderingKind.TOTAL_STORE_ORDER),
        ("Windows", "AMD64", ordering.OrderingKind.TOTAL_STORE_ORDER),
        ("Darwin", "arm64", ordering.OrderingKind.OS_MEMORY_BARRIER),
        ("Linux", "aarch64", ordering.OrderingKind.LIBATOMIC),
        ("Linux", "arm64", ordering.OrderingKind.LIBATOMIC),
    ],
)
def test_ordering_selection_per_platform(system: str, machine: str, kind) -> None:
    assert ordering.select_ordering_kind(system, machine) is kind


@pytest.mark.parametrize(
    "system, machine", [("Linux", "riscv64"), ("Linux", "armv7l"), ("Linux", "ppc64le")]
)
def test_unknown_architecture_fails_clearly(system: str, machine: str) -> None:
    with pytest.raises(RingError, match=machine):
        ordering.select_ordering_kind(system, machine)


def test_unknown_architecture_fails_at_create(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(ordering, "_cached", None)
    monkeypatch.setattr(ordering.platform, "machine", lambda: "riscv64")
    with pytest.raises(RingError, match="riscv64"):
        AudioRing.create("x", 64, RATE_HZ, tmp_path)
    assert not (tmp_path / registry.REGISTRY_FILE_NAME).exists()  # nothing was created


def test_libatomic_ordering_drives_a_ring(tmp_path: Path, monkeypatch) -> None:
    """The arm64 Linux code path, run on whatever libatomic this machine has."""
    try:
        libatomic = ordering.LibatomicOrdering()
    except RingError:
        pytest.skip("no libatomic here")
    word = ctypes.c_uint64(0)
    libatomic.store_release(ctypes.addressof(word), 2**40 + 7)
    assert libatomic.load_acquire(ctypes.addressof(word)) == 2**40 + 7
    libatomic.fence()
    monkeypatch.setattr(ordering, "_cached", libatomic)
    with AudioRing.create("atomic", 512, RATE_HZ, tmp_path) as owner:
        reader = AudioRing.attach(owner.name)
        owner.write(expected(0, 700))
        np.testing.assert_array_equal(reader.read(200, 700), expected(200, 700))
        assert reader.still_valid(200) and not reader.still_valid(100)
        reader.close()


def test_layout_offsets_are_aligned() -> None:
    assert layout.WRITE_INDEX_OFFSET % 8 == 0 and layout.RESERVE_INDEX_OFFSET % 8 == 0
    assert layout.HEARTBEAT_OFFSET % 8 == 0 and layout.HEADER_SIZE_BYTES % 64 == 0
