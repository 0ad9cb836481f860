"""The audio ring across real processes (spawn context, real POSIX shared memory)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import RingOverrun
from pipeline.ring import AudioRing, remove_stale_segments

CAPACITY_SAMPLES = 4096
RATE_HZ = 16_000
TOTAL_SAMPLES = 12 * CAPACITY_SAMPLES  # every reader verifies this many, > 10 x capacity
SPAWN = multiprocessing.get_context("spawn")
REPO_ROOT = Path(__file__).resolve().parent.parent


def expected(start_index: int, end_index: int) -> np.ndarray:
    """float32[end - start]: the test signal, exactly representable (k / 2**23)."""
    return ((np.arange(start_index, end_index) % 2**23) * 2.0**-23).astype(np.float32)


def _flow_controlled_writer(name: str, progress, total_samples: int) -> None:
    """Write random blocks, starting none more than half a ring ahead of the slowest reader.

    Blocks are < 1500 samples, so the writer stays < 2048 + 1500 < capacity ahead.
    """
    ring = AudioRing.attach(name, writable=True)
    rng = np.random.default_rng(7)
    write_index = 0
    deadline_s = time.monotonic() + 20
    while write_index < total_samples:
        size = min(int(rng.integers(1, 1500)), total_samples - write_index)
        while write_index - min(progress) >= CAPACITY_SAMPLES // 2:
            if time.monotonic() > deadline_s:
                raise SystemExit(3)
            time.sleep(0.0002)
        write_index = ring.write(expected(write_index, write_index + size))
    ring.close()


def _verifying_reader(name: str, reader_id: int, progress, verified, total_samples: int) -> None:
    """Read random chunks as they arrive (copies, or views for reader 2) and check each one."""
    ring = AudioRing.attach(name)
    rng = np.random.default_rng(100 + reader_id)
    read_index = 0
    while read_index < total_samples:
        end = min(total_samples, read_index + int(rng.integers(1, 1000)))
        if ring.wait_for(end, timeout_s=10.0) < end:
            raise SystemExit(4)  # the writer stalled
        if reader_id == 2:
            got = ring.read_view(read_index, end)
            same = np.array_equal(got, expected(read_index, end))
            if not ring.still_valid(read_index):
                raise SystemExit(5)  # flow control should have prevented this
        else:
            same = np.array_equal(ring.read(read_index, end), expected(read_index, end))
        if not same:
            raise SystemExit(2)
        verified[reader_id] += end - read_index
        read_index = progress[reader_id] = end
    ring.close()


def test_one_writer_three_readers_verify_every_sample(tmp_path: Path) -> None:
    owner = AudioRing.create("multi", CAPACITY_SAMPLES, RATE_HZ, tmp_path)
    progress = SPAWN.Array("q", 3, lock=False)
    verified = SPAWN.Array("q", 3, lock=False)
    readers = [
        SPAWN.Process(
            target=_verifying_reader, args=(owner.name, i, progress, verified, TOTAL_SAMPLES)
        )
        for i in range(3)
    ]
    writer = SPAWN.Process(
        target=_flow_controlled_writer, args=(owner.name, progress, TOTAL_SAMPLES)
    )
    try:
        for process in [*readers, writer]:
            process.start()
        for process in [writer, *readers]:
            process.join(timeout=30)
        assert [p.exitcode for p in [writer, *readers]] == [0, 0, 0, 0]
        assert list(verified) == [TOTAL_SAMPLES] * 3
        assert owner.write_index == TOTAL_SAMPLES
    finally:
        for process in [writer, *readers]:
            if process.is_alive():
                process.kill()
        owner.close()


def _free_running_writer(name: str, block_count: int, block_samples: int) -> None:
    """Write ``block_count`` blocks with 1 ms pauses, ignoring the readers."""
    ring = AudioRing.attach(name, writable=True)
    for block in range(block_count):
        ring.write(expected(block * block_samples, (block + 1) * block_samples))
        time.sleep(0.001)
    ring.close()


def _lagging_reader(name: str, edge: bool, stats, done_index: int) -> None:
    """Slow sequential reads (``edge=False``) or reads at the oldest edge; checks all it gets.

    ``stats`` is [samples verified, overruns, wrong samples].
    """
    ring = AudioRing.attach(name)
    read_index = 0
    deadline_s = time.monotonic() + 10
    while time.monotonic() < deadline_s:
        if edge:
            read_index = ring.oldest_index
        if read_index >= done_index:
            break
        end = min(read_index + 256, done_index)
        ring.wait_for(end, timeout_s=1.0)
        try:
            got = ring.read(read_index, end)
        except RingOverrun as overrun:
            stats[1] += 1
            read_index = overrun.write_index - CAPACITY_SAMPLES // 2  # skip ahead, go on
            continue
        stats[2] += int(np.count_nonzero(got != expected(read_index, read_index + got.size)))
        stats[0] += got.size
        read_index += got.size
        if not edge:
            time.sleep(0.02)  # 20 ms: the writer laps a 4096-sample ring meanwhile
        elif ring.write_index >= done_index:
            break
    ring.close()


def test_slow_reader_gets_overrun_never_wrong_samples(tmp_path: Path) -> None:
    block_count, block_samples = 150, 512
    done_index = block_count * block_samples
    owner = AudioRing.create("slow", CAPACITY_SAMPLES, RATE_HZ, tmp_path)
    slow_stats = SPAWN.Array("q", 3, lock=False)
    edge_stats = SPAWN.Array("q", 3, lock=False)
    processes = [
        SPAWN.Process(target=_lagging_reader, args=(owner.name, False, slow_stats, done_index)),
        SPAWN.Process(target=_lagging_reader, args=(owner.name, True, edge_stats, done_index)),
    ]
    try:
        for process in processes:
            process.start()
        time.sleep(0.5)  # let the readers attach before the writer starts racing
        writer = SPAWN.Process(
            target=_free_running_writer, args=(owner.name, block_count, block_samples)
        )
        processes.append(writer)
        writer.start()
        for process in processes:
            process.join(timeout=20)
        assert [p.exitcode for p in processes] == [0, 0, 0]
        assert slow_stats[2] == 0 and edge_stats[2] == 0, "a reader got wrong samples"
        assert slow_stats[1] >= 1, "the slow reader was never overrun"
        assert slow_stats[0] > 0 and edge_stats[0] > 0
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
        owner.close()


_OWNER_SCRIPT = """
import sys, time
from pipeline.ring import AudioRing
ring = AudioRing.create("killed", 1024, 16000, sys.argv[1])
print(ring.name, flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("found_by", ["registry", "dev_shm_scan"])
def test_kill_9_of_the_owner_is_cleaned_at_next_start(tmp_path: Path, found_by: str) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER_SCRIPT, str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    name = owner.stdout.readline().strip()
    assert Path("/dev/shm" + name).exists()
    owner.send_signal(signal.SIGKILL)
    owner.wait(timeout=10)
    owner.stdout.close()
    restart_dir = tmp_path / ("run" if found_by == "registry" else "other")
    assert name in remove_stale_segments(restart_dir)
    assert not Path("/dev/shm" + name).exists()


_SHUTDOWN_SCRIPT = """
import multiprocessing, os, sys
from pipeline.ring import AudioRing

def reader(name, close_it, attached, release):
    ring = AudioRing.attach(name)
    ring.wait_for(100, timeout_s=5.0)
    view = ring.read_view(0, 100)
    attached.set()
    release.wait(10)
    if close_it:
        ring.close()  # the other reader just exits with the ring and a view still open

if __name__ == "__main__":
    import numpy as np
    ctx = multiprocessing.get_context("spawn")
    owner = AudioRing.create("clean", 1024, 16000, sys.argv[1])
    owner.write(np.zeros(100, np.float32))
    release = ctx.Event()
    readers = []
    for close_it in (True, False):
        attached = ctx.Event()
        p = ctx.Process(target=reader, args=(owner.name, close_it, attached, release))
        p.start()
        attached.wait(20)
        readers.append(p)
    release.set()
    for p in readers:
        p.join(20)
    print("readers", [p.exitcode for p in readers], flush=True)
    print("exists after readers", os.path.exists("/dev/shm" + owner.name), flush=True)
    owner.close()
    print("exists after owner", os.path.exists("/dev/shm" + owner.name), flush=True)
"""


def test_shutdown_with_attached_readers_is_silent_and_owner_unlinks(tmp_path: Path) -> None:
    script = tmp_path / "shutdown.py"
    script.write_text(textwrap.dedent(_SHUTDOWN_SCRIPT))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "readers [0, 0]",
        "exists after readers True",
        "exists after owner False",
    ]
    for noise in ("resource_tracker", "leaked", "Warning", "Traceback"):
        assert noise not in done.stderr, done.stderr


def test_owner_exiting_without_close_still_unlinks(tmp_path: Path) -> None:
    script = "import sys; from pipeline.ring import AudioRing\n"
    script += "print(AudioRing.create('noclose', 64, 16000, sys.argv[1]).name)"
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0 and done.stderr == ""
    assert not Path("/dev/shm" + done.stdout.strip()).exists()
    assert remove_stale_segments(tmp_path) == []
