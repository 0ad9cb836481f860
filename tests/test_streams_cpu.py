"""bench/streams.py's CPU by role counts a process that ends during the level (a worker recycled
for memory growth): real processes, a child that burns CPU and exits before the level's end."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import psutil

from bench.streams import CpuSampler

BURN_S = 0.8
# the parent starts a child that burns BURN_S of CPU and exits, then sleeps
PARENT = f"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import time\\nend = time.process_time() + {BURN_S}\\nwhile time.process_time() < end: pass"])
print(child.pid, flush=True)
child.wait()
time.sleep(30)
"""


class TreeDaemon:
    """The part of ``bench.streams.Daemon`` the sampler reads: its process and roles."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True
        )

    def cpu_by_pid(self) -> dict[int, tuple[str, float]]:
        out = {}
        root = psutil.Process(self.process.pid)
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                role = "supervisor" if process.pid == root.pid else "asr"
                out[process.pid] = (role, sum(process.cpu_times()[:2]))
        return out


def test_a_process_that_ended_during_the_level_is_counted() -> None:
    daemon = TreeDaemon()
    try:
        sampler = CpuSampler(daemon)  # type: ignore[arg-type]
        sampler.start()
        child_pid = int(daemon.process.stdout.readline())  # type: ignore[union-attr]
        deadline = time.monotonic() + 20
        while psutil.pid_exists(child_pid) and time.monotonic() < deadline:
            with contextlib.suppress(psutil.Error):
                if psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE:
                    break
            time.sleep(0.05)
        time.sleep(0.2)
        used, ended = sampler.by_role()
        # read at the start and the end only, the child (gone by then) would count nothing;
        # sampled, it counts up to its last reading (at most SAMPLE_S of its CPU missed)
        assert used.get("asr", 0.0) >= BURN_S - CpuSampler.SAMPLE_S - 0.15, used
        assert ended.get("asr") == 1, ended
    finally:
        daemon.process.kill()
        daemon.process.wait()
