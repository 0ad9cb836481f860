"""Microphone source: the callback path, loss and recovery, and real PortAudio capture.

The real-capture tests run PortAudio in a child process against ALSA's ``file`` plugin: the
child's default input device reads a known recording from a raw file, so the captured samples
can be compared with the recording after the documented conversion. The ALSA null device under
the file plugin has no clock, so PortAudio delivers blocks as fast as it can: the callback
buffer keeps the first ``CALLBACK_BUFFER_S`` in order and counts the rest as dropped.
"""

import ctypes.util
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile
import soxr

from pipeline.errors import AudioSourceError
from pipeline.sources.base import DEVICE_LOST, DEVICE_RESTORED
from pipeline.sources.mic_source import CallbackBuffer, MicSource, find_input_device
from pipeline.sources.resample import convert_all
from tests.data_paths import DATA_DIR

REPO = Path(__file__).resolve().parents[1]
LECTURE = DATA_DIR / "lecture_60s_16k.wav"  # 60 s, 16 kHz, mono, 16-bit


class Status:
    """A stand-in for sounddevice.CallbackFlags."""

    def __init__(self, input_overflow: bool) -> None:
        self.input_overflow = input_overflow

    def __bool__(self) -> bool:
        return self.input_overflow


# --- callback buffer -----------------------------------------------------------------------


def test_callback_copies_into_preallocated_slots_without_allocating() -> None:
    frames, channels = 2048, 2  # one block is 16 KiB: any per-call array would show
    buffer = CallbackBuffer(slot_count=8, frames_per_slot=frames, channels=channels)
    blocks = [np.full((frames, channels), i, dtype=np.float32) for i in range(10)]
    no_status = Status(False)
    buffer.callback(blocks[0], frames, None, no_status)  # warm up
    buffer.take()
    tracemalloc.start()
    try:
        for _ in range(50):
            baseline_bytes = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            for block in blocks:  # 8 fill the slots, 2 are dropped
                buffer.callback(block, frames, None, no_status)
            peak_bytes = tracemalloc.get_traced_memory()[1]
            assert peak_bytes - baseline_bytes < 1024
            taken = [buffer.take() for _ in range(9)]
            assert taken[-1] is None
            assert [int(t[0, 0]) for t in taken[:-1]] == list(range(8))
    finally:
        tracemalloc.stop()
    assert buffer.dropped_blocks == 2 * 50
    assert buffer.callback_count == 10 * 50 + 1


def test_callback_counts_overflows_and_drops() -> None:
    buffer = CallbackBuffer(slot_count=4, frames_per_slot=10, channels=1)
    block = np.ones((10, 1), dtype=np.float32)
    for i in range(6):
        buffer.callback(block, 10, None, Status(input_overflow=i % 2 == 0))
    assert buffer.overflow_count == 3
    assert buffer.dropped_blocks == 2
    assert buffer.pending_blocks == 4
    short = buffer.take()
    assert short is not None and short.shape == (10, 1)


def test_callback_keeps_a_short_block_short() -> None:
    buffer = CallbackBuffer(slot_count=2, frames_per_slot=10, channels=1)
    buffer.callback(np.arange(6, dtype=np.float32).reshape(6, 1), 6, None, Status(False))
    np.testing.assert_array_equal(buffer.take()[:, 0], np.arange(6))


# --- loss and recovery, with a fake sounddevice ---------------------------------------------


class FakeStream:
    """Calls the callback from a thread every 2 ms with a ramp, until stopped or unplugged."""

    def __init__(
        self, fake, device, samplerate, channels, dtype, blocksize, callback, finished_callback
    ):
        self._fake = fake
        self.blocksize = blocksize
        self.channels = channels
        self._callback = callback
        self._finished = finished_callback
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.active = False

    def start(self):
        self.active = True
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            if self._fake.stalled:
                time.sleep(0.002)
                continue
            if not self._fake.plugged:
                self.active = False
                self._finished()
                return
            block = np.full((self.blocksize, self.channels), 0.25, dtype=np.float32)
            self._callback(block, self.blocksize, None, Status(False))
            time.sleep(0.002)

    def abort(self, ignore_errors=True):
        self._stop.set()
        self.active = False

    def close(self, ignore_errors=True):
        self.abort()


