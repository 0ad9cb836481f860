"""Source spec parsing, the 16 kHz converter and the sanitizer."""

import numpy as np
import pytest

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.errors import AudioSourceError
from pipeline.sources.resample import StreamConverter, convert_all
from pipeline.sources.sanitize import Sanitizer
from pipeline.sources.source_spec import SourceSpec, parse_source_spec


def tone(freq_hz: float, rate_hz: int, duration_s: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate_hz * duration_s)) / rate_hz
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def dominant_frequency_hz(x: np.ndarray, rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate_hz)[np.argmax(spectrum)])


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


# --- source spec ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mic", SourceSpec(kind="mic")),
        ("mic:3", SourceSpec(kind="mic", device=3)),
        ("mic:USB Audio", SourceSpec(kind="mic", device="USB Audio")),
        ("file:/tmp/a:b.wav", SourceSpec(kind="file", path="/tmp/a:b.wav")),
        ("stdin:s16le:16000", SourceSpec("stdin", sample_format="s16le", rate_hz=16000)),
        ("stdin:F32LE:48000:2", SourceSpec("stdin", None, None, "f32le", 48000, 2)),
    ],
)
def test_parse_source_spec(text: str, expected: SourceSpec) -> None:
    assert parse_source_spec(text) == expected
    assert parse_source_spec(expected.describe()) == expected


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", "empty"),
        ("speaker", "'speaker'"),
        ("mic:", "names no device"),
        ("file:", "names no file"),
        ("stdin:s16le", "stdin:FORMAT:RATE"),
        ("stdin:u8:16000", "'u8'"),
        ("stdin:s16le:fast", "'fast'"),
        ("stdin:s16le:16000:0", "channels 0"),
        ("stdin:s16le:10:1", "rate 10"),
    ],
)
def test_parse_source_spec_rejects(text: str, names: str) -> None:
    with pytest.raises(AudioSourceError, match=names):
        parse_source_spec(text)


# --- converter -----------------------------------------------------------------------------


def test_int16_stereo_is_scaled_and_down_mixed_exactly() -> None:
    left = np.array([0, 16384, -32768, 32767], dtype=np.int16)
    right = np.array([0, 16384, 0, -32767], dtype=np.int16)
    out = convert_all(np.stack([left, right], axis=1), SAMPLE_RATE_HZ)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0.0, 0.5, -0.5, 0.0])


def test_sine_keeps_its_frequency_after_resampling() -> None:
    out = convert_all(tone(1000.0, 44_100, 1.0), 44_100)
    assert out.size == SAMPLE_RATE_HZ
    assert dominant_frequency_hz(out, SAMPLE_RATE_HZ) == pytest.approx(1000.0, abs=2.0)
    assert rms(out[2000:-2000]) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


@pytest.mark.parametrize("freq_hz", [9_000.0, 12_000.0, 15_000.0])
def test_tone_above_nyquist_is_attenuated_by_more_than_40_db(freq_hz: float) -> None:
    passed = convert_all(tone(1000.0, 44_100, 1.0), 44_100)[2000:-2000]
    aliased = convert_all(tone(freq_hz, 44_100, 1.0), 44_100)[2000:-2000]
    attenuation_db = 20 * np.log10(rms(passed) / max(rms(aliased), 1e-12))
    assert attenuation_db > 40.0


@pytest.mark.parametrize("rate_hz", [8_000, 44_100, 48_000])
def test_output_does_not_depend_on_block_size(rate_hz: int) -> None:
    audio = np.random.default_rng(1).uniform(-0.5, 0.5, (rate_hz, 2)).astype(np.float32)
    reference = convert_all(audio, rate_hz)
    assert reference.size == SAMPLE_RATE_HZ
    for block_frames in (1, 37, 441, 4096):
        converter = StreamConverter(rate_hz, 2)
        pieces = [
            converter.convert(audio[i : i + block_frames]) for i in range(0, rate_hz, block_frames)
        ]
        out = np.concatenate([*pieces, converter.flush()])
        np.testing.assert_allclose(out, reference, atol=1e-6)


def test_converter_rejects_wrong_channel_count() -> None:
    with pytest.raises(ValueError, match="channels"):
        StreamConverter(48_000, 2).convert(np.zeros((10, 3), dtype=np.float32))


# --- sanitizer -----------------------------------------------------------------------------


def test_nonfinite_samples_become_zero_and_are_counted() -> None:
    sanitizer = Sanitizer(remove_dc=False)
    block = np.array([0.1, np.nan, np.inf, -np.inf, 0.2], dtype=np.float32)
    out = sanitizer.condition(sanitizer.fix_nonfinite(block))
    np.testing.assert_array_equal(out, np.array([0.1, 0, 0, 0, 0.2], dtype=np.float32))
    assert sanitizer.stats.nonfinite_samples == 3


def test_clipping_is_clamped_and_counted() -> None:
    sanitizer = Sanitizer(remove_dc=False)
    out = sanitizer.condition(np.array([1.5, -2.0, 0.5, 1.0], dtype=np.float32))
    np.testing.assert_array_equal(out, [1.0, -1.0, 0.5, 1.0])
    assert sanitizer.stats.clipped_samples == 2
    assert sanitizer.stats.samples_seen == 4


def test_dc_offset_is_tracked_and_removed() -> None:
    sanitizer = Sanitizer(remove_dc=True)
    signal = tone(440.0, SAMPLE_RATE_HZ, 12.0, amplitude=0.3) + np.float32(0.25)
    out = np.concatenate([sanitizer.condition(b) for b in np.split(signal, signal.size // 320)])
    assert sanitizer.stats.dc_offset == pytest.approx(0.25, abs=0.01)
    assert abs(float(np.mean(out[-SAMPLE_RATE_HZ:]))) < 0.01
    assert rms(out[-SAMPLE_RATE_HZ:]) == pytest.approx(0.3 / np.sqrt(2), rel=0.02)
    # the correction ramps: no step at block boundaries
    assert float(np.max(np.abs(np.diff(out[:32000])))) < 0.1


def test_nan_input_through_the_resampler_never_reaches_the_output() -> None:
    from pipeline.sources.conditioner import BlockConditioner

    audio = tone(500.0, 48_000, 0.5)
    audio[1000:1100] = np.nan
    audio[5000] = np.inf
    conditioner = BlockConditioner(48_000, 1, np.float32, block_samples=320, remove_dc=True)
    blocks = conditioner.push(audio) + conditioner.finish()
    out = np.concatenate(blocks)
    assert np.isfinite(out).all()
    assert out.size == 8000
    assert all(b.size == 320 for b in blocks[:-1])
    assert conditioner.sanitizer.stats.nonfinite_samples == 101
