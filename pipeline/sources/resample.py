"""Streaming conversion of native audio to the one format: 16 kHz mono float32.

This is the only place where int→float scaling, down-mixing and resampling happen. The
resampler (soxr, HQ: steep anti-aliasing low-pass, ~20-bit stopband) keeps its filter state
between blocks, so the output does not depend on how the input was cut into blocks.
"""

from __future__ import annotations

import logging

import numpy as np

from pipeline.audio_format import SAMPLE_DTYPE, SAMPLE_RATE_HZ

logger = logging.getLogger(__name__)

RESAMPLE_QUALITY = "HQ"  # soxr quality: "HQ" (20-bit) or "VHQ" (28-bit)

# Full-scale value of each integer sample type: float = int / scale (so int16 → [-1, 1)).
_INT_SCALE: dict[np.dtype, float] = {
    np.dtype(np.int8): 2.0**7,
    np.dtype(np.int16): 2.0**15,
    np.dtype(np.int32): 2.0**31,
}
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def to_mono_float(block: np.ndarray, input_dtype: np.dtype) -> np.ndarray:
    """Scale integers to [-1, 1) and average channels.

    ``block``: (frames,) or (frames, channels) of ``input_dtype``; ``uint8`` is offset binary.
    Returns (frames,) float32, a new array (never a view of ``block``).
    """
    if block.dtype != input_dtype:
        raise ValueError(f"block dtype {block.dtype} differs from the stream's {input_dtype}")
    if input_dtype == np.uint8:
        scaled = (block.astype(np.float32) - 128.0) / 128.0
    elif input_dtype in _INT_SCALE:
        scaled = block.astype(np.float32) / np.float32(_INT_SCALE[input_dtype])
    else:
        scaled = block.astype(np.float32, copy=True)
    if scaled.ndim == 1:
        return scaled
    if scaled.shape[1] == 1:
        return scaled[:, 0].copy()
    return scaled.mean(axis=1, dtype=np.float32)


class StreamConverter:
    """Converts a stream of native blocks to 16 kHz mono float32, block by block.

    Feed blocks in order with ``convert``; call ``flush`` once at the end of the stream to get
    the resampler's last delayed samples. Output of the whole stream has
    ``round(frames * 16000 / input_rate_hz)`` samples whatever the block sizes were.
    """

    def __init__(
        self,
        input_rate_hz: int,
        input_channels: int,
        input_dtype: np.dtype | type | str = np.float32,
        quality: str = RESAMPLE_QUALITY,
    ) -> None:
        dtype = np.dtype(input_dtype)
        if dtype not in _INT_SCALE and dtype not in _FLOAT_DTYPES and dtype != np.uint8:
            raise ValueError(f"unsupported sample type {dtype}; use int8/16/32, uint8 or float")
        if input_rate_hz <= 0 or input_channels <= 0:
            raise ValueError(f"bad stream shape: {input_rate_hz} Hz, {input_channels} channels")
        if quality not in ("HQ", "VHQ"):
            raise ValueError(f"resample quality {quality!r} not allowed; use HQ or VHQ")
        self.input_rate_hz = int(input_rate_hz)
        self.input_channels = int(input_channels)
        self.input_dtype = dtype
        self.quality = quality
        self._resampler = None
        self._flushed = False
        if self.input_rate_hz != SAMPLE_RATE_HZ:
            import soxr

            self._resampler = soxr.ResampleStream(
                self.input_rate_hz, SAMPLE_RATE_HZ, 1, dtype="float32", quality=quality
            )

    @property
    def needs_resampling(self) -> bool:
        return self._resampler is not None

    def to_mono(self, block: np.ndarray) -> np.ndarray:
        """Native (frames, channels) or (frames,) → (frames,) float32 at the native rate."""
        if block.ndim == 2 and block.shape[1] != self.input_channels:
            raise ValueError(
                f"block has {block.shape[1]} channels, stream has {self.input_channels}"
            )
        if block.ndim == 1 and self.input_channels != 1:
            raise ValueError(f"1-D block given to a {self.input_channels}-channel stream")
        return to_mono_float(block, self.input_dtype)

    def resample(self, mono: np.ndarray, last: bool = False) -> np.ndarray:
        """Native-rate (frames,) float32 → 16 kHz (samples,) float32, keeping filter state."""
        if self._flushed:
            raise ValueError("converter already flushed; make a new one for a new stream")
        if self._resampler is None:
            self._flushed = last
            return np.ascontiguousarray(mono, dtype=SAMPLE_DTYPE)
        out = self._resampler.resample_chunk(
            np.ascontiguousarray(mono, dtype=np.float32), last=last
        )
        self._flushed = last
        return np.asarray(out, dtype=SAMPLE_DTYPE)

    def convert(self, block: np.ndarray) -> np.ndarray:
        """One native block (frames, channels) → the 16 kHz (samples,) float32 it completes."""
        return self.resample(self.to_mono(block))

    def flush(self) -> np.ndarray:
        """End of stream: the samples still held in the resampler's delay line."""
        return self.resample(np.zeros(0, dtype=np.float32), last=True)


def convert_all(
    audio: np.ndarray, input_rate_hz: int, quality: str = RESAMPLE_QUALITY
) -> np.ndarray:
    """Whole-array conversion: (frames,) or (frames, channels) native → (samples,) 16 kHz."""
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    converter = StreamConverter(input_rate_hz, channels, audio.dtype, quality)
    return np.concatenate([converter.convert(audio), converter.flush()])