class FakeSounddevice:
    def __init__(self) -> None:
        self.plugged = True
        self.stalled = False
        self.scan_times_s: list[float] = []  # device list queries: one per open attempt

    def _device(self):
        return {
            "index": 0,
            "name": "Fake USB Mic",
            "hostapi": 0,
            "max_input_channels": 1,
            "default_samplerate": 16000.0,
        }

    def query_devices(self, kind=None):
        if kind == "input":
            if not self.plugged:
                raise RuntimeError("no default input device")
            return self._device()
        self.scan_times_s.append(time.monotonic())
        return [self._device()] if self.plugged else []

    def query_hostapis(self):
        return ({"name": "Fake"},)

    def InputStream(self, **kwargs):
        return FakeStream(self, **kwargs)


def run_source(source: MicSource, stop: threading.Event, out: list) -> threading.Thread:
    def consume() -> None:
        for block in source.blocks():
            out.append((time.monotonic(), block))
            if stop.is_set():
                break

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    return thread


def test_lost_device_is_reported_retried_with_backoff_and_restored() -> None:
    fake = FakeSounddevice()
    source = MicSource(
        "usb mic",
        remove_dc=False,
        retry_initial_s=0.02,
        retry_max_s=0.08,
        idle_yield_s=0.01,
        sounddevice_module=fake,
    )
    stop = threading.Event()
    out: list = []
    thread = run_source(source, stop, out)
    time.sleep(0.15)
    fake.plugged = False
    time.sleep(0.5)
    fake.plugged = True
    time.sleep(0.2)
    stop.set()
    thread.join(5)
    source.close()
    assert not thread.is_alive()
    events = source.poll_events()
    assert [e.kind for e in events] == [DEVICE_LOST, DEVICE_RESTORED]
    assert "Fake USB Mic" in events[0].detail
    assert source.stats.device_losses == 1 and source.stats.device_restores == 1
    # backoff: waits double from 0.02 s and stop growing at 0.08 s
    assert len(fake.scan_times_s) >= 5
    gaps_s = np.diff(fake.scan_times_s[1:])  # between reopen attempts
    assert gaps_s[0] >= 0.035 and gaps_s[-1] >= 0.075  # waits are lower bounds
    assert max(gaps_s) < 0.3  # capped at retry_max_s (plus scheduling slack)
    audio = [b for _, b in out if b.size]
    idle = [b for _, b in out if not b.size]
    assert idle, "empty blocks keep a single-threaded consumer alive during the outage"
    restored_at = events[1].sample_index
    assert sum(b.size for b in audio) > restored_at  # audio flows again after the restore
    assert all(np.allclose(b, 0.25) for b in audio)


def test_a_stalled_stream_counts_as_lost() -> None:
    fake = FakeSounddevice()
    source = MicSource(
        None, retry_initial_s=0.02, stall_timeout_s=0.1, remove_dc=False, sounddevice_module=fake
    )
    stop = threading.Event()
    thread = run_source(source, stop, [])
    time.sleep(0.05)
    fake.stalled = True
    time.sleep(0.25)
    fake.stalled = False
    time.sleep(0.1)
    stop.set()
    thread.join(5)
    source.close()
    events = source.poll_events()
    assert [e.kind for e in events][:2] == [DEVICE_LOST, DEVICE_RESTORED]
    assert "no audio for" in events[0].detail


def test_missing_device_is_a_clear_error() -> None:
    fake = FakeSounddevice()
    with pytest.raises(AudioSourceError, match=r"no input device matches 'studio'.*Fake USB Mic"):
        MicSource("studio", sounddevice_module=fake)
    with pytest.raises(AudioSourceError, match="index 7"):
        find_input_device(7, fake)
    fake.plugged = False
    with pytest.raises(AudioSourceError, match="no default input device"):
        MicSource(None, sounddevice_module=fake)


