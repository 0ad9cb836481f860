"""Capture and vad as real processes: ring, ipc sockets, flow control, restarts, heartbeats."""

from __future__ import annotations

import statistics
import time

import numpy as np

from pipeline.audio_format import SAMPLE_RATE_HZ, samples_to_seconds, seconds_to_samples
from pipeline.messages import (
    EndOfStream,
    GapEvent,
    RingOverrunReport,
    SpeechEnded,
    SpeechOngoing,
    SpeechStarted,
    VadStats,
)
from pipeline.sources.file_source import FileSource
from pipeline.vad import SpeechEnd, SpeechProgress, SpeechStart, StreamVad
from tests.process_harness import DATA_DIR, StreamHarness, converted_file

DICTATION = "dictation_dev.wav"
FAST_FILE = {"capture.source": f"file:{DATA_DIR / DICTATION}", "capture.pace": "fast"}
BLOCK_SAMPLES = 320  # 20 ms, capture's default block
RESUME_TOLERANCE = 2e-3  # a resumed file differs only by the restarted DC tracker (FileSource)


def reference_events(harness: StreamHarness, samples: np.ndarray) -> list[tuple]:
    """The in-process StreamVad's events on ``samples`` (fed from index 0, flushed at the end)."""
    vad = StreamVad.from_config(harness.config.vad)
    found = []
    for pos in range(0, samples.size, BLOCK_SAMPLES):
        found += vad.process(samples[pos : pos + BLOCK_SAMPLES], pos)
    found += vad.flush(samples.size)
    rows = []
    for e in found:
        if isinstance(e, SpeechStart):
            rows.append(("started", e.segment_index, e.start_index))
        elif isinstance(e, SpeechProgress):
            rows.append(("ongoing", e.segment_index, e.start_index, e.current_index))
        elif isinstance(e, SpeechEnd):
            rows.append(("ended", e.segment_index, e.start_index, e.end_index, e.split))
    return rows


def process_events(harness: StreamHarness) -> list[tuple]:
    rows = []
    for m in harness.speech_events():
        if isinstance(m, SpeechStarted):
            rows.append(("started", m.segment_id, m.start_index))
        elif isinstance(m, SpeechOngoing):
            rows.append(("ongoing", m.segment_id, m.start_index, m.current_index))
        else:
            rows.append(("ended", m.segment_id, m.start_index, m.end_index, m.split))
    return rows


class SlowReader:
    """Holds a cursor and copies the ring out 1 s at a time, slowly; a lap would raise."""

    def __init__(self, harness: StreamHarness) -> None:
        self.ring = harness.ring
        self.slot = self.ring.claim_cursor("test", 0)
        self.position = 0
        self.pieces: list[np.ndarray] = []

    def read_until(self, until_index: int) -> None:
        while self.position < until_index:
            self.ring.wait_for(self.position + 1, timeout_s=5.0)
            piece = self.ring.read(self.position, min(self.position + SAMPLE_RATE_HZ, until_index))
            assert piece.size, f"no audio after {self.position}"
            self.pieces.append(piece)
            self.position += piece.size
            self.ring.set_cursor(self.slot, self.position)
            time.sleep(0.01)

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self.pieces)


def test_file_resume_seeks_to_the_converted_sample() -> None:
    path = DATA_DIR / "harvard_list72_8k.wav"  # resampled: the cut is not on a native frame
    full = np.concatenate(list(FileSource(path, 20, "fast").blocks()))
    start = 160_123
    rest = np.concatenate(list(FileSource(path, 20, "fast", start_sample=start).blocks()))
    assert start + rest.size == full.size
    np.testing.assert_allclose(rest, full[start:], atol=RESUME_TOLERANCE)
    looping = FileSource(path, 20, "fast", loop=True, start_sample=2 * full.size + start)
    first = next(looping.blocks())
    np.testing.assert_allclose(first, full[start : start + first.size], atol=RESUME_TOLERANCE)
    assert looping.stats.loops_completed == 2
    looping.close()


