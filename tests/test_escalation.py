"""Escalate, never hang: a source that cannot open stops the start; a worker that cannot load
is retried behind a circuit breaker; when nothing can make progress a finite source ends with a
non-zero exit and the reason."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile

from pipeline.messages import ShutdownAck, ShutdownRequest
from tests.daemon_harness import DaemonRun, process_row
from tests.data_paths import DATA_DIR, REPO_ROOT
from workers.progress_watch import EXIT_NO_PROGRESS

HARVARD = DATA_DIR / "harvard_list72_8k.wav"
FAST_BREAKER = (
    "--set",
    "supervisor.restart_max=1",
    "--set",
    "supervisor.restart_backoff_max_s=1",
    "--set",
    "supervisor.restart_window_s=5",  # also how long an open breaker means "stuck"
)
# A stop drains queued finals for up to supervisor.shutdown_timeout_s (10 s), even when no
# worker can ever serve them; tests that do not test the stop wait 1 s instead.
SHORT_STOP = ("--set", "supervisor.shutdown_timeout_s=1")


@pytest.mark.parametrize("source", ["file:/nonexistent.wav", "bogus:x", "broken"])
def test_a_source_that_cannot_be_opened_fails_the_start_at_once(tmp_path, source: str) -> None:
    if source == "broken":
        broken = tmp_path / "broken.wav"
        broken.write_bytes(b"RIFF" + np.random.default_rng(1).bytes(2000))
        source = f"file:{broken}"
    runtime_dir = tmp_path / "rt"
    started_s = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "run.py"),
            "daemon",
            "--source",
            source,
            "--set",
            f"outputs.runtime_dir={runtime_dir}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert source.split(":", 1)[1] in lines[0] or "bogus" in lines[0]
    assert time.monotonic() - started_s < 30
    # nothing was spawned or created: no sockets, no shared memory, no lock
    assert not runtime_dir.exists() or not any(runtime_dir.iterdir())


def _short_clip(tmp_path) -> str:
    """The first sentence of the Harvard list (3.6 s): one segment, one request."""
    audio, rate = soundfile.read(HARVARD, dtype="float32", frames=int(3.6 * 8000))
    short = tmp_path / "short.wav"
    soundfile.write(short, audio, rate)
    return str(short)


def _run_with_load_fault(
    tmp_path, fail_times: int, *arguments: str, request_delay_s: float = 0.0
) -> tuple[DaemonRun, str]:
    counter = tmp_path / "loads"
    fault = {"counter": str(counter), "fail_times": fail_times, "request_delay_s": request_delay_s}
    os.environ["STREAMSCRIBE_TEST_LOAD_FAULT"] = json.dumps(fault)
    try:
        run = DaemonRun(*arguments).start()
    finally:
        del os.environ["STREAMSCRIBE_TEST_LOAD_FAULT"]
    return run, str(counter)


def test_a_worker_that_fails_to_load_twice_recovers_behind_the_breaker(tmp_path) -> None:
    run, counter = _run_with_load_fault(
        tmp_path,
        2,
        "--source",
        f"file:{_short_clip(tmp_path)}",
        "--pace",
        "fast",
        "--workers",
        "1",
        *FAST_BREAKER,
    )
    try:
        assert run.wait(240) == 0, run.log()[-4000:]
        log = run.log()
        assert os.path.getsize(counter) == 3  # two failed loads, then one that worked
        assert "health: degraded" in log  # reported while the breaker was open
        journal = run.journal()
        assert journal and " ".join(f["text"] for f in journal).strip()
    finally:
        run.cleanup()


def test_a_worker_that_never_loads_ends_a_finite_source_with_the_reason(tmp_path) -> None:
    run, counter = _run_with_load_fault(
        tmp_path,
        10_000,
        "--source",
        f"file:{HARVARD}",
        "--pace",
        "fast",
        "--workers",
        "1",
        *FAST_BREAKER,
    )
    try:
        started_s = time.monotonic()
        assert run.wait(120) == EXIT_NO_PROGRESS, run.log()[-4000:]
        assert time.monotonic() - started_s < 120
        log = run.log()
        assert "no progress is possible" in log
        assert "every asr worker keeps failing" in log
        assert os.path.getsize(counter) >= 3  # retried behind the breaker first
        # the queued finals cannot be served: the stop does not wait its 10 s timeout for them
        assert "no worker can serve the queued work" in log
        assert "shutdown timeout" not in log
    finally:
        run.cleanup()


def test_a_live_source_whose_workers_never_load_stays_up_and_reports_degraded(tmp_path) -> None:
    run, _ = _run_with_load_fault(
        tmp_path,
        10_000,
        "--source",
        f"file:{HARVARD}",
        "--loop",  # never ends: a live source as far as escalation goes
        "--pace",
        "realtime",
        "--workers",
        "1",
        *FAST_BREAKER,
        *SHORT_STOP,
    )
    try:
        status = run.wait_for(
            lambda s: "every asr worker" in s["metrics"]["health"].get("reason", ""),
            120,
            "health to report the failing workers",
        )
        assert status["metrics"]["health"]["state"] == "degraded"
        time.sleep(3.0)
        assert run.process.poll() is None  # still serving (status, capture, VAD)
        assert isinstance(run.request(ShutdownRequest()), ShutdownAck)
        assert run.wait(60) == 0
    finally:
        run.cleanup()


def test_a_slow_worker_is_not_killed_as_hung_on_a_short_request(tmp_path) -> None:
    """A 3 s request that takes 15 s (a slow engine paying Whisper's 30 s window): the old limit
    (1 x audio + 10 s = 13 s) killed it as hung; the limit now starts from the billed window."""
    run, _ = _run_with_load_fault(
        tmp_path,
        0,
        "--source",
        f"file:{_short_clip(tmp_path)}",
        "--pace",
        "fast",
        "--workers",
        "1",
        "--set",
        "supervisor.inference_timeout_factor=1",
        request_delay_s=15.0,
    )
    try:
        assert run.wait(120) == 0, run.log()[-4000:]
        log = run.log()
        assert "busy for" not in log and "replacing it" not in log, log[-3000:]
        journal = run.journal()
        assert len(journal) == 1 and journal[0]["text"].strip()
        assert journal[0]["latency_ms"] > 15_000  # it really was that slow
    finally:
        run.cleanup()


def test_a_capture_that_cannot_come_back_ends_a_finite_source_with_the_reason(tmp_path) -> None:
    """A file source whose file is gone when capture is restarted: every restart fails, the
    breaker opens, and once no capture process is alive for a whole restart window the daemon
    gives up on the source with the reason (the stream children's side of the verdict that
    waits for a start still in progress, ``StreamProcesses.health``)."""
    audio = tmp_path / "talk.wav"
    samples, rate = soundfile.read(HARVARD, dtype="float32")
    soundfile.write(audio, np.tile(samples, 3), rate)  # long enough to be cut off mid-way
    run = DaemonRun(
        "--source", f"file:{audio}", "--pace", "realtime", "--workers", "1",
        *FAST_BREAKER, *SHORT_STOP,
    ).start()  # fmt: skip
    try:
        status = run.wait_for(
            lambda s: process_row(s, "capture").get("pid") and s["metrics"]["last_seq"] is not None,
            120,
            "capture running and a first final",
        )
        audio.unlink()
        os.kill(process_row(status, "capture")["pid"], signal.SIGKILL)
        started_s = time.monotonic()
        assert run.wait(120) == EXIT_NO_PROGRESS, run.log()[-4000:]
        assert time.monotonic() - started_s < 120
        log = run.log()
        assert "no progress is possible" in log and "capture" in log.split("no progress")[-1]
        assert run.journal()  # what was transcribed before stays
    finally:
        run.cleanup()