# --- real PortAudio through ALSA's file plugin ----------------------------------------------


def portaudio_skip_reason() -> str | None:
    if ctypes.util.find_library("portaudio") is None:
        return "libportaudio2 is not installed (apt install libportaudio2)"
    if not Path("/usr/share/alsa/alsa.conf").exists():
        return "needs ALSA (Linux) for its file plugin"
    try:
        import sounddevice  # noqa: F401
    except OSError as e:
        return f"sounddevice cannot load PortAudio: {e}"
    return None


needs_portaudio = pytest.mark.skipif(
    portaudio_skip_reason() is not None, reason=str(portaudio_skip_reason())
)

CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from pipeline.errors import AudioSourceError
    from pipeline.sources.mic_source import MicSource, list_input_devices

    wanted, out_path = int(sys.argv[1]), sys.argv[2]
    devices = [d.__dict__ for d in list_input_devices()]
    try:
        MicSource("no such microphone")
        missing = ""
    except AudioSourceError as e:
        missing = str(e)
    source = MicSource(None, remove_dc=False)
    blocks, count = [], 0
    for block in source.blocks():
        blocks.append(block)
        count += block.size
        if count >= wanted:
            break
    stats = source.stats
    source.close()
    np.save(out_path, np.concatenate(blocks)[:wanted])
    print(json.dumps({"devices": devices, "missing": missing, "stats": stats.__dict__}))
    """
)


def capture_through_alsa(tmp_path: Path, recording: np.ndarray, rate_hz: int, wanted: int):
    """Play ``recording`` (frames,) float32 as the default ALSA input at ``rate_hz``, stereo."""
    raw = tmp_path / "input.raw"
    np.repeat(recording.astype("<f4")[:, None], 2, axis=1).tofile(raw)
    asoundrc = tmp_path / "asoundrc"
    asoundrc.write_text(
        f'pcm.!default {{ type plug; slave {{ pcm "filein"; rate {rate_hz}; channels 2; '
        "format FLOAT_LE } }\n"
        f'pcm.filein {{ type file; slave.pcm "null"; file "/dev/null"; infile "{raw}"; '
        'format "raw" }\n'
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env["ALSA_CONFIG_PATH"] = f"/usr/share/alsa/alsa.conf:{asoundrc}"
    out_path = tmp_path / "captured.npy"
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(wanted), str(out_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return np.load(out_path), report


@needs_portaudio
def test_real_capture_at_16khz_returns_the_recording_exactly(tmp_path: Path) -> None:
    pcm, rate_hz = soundfile.read(LECTURE, dtype="int16", frames=24_000)
    assert rate_hz == 16_000
    recording = pcm.astype(np.float32) / 32768
    captured, report = capture_through_alsa(tmp_path, recording, 16_000, wanted=16_000)
    np.testing.assert_array_equal(captured, recording[:16_000])
    default = [d for d in report["devices"] if d["is_default"]]
    assert default and default[0]["default_rate_hz"] == 16_000
    assert report["stats"]["native_rate_hz"] == 16_000
    assert report["stats"]["native_channels"] == 2
    assert "no such microphone" in report["missing"] and "default" in report["missing"]


@needs_portaudio
def test_real_capture_at_48khz_matches_the_in_process_converter(tmp_path: Path) -> None:
    pcm, _ = soundfile.read(LECTURE, dtype="float32", frames=24_000)
    recording = convert_all(pcm, 16_000)
    recording_48k = soxr.resample(recording, 16_000, 48_000).astype(np.float32)
    captured, report = capture_through_alsa(tmp_path, recording_48k, 48_000, wanted=16_000)
    assert report["stats"]["native_rate_hz"] == 48_000
    expected = convert_all(recording_48k, 48_000)[:16_000]
    np.testing.assert_allclose(captured, expected, atol=1e-5)
    assert float(np.sqrt(np.mean(captured**2))) > 0.01


def test_missing_portaudio_library_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_portaudio(name, *args, **kwargs):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_portaudio)
    with pytest.raises(AudioSourceError, match="libportaudio2"):
        MicSource()
