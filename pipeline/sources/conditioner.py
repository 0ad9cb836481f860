"""The per-source audio chain: native blocks in, fixed-size clean 16 kHz blocks out.

native (frames, channels) → mono float → NaN/inf repaired → resampled to 16 kHz
→ cut into ``block_samples`` blocks → DC removed and clipping clamped.
"""

from __future__ import annotations

import numpy as np

from pipeline.audio_format import SAMPLE_DTYPE, SAMPLE_RATE_HZ
from pipeline.sources.resample import RESAMPLE_QUALITY, StreamConverter
from pipeline.sources.sanitize import Sanitizer


def block_samples_for(block_duration_ms: int) -> int:
    """16 kHz samples in one block of ``block_duration_ms``."""
    if block_duration_ms <= 0:
        raise ValueError(f"block_duration_ms must be > 0, got {block_duration_ms}")
    return max(1, round(block_duration_ms * SAMPLE_RATE_HZ / 1000))


class BlockConditioner:
    """Converts a native stream into fixed-size, sanitized 16 kHz blocks."""

    def __init__(
        self,
        input_rate_hz: int,
        input_channels: int,
        input_dtype: np.dtype | type | str,
        block_samples: int,
        remove_dc: bool = True,
        quality: str = RESAMPLE_QUALITY,
    ) -> None:
        self.block_samples = block_samples
        self.quality = quality
        self.sanitizer = Sanitizer(remove_dc=remove_dc)
        self.converter = StreamConverter(input_rate_hz, input_channels, input_dtype, quality)
        self._pending = np.zeros(0, dtype=SAMPLE_DTYPE)

    def push(self, native_block: np.ndarray) -> list[np.ndarray]:
        """Feed one native block (frames, channels); returns the complete 16 kHz blocks."""
        mono = self.sanitizer.fix_nonfinite(self.converter.to_mono(native_block))
        return self._reblock(self.converter.resample(mono), final=False)

    def finish(self) -> list[np.ndarray]:
        """End of stream: flush the resampler; the last block may be shorter."""
        return self._reblock(self.converter.flush(), final=True)

    def switch_input(
        self, input_rate_hz: int, input_channels: int, input_dtype: np.dtype
    ) -> list[np.ndarray]:
        """A new native stream continues this one (e.g. a reopened device).

        Flushes the old resampler into the pending samples and starts a new one; the DC tracker
        and the block cut continue. Returns the complete blocks the flush produced.
        """
        tail = self.converter.flush()
        self.converter = StreamConverter(input_rate_hz, input_channels, input_dtype, self.quality)
        return self._reblock(tail, final=False)

    def _reblock(self, samples: np.ndarray, final: bool) -> list[np.ndarray]:
        if samples.size:
            self._pending = np.concatenate([self._pending, samples])
        size = self.block_samples
        full_count = self._pending.size // size
        blocks = [
            self.sanitizer.condition(self._pending[i * size : (i + 1) * size])
            for i in range(full_count)
        ]
        self._pending = self._pending[full_count * size :].copy()
        if final and self._pending.size:
            blocks.append(self.sanitizer.condition(self._pending))
            self._pending = np.zeros(0, dtype=SAMPLE_DTYPE)
        return blocks
