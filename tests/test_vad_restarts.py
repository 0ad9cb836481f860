"""Restarted VADs on the real daemon: every restart gets the start-up grace, and audio that
kills the VAD twice is skipped and published as a gap instead of killing every successor."""

from __future__ import annotations

import os
import signal
import time

import zmq

from pipeline.bus import open_socket, receive_message
from pipeline.messages import GapEvent
from tests.daemon_harness import DaemonRun, process_row
from tests.data_paths import DATA_DIR

DEMO = DATA_DIR / "demo_pauses_16k.wav"
TIGHT_HEARTBEATS = (
    "--set",
    "supervisor.heartbeat_interval_s=0.1",
    "--set",
    "supervisor.heartbeat_timeout_s=0.5",  # far less than a VAD needs to start
)


def _restarted(run: DaemonRun, victim: int, timeout_s: float) -> dict:
    return run.wait_for(
        lambda s: (
            process_row(s, "vad")["pid"] not in (victim, None)
            and process_row(s, "vad")["state"] == "running"
        ),
        timeout_s,
        "a new vad",
    )


def test_a_restarted_vad_gets_the_start_up_grace() -> None:
    run = DaemonRun(
        "--source", f"file:{DEMO}", "--pace", "realtime", "--workers", "1", *TIGHT_HEARTBEATS
    ).start()
    try:
        status = run.wait_for(lambda s: s["ring"]["write_s"] > 4.0, 120, "4 s of audio")
        victim = process_row(status, "vad")["pid"]
        os.kill(victim, signal.SIGKILL)
        _restarted(run, victim, 30)
        time.sleep(6.0)  # the new VAD imports and loads its models for longer than 0.5 s
        status = run.status()
        assert status is not None
        vad = process_row(status, "vad")
        # restarted once (the kill), not again and again for being silent while starting
        assert vad["restarts"] == 1, (vad, run.log()[-3000:])
        assert "silent" not in run.log()
    finally:
        run.cleanup()


def test_audio_that_kills_the_vad_twice_is_skipped_and_reported_as_a_gap() -> None:
    run = DaemonRun("--source", f"file:{DEMO}", "--pace", "realtime", "--workers", "1").start()
    subscriber = open_socket(
        run.context, zmq.SUB, run.endpoint("transcript"), bind=False, subscribe=[b"event.gap"]
    )
    try:
        status = run.wait_for(lambda s: s["ring"]["write_s"] > 6.0, 120, "6 s of audio")
        first = process_row(status, "vad")["pid"]
        os.kill(first, signal.SIGKILL)  # the first death, at ~6 s
        status = run.wait_for(
            lambda s: process_row(s, "vad")["pid"] not in (first, None), 30, "a second vad"
        )
        second = process_row(status, "vad")["pid"]
        os.kill(second, signal.SIGKILL)  # its successor dies before getting any further
        _restarted(run, second, 30)
        gap = None
        deadline = time.monotonic() + 15
        while gap is None and time.monotonic() < deadline:
            received = receive_message(subscriber, timeout_ms=200)
            if received is not None and isinstance(received.message, GapEvent):
                gap = received.message
        assert gap is not None, run.log()[-3000:]
        assert gap.reason == "vad_crash" and gap.stream_id == "main"
        assert gap.start_s < 6.5 < gap.end_s  # the place both deaths happened is skipped
        assert gap.end_s - gap.start_s < 12.0
        assert "skipping" in run.log()
        status = run.status()
        assert status is not None and process_row(status, "vad")["restarts"] == 2
    finally:
        subscriber.close(linger=0)
        run.cleanup()