def test_chain_gives_the_in_process_vad_events() -> None:
    samples = converted_file(DICTATION)
    with StreamHarness.create(FAST_FILE) as harness:
        harness.start_vad()
        harness.start_capture()
        harness.collect_until(StreamHarness.vad_finished, timeout_s=30)
        assert harness.exit_code("capture") == 0 and harness.exit_code("vad") == 0
        (end,) = harness.messages(EndOfStream)
        assert end.final_index == samples.size
        np.testing.assert_array_equal(harness.ring.read(0, samples.size), samples)
        expected = reference_events(harness, samples)
        assert sum(row[0] == "ended" for row in expected) >= 5
        assert process_events(harness) == expected
        assert harness.capture_events("started") and harness.capture_events("source_ended")
        assert harness.messages(VadStats)[-1].windows["energy"] > 0
        assert harness.ring.cursors() == []  # the vad released its cursor


def test_small_ring_fast_capture_never_laps_a_slow_cursor_holder() -> None:
    samples = converted_file(DICTATION)
    with StreamHarness.create(FAST_FILE, ring_capacity_s=5.0) as harness:
        reader = SlowReader(harness)
        harness.start_capture()
        reader.read_until(samples.size)  # a RingOverrun would fail here
        harness.collect_until(lambda h: bool(h.messages(EndOfStream)), timeout_s=10)
        np.testing.assert_array_equal(reader.audio, samples)
        assert harness.exit_code("capture") == 0


