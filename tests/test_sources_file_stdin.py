"""File and raw stdin sources."""

import io
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.errors import AudioSourceError
from pipeline.sources import open_source
from pipeline.sources.file_source import FileSource
from pipeline.sources.resample import convert_all
from pipeline.sources.stdin_source import StdinSource
from tests.data_paths import DATA_DIR

DATA = DATA_DIR
JFK = DATA / "jfk.flac"  # 11.0 s, 44.1 kHz, stereo, 24-bit
HARVARD = DATA / "harvard_list72_8k.wav"  # 35.5 s, 8 kHz, mono, 16-bit


def collect(source, max_samples: int | None = None) -> np.ndarray:
    blocks = []
    count = 0
    for block in source.blocks():
        assert block.dtype == np.float32 and block.ndim == 1
        assert np.isfinite(block).all() and np.abs(block).max(initial=0) <= 1.0
        blocks.append(block)
        count += block.size
        if max_samples is not None and count >= max_samples:
            break
    return np.concatenate(blocks)


def write_wav(path: Path, audio: np.ndarray, rate_hz: int) -> Path:
    soundfile.write(path, audio, rate_hz, subtype="PCM_16")
    return path


# --- file ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "native_frames"), [(JFK, 485_100), (HARVARD, 284_383)])
def test_file_converts_to_16khz_with_expected_length(path: Path, native_frames: int) -> None:
    info = soundfile.info(path)
    assert info.frames == native_frames
    with open_source(f"file:{path}", pace="fast", block_duration_ms=20) as source:
        blocks = list(source.blocks())
        stats = source.stats
    out = np.concatenate(blocks)
    assert out.size == round(native_frames * SAMPLE_RATE_HZ / info.samplerate)
    assert all(b.size == 320 for b in blocks[:-1]) and 0 < blocks[-1].size <= 320
    assert stats.samples_emitted == out.size and stats.blocks_emitted == len(blocks)
    assert (stats.native_rate_hz, stats.native_channels) == (info.samplerate, info.channels)
    assert 0.01 < float(np.sqrt(np.mean(out**2))) < 0.5  # speech, not silence


def test_file_output_matches_whole_file_conversion_for_any_block_size() -> None:
    reference = convert_all(soundfile.read(JFK, dtype="float32")[0], 44_100)
    for block_ms in (5, 20, 100, 500):
        source = FileSource(JFK, block_duration_ms=block_ms, pace="fast", remove_dc=False)
        np.testing.assert_allclose(collect(source), reference, atol=1e-6)


