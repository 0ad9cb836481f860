"""An idle daemon's supervisor sleeps: the real daemon on a looped silent file (realtime pace,
no speech) wakes its main thread a few times a second and spends a few ms of CPU per second.

The loop used to wake every 20 ms whatever happened (about 50 wake-ups and ~19 ms of CPU per
second, idle or not); it now blocks in one poll until a socket has a message or its watch timer
is due. Wake-ups are read as the main thread's voluntary context switches (each one is a blocking
wait that ended), CPU from ``/proc/PID/stat``: both count this process alone, so a loaded
machine slows them little. The bounds are a few times the measured figures (about 6 wake-ups and
3 ms per second) and well under the old loop's.
"""

from __future__ import annotations

import os
import time
import wave
from pathlib import Path

import numpy as np

from tests.daemon_harness import DaemonRun, process_row

WINDOW_S = 6.0
MAX_WAKEUPS_PER_S = 20.0  # the old loop: ~50
MAX_CPU_S_PER_S = 0.012  # the old loop: ~0.019
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def main_thread_wakeups(pid: int) -> int:
    for line in Path(f"/proc/{pid}/task/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches"):
            return int(line.split()[1])
    raise AssertionError(f"no voluntary_ctxt_switches for pid {pid}")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S  # utime + stime


def write_silence(path: Path, seconds: float) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(np.zeros(round(seconds * 16_000), np.int16).tobytes())
    return path


def test_an_idle_daemon_wakes_a_few_times_a_second(tmp_path: Path) -> None:
    silence = write_silence(tmp_path / "silence.wav", 5.0)
    run = DaemonRun("--source", f"file:{silence}", "--loop", "--pace", "realtime").start()
    try:
        status = run.wait_for(
            lambda s: process_row(s, "asr-1")["state"] == "ready", 120, "the worker ready"
        )
        assert all(row["state"] != "failed" for row in status["processes"])
        time.sleep(1.0)  # the status replies and start-up settle; no request during the window
        wakeups, cpu, started_s = main_thread_wakeups(run.pid), cpu_s(run.pid), time.monotonic()
        time.sleep(WINDOW_S)
        elapsed_s = time.monotonic() - started_s
        wakeups_per_s = (main_thread_wakeups(run.pid) - wakeups) / elapsed_s
        cpu_per_s = (cpu_s(run.pid) - cpu) / elapsed_s
        # still supervising: it answers at once, and nothing was restarted meanwhile
        after = run.status()
        assert after is not None
        assert all(row["restarts"] == 0 for row in after["processes"]), after["processes"]
        assert 0 < wakeups_per_s < MAX_WAKEUPS_PER_S, wakeups_per_s
        assert cpu_per_s < MAX_CPU_S_PER_S, cpu_per_s
    finally:
        run.cleanup()