def test_lagging_vad_without_cursor_reports_overrun_and_resynchronises() -> None:
    samples = converted_file(DICTATION)
    capacity = 5 * SAMPLE_RATE_HZ
    with StreamHarness.create(FAST_FILE, ring_capacity_s=5.0) as harness:
        harness.start_capture(await_reader=False)
        harness.collect_until(lambda h: bool(h.messages(EndOfStream)), timeout_s=10)
        harness.start_vad(hold_cursor=False, start_index=0)  # 45 s behind a 5 s ring
        harness.collect_until(StreamHarness.vad_finished, timeout_s=20)
        assert harness.exit_code("vad") == 0
        (report,) = harness.messages(RingOverrunReport)
        assert report.reader == "vad" and report.requested_index == 0
        assert report.oldest_index == samples.size - capacity == report.write_index - capacity
        ends = harness.messages(SpeechEnded)
        assert ends and all(e.start_index >= report.oldest_index for e in ends)
        (gap,) = harness.messages(GapEvent)  # the skipped audio, for subscribers
        assert gap.reason == "vad_resync" and gap.start_s == 0.0
        assert gap.end_s == samples_to_seconds(report.oldest_index + capacity // 8)
        assert all(e.start_index >= seconds_to_samples(gap.end_s) for e in ends)


def test_capture_killed_mid_file_resumes_without_repeat_or_gap() -> None:
    samples = converted_file(DICTATION)
    with StreamHarness.create(FAST_FILE, ring_capacity_s=5.0) as harness:
        reader = SlowReader(harness)
        harness.start_capture()
        reader.read_until(15 * SAMPLE_RATE_HZ)  # capture is up to 5 s ahead
        killed_at = harness.ring.write_index
        harness.kill("capture")
        assert harness.exited["capture"] == [-9]
        assert 15 * SAMPLE_RATE_HZ < killed_at < samples.size
        harness.start_capture()
        reader.read_until(samples.size)
        harness.collect_until(lambda h: bool(h.messages(EndOfStream)), timeout_s=10)
        assert harness.exit_code("capture") == 0
        (end,) = harness.messages(EndOfStream)
        assert end.final_index == samples.size  # no sample repeated or skipped
        ring_audio = reader.audio
        np.testing.assert_array_equal(ring_audio[:killed_at], samples[:killed_at])
        np.testing.assert_allclose(ring_audio, samples, atol=RESUME_TOLERANCE)
        resumed = [e for e in harness.capture_events("started") if e.write_index]
        assert [e.write_index for e in resumed] == [killed_at]


def restart_point(harness: StreamHarness) -> int:
    """Where a restarted vad must begin: the start of a segment left open, else the last end."""
    started = harness.messages(SpeechStarted)
    ended = harness.messages(SpeechEnded)
    open_ids = {s.segment_id for s in started} - {e.segment_id for e in ended}
    if open_ids:
        return min(s.start_index for s in started if s.segment_id in open_ids)
    return ended[-1].end_index if ended else 0


def test_vad_killed_and_restarted_continues_with_unique_increasing_ids() -> None:
    """The test plays the supervisor: it holds a cursor at the vad's restart point, so capture
    (fast) cannot overwrite what a restarted vad must read, and releases it once the new vad
    holds its own cursor."""
    samples = converted_file(DICTATION)
    with StreamHarness.create(FAST_FILE, ring_capacity_s=20.0) as harness:
        ring = harness.ring
        slot = ring.claim_cursor("test", 0)
        harness.start_vad(start_index=0)  # capture may be ahead by then: a fresh stream is at 0
        harness.start_capture()
        deadline_s = time.monotonic() + 20
        while len(harness.messages(SpeechEnded)) < 2 and time.monotonic() < deadline_s:
            ring.set_cursor(slot, restart_point(harness))
            harness.receive_for(0.02)
        harness.kill("vad")
        # what the vad sent before it died (a segment's end in flight) counts as before the
        # restart; read after ``before``, it was taken for the new vad's (6 ends against 5)
        harness.receive_for(0.3)
        assert ring.write_index < samples.size  # killed mid-file
        restart_index = restart_point(harness)
        ring.set_cursor(slot, restart_index)
        next_id = max(s.segment_id for s in harness.messages(SpeechStarted)) + 1
        before = len(harness.messages(SpeechEnded))
        harness.start_vad(start_index=restart_index, first_segment_id=next_id)
        harness.collect_until(
            lambda h: any(c.label == "vad" and c.alive for c in ring.cursors()), timeout_s=15
        )
        ring.release_cursor(slot)
        harness.collect_until(StreamHarness.vad_finished, timeout_s=30)
        assert harness.exit_code("vad") == 0
        assert not harness.messages(RingOverrunReport)
        ids = [m.segment_id for m in harness.messages(SpeechStarted)]
        assert ids == sorted(set(ids)), ids  # unique and increasing across the restart
        after = harness.messages(SpeechEnded)[before:]
        assert after and after[0].segment_id >= next_id
        assert all(e.start_index >= restart_index for e in after)
        reference = [r for r in reference_events(harness, samples) if r[0] == "ended"]
        later = [r for r in reference if r[2] >= restart_index]
        assert len(after) == len(later)
        # a fresh detector on a new window grid: the same segments, edges within 0.5 s
        for got, want in zip(after, later, strict=True):
            assert abs(got.start_index - want[2]) <= 8000 and abs(got.end_index - want[3]) <= 8000


def test_heartbeats_from_both_at_the_configured_interval() -> None:
    realtime = {
        "capture.source": f"file:{DATA_DIR / 'jfk.flac'}",
        "capture.pace": "realtime",
        "supervisor.heartbeat_interval_s": "0.2",
    }
    with StreamHarness.create(realtime) as harness:
        harness.start_vad(stats_interval_s=0.5)
        harness.start_capture()
        harness.collect_until(
            lambda h: len(h.heartbeats("capture")) >= 8 and len(h.heartbeats("vad")) >= 8,
            timeout_s=15,
        )
        for role in ("capture", "vad"):
            times = [a.at_s for a in harness.heartbeats(role)]
            gaps = np.diff(times)
            assert 0.15 <= statistics.median(gaps) <= 0.3, (role, gaps)
            assert max(gaps) < 0.6, (role, gaps)
            assert all(a.message.rss_bytes > 0 for a in harness.heartbeats(role))
        stats = harness.messages(VadStats)
        assert len(stats) >= 2, stats
        assert 0.4 <= statistics.median(s.interval_s for s in stats) <= 0.8, stats
        assert harness.children["capture"].is_alive()  # realtime: still playing


def test_bad_source_reports_an_error_and_exits_non_zero() -> None:
    missing = "/nonexistent/missing_take.wav"
    with StreamHarness.create({"capture.source": f"file:{missing}"}) as harness:
        harness.start_vad()
        harness.start_capture()
        harness.collect_until(lambda h: bool(h.capture_events("error")), timeout_s=15)
        (error,) = harness.capture_events("error")
        assert missing in error.detail
        assert harness.exit_code("capture") == 1
        harness.receive_for(0.3)
        assert harness.children["vad"].is_alive()  # the vad waits for audio, unharmed
        assert harness.ring.write_index == 0 and not harness.messages(EndOfStream)
