"""The VAD judges whole 32 ms windows: capture ticks once per window, the VAD reads once per window,
and the events stay those of the in-process VAD (real processes, realtime pace)."""

from __future__ import annotations

import numpy as np

from pipeline.messages import EndOfStream
from pipeline.vad import WINDOW_SAMPLES, StreamVad
from tests.process_harness import DATA_DIR, StreamHarness, converted_file
from tests.test_capture_vad_processes import process_events, reference_events
from workers.capture import VAD_WINDOW_SAMPLES

FILE = "jfk.flac"  # 11 s


def test_samples_to_next_window_counts_what_the_window_still_needs() -> None:
    from config.loader import load_config

    vad = StreamVad.from_config(load_config(environ={}).config.vad)
    vad.reset(0)
    assert vad.samples_to_next_window == WINDOW_SAMPLES
    vad.process(np.zeros(300, np.float32), 0)
    assert vad.samples_to_next_window == WINDOW_SAMPLES - 300
    vad.process(np.zeros(WINDOW_SAMPLES - 300 + 10, np.float32), 300)
    assert vad.samples_to_next_window == WINDOW_SAMPLES - 10
    assert VAD_WINDOW_SAMPLES == WINDOW_SAMPLES  # capture's tick granule is the VAD's window


def test_chain_with_10ms_blocks_gives_the_in_process_events() -> None:
    """10 ms blocks (low-latency): the VAD reads only once a window is whole; same events."""
    samples = converted_file(FILE, block_duration_ms=10)
    with StreamHarness.create(settings("fast")) as harness:
        harness.start_vad()
        harness.start_capture()
        harness.collect_until(StreamHarness.vad_finished, timeout_s=60)
        assert harness.exit_code("capture") == 0 and harness.exit_code("vad") == 0
        (end,) = harness.messages(EndOfStream)
        assert end.final_index == samples.size
        expected = reference_events(harness, samples)
        assert any(row[0] == "ended" for row in expected)
        assert process_events(harness) == expected  # nothing lost or moved by reading per window


def test_realtime_ticks_per_window_lose_nothing() -> None:
    """Realtime, 10 ms blocks: capture ticks once per VAD window; every sample still reaches the
    VAD (its last segment ends at the end of the audio or before) and both exit cleanly."""
    samples = converted_file(FILE, block_duration_ms=10)
    with StreamHarness.create(settings("realtime")) as harness:
        harness.start_vad()
        harness.start_capture()
        harness.collect_until(StreamHarness.vad_finished, timeout_s=60)
        assert harness.exit_code("capture") == 0 and harness.exit_code("vad") == 0
        (end,) = harness.messages(EndOfStream)
        assert end.final_index == samples.size
        rows = process_events(harness)
        ended = [row for row in rows if row[0] == "ended"]
        assert ended and ended[-1][3] <= samples.size
        assert sum(row[0] == "started" for row in rows) == len(ended)  # every segment closed


def settings(pace: str) -> dict[str, object]:
    return {
        "capture.source": f"file:{DATA_DIR / FILE}",
        "capture.pace": pace,
        "capture.block_duration_ms": 10,
    }


def test_idle_stream_vad_wakes_about_once_a_second() -> None:
    """An idle push stream (no client): after IDLE_AFTER_S without audio the VAD polls every
    IDLE_POLL_S, not every POLL_S (about 10 wake-ups a second before)."""
    import time

    import psutil

    from workers.vad import IDLE_AFTER_S, IDLE_POLL_S, POLL_S

    assert IDLE_POLL_S >= 5 * POLL_S
    with StreamHarness.create({"capture.source": "push:s16le:16000"}) as harness:
        harness.audio_endpoint_name = "i.audio"  # push streams need a ``*.audio`` endpoint
        harness.start_vad()
        harness.start_capture()
        harness.collect_until(lambda h: bool(h.capture_events("started")), timeout_s=30)
        harness.receive_for(IDLE_AFTER_S + 0.5)
        vad = psutil.Process(harness.children["vad"].pid)
        before = vad.num_ctx_switches().voluntary
        started_s = time.monotonic()
        harness.receive_for(3.0)
        per_s = (vad.num_ctx_switches().voluntary - before) / (time.monotonic() - started_s)
        assert harness.children["vad"].is_alive() and harness.heartbeats("vad")
        assert per_s <= 4.0, f"idle vad woke {per_s:.1f} times a second"