def test_realtime_pacing_follows_the_wall_clock_without_drift(tmp_path: Path) -> None:
    duration_s = 1.5
    audio = np.random.default_rng(2).uniform(-0.3, 0.3, int(8000 * duration_s))
    source = FileSource(write_wav(tmp_path / "a.wav", audio, 8000), block_duration_ms=20)
    start_s = time.monotonic()
    lateness_s = []
    emitted = 0
    for block in source.blocks():
        emitted += block.size
        lateness_s.append(time.monotonic() - start_s - emitted / SAMPLE_RATE_HZ)
    elapsed_s = time.monotonic() - start_s
    assert emitted == int(SAMPLE_RATE_HZ * duration_s)
    assert duration_s - 0.05 < elapsed_s < duration_s + 0.3
    # Each block is released when its audio would have ended: never early, and the schedule
    # is absolute, so the lateness at the end is no larger than in the first half (no drift).
    assert min(lateness_s) > -0.03
    late_half = lateness_s[len(lateness_s) // 2 :]
    assert float(np.median(late_half)) < 0.05


def test_fast_pace_is_much_faster_than_real_time() -> None:
    start_s = time.monotonic()
    out = collect(FileSource(HARVARD, pace="fast"))
    assert out.size == 284_383 * 2
    assert time.monotonic() - start_s < 5.0  # 35.5 s of audio


def test_loop_is_continuous_across_the_file_end(tmp_path: Path) -> None:
    audio = np.sin(2 * np.pi * 300 * np.arange(4410) / 44_100) * 0.4  # 0.1 s at 44.1 kHz
    path = write_wav(tmp_path / "loop.wav", audio, 44_100)
    on_disk = soundfile.read(path, dtype="float32")[0]
    source = FileSource(path, block_duration_ms=20, pace="fast", loop=True, remove_dc=False)
    out = collect(source, max_samples=5 * 1600 + 500)[: 5 * 1600]
    source.close()
    assert source.stats.loops_completed >= 5
    reference = convert_all(np.tile(on_disk, 6), 44_100)[: 5 * 1600]
    np.testing.assert_allclose(out, reference, atol=1e-5)


def test_close_stops_a_realtime_file_at_once() -> None:
    source = FileSource(JFK, pace="realtime")
    iterator = source.blocks()
    next(iterator)
    source.close()
    assert list(iterator) == []


def test_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.wav"
    with pytest.raises(AudioSourceError, match=r"nowhere\.wav"):
        open_source(f"file:{missing}")


def test_corrupt_file_is_an_error_naming_it_and_the_reason(tmp_path: Path) -> None:
    corrupt = tmp_path / "garbage.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + bytes(range(256)) * 8)
    with pytest.raises(AudioSourceError, match=r"garbage\.wav.*: .+") as caught:
        open_source(f"file:{corrupt}")
    assert isinstance(caught.value.__cause__, Exception)


# --- stdin ---------------------------------------------------------------------------------


class TrickleStream(io.RawIOBase):
    """A byte stream that returns at most ``step`` bytes per read, like a slow pipe."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._position = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self._step if size < 0 else min(size, self._step)
        chunk = self._data[self._position : self._position + size]
        self._position += len(chunk)
        return chunk


def test_stdin_s16le_mono_16khz_is_exact() -> None:
    pcm = np.random.default_rng(3).integers(-32768, 32767, 16_000).astype("<i2")
    source = StdinSource("s16le", 16_000, remove_dc=False, stream=io.BytesIO(pcm.tobytes()))
    out = collect(source)
    np.testing.assert_array_equal(out, pcm.astype(np.float32) / 32768)


def test_stdin_f32le_stereo_is_down_mixed_and_resampled() -> None:
    rng = np.random.default_rng(4)
    stereo = rng.uniform(-0.5, 0.5, (48_000, 2)).astype("<f4")
    source = open_source(
        "stdin:f32le:48000:2", remove_dc=False, stdin_stream=io.BytesIO(stereo.tobytes())
    )
    np.testing.assert_allclose(collect(source), convert_all(stereo, 48_000), atol=1e-6)


@pytest.mark.parametrize("step", [1, 3, 7, 1001])
def test_stdin_frames_split_across_reads(step: int) -> None:
    stereo = np.random.default_rng(5).integers(-12000, 12000, (4_000, 2)).astype("<i2")
    data = stereo.tobytes()
    source = StdinSource("s16le", 8_000, 2, remove_dc=False, stream=TrickleStream(data, step))
    out = collect(source)
    np.testing.assert_allclose(out, convert_all(stereo, 8_000), atol=1e-6)
    assert source.stats.truncated_bytes == 0


def test_stdin_eof_inside_a_frame_ends_the_stream_and_counts_the_rest() -> None:
    pcm = np.arange(-1000, 1000, dtype="<i2")
    source = StdinSource(
        "s16le", 16_000, 2, remove_dc=False, stream=io.BytesIO(pcm.tobytes() + b"\x01\x02\x03")
    )
    out = collect(source)
    assert out.size == 1000
    assert source.stats.truncated_bytes == 3


def test_stdin_empty_stream_yields_nothing() -> None:
    assert list(StdinSource("f32le", 16_000, stream=io.BytesIO(b"")).blocks()) == []
