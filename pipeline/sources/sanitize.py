"""Make captured audio safe for everything downstream: finite, within [-1, 1], no DC offset.

Two steps, because NaN must never reach the resampler (one NaN would spread through its filter
state into every later sample):

- ``fix_nonfinite`` runs on native-rate mono audio before resampling: NaN and ±inf become 0.
- ``condition`` runs on the 16 kHz output: subtracts a slowly tracked DC offset (config
  ``remove_dc``) and clamps samples outside [-1, 1].

Every repair is counted; ``stats`` returns a frozen snapshot of the counters.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from pipeline.audio_format import SAMPLE_RATE_HZ

logger = logging.getLogger(__name__)

DC_TIME_CONSTANT_S = 2.0  # the DC tracker follows the input mean with this time constant
CLIP_LEVEL = 1.0  # samples beyond ±CLIP_LEVEL are clamped and counted


@dataclass(frozen=True)
class SanitizeStats:
    """Counters since the sanitizer was made."""

    samples_seen: int = 0  # 16 kHz samples through ``condition``
    nonfinite_samples: int = 0  # NaN or ±inf samples replaced by 0 (native rate)
    clipped_samples: int = 0  # samples with |x| > 1 clamped to ±1
    dc_offset: float = 0.0  # current DC estimate being subtracted (0 when remove_dc is off)


class Sanitizer:
    """Counts and repairs non-finite samples, clipping and DC offset in a stream of blocks."""

    def __init__(
        self,
        remove_dc: bool = True,
        dc_time_constant_s: float = DC_TIME_CONSTANT_S,
        sample_rate_hz: int = SAMPLE_RATE_HZ,
    ) -> None:
        if dc_time_constant_s <= 0:
            raise ValueError(f"dc_time_constant_s must be > 0, got {dc_time_constant_s}")
        self.remove_dc = remove_dc
        self._dc_time_constant_samples = dc_time_constant_s * sample_rate_hz
        self._dc_offset = 0.0
        self._samples_seen = 0
        self._nonfinite_samples = 0
        self._clipped_samples = 0

    def fix_nonfinite(self, block: np.ndarray) -> np.ndarray:
        """Replace NaN and ±inf by 0 in place and count them.

        ``block``: (samples,) float32, writable. Returns ``block``.
        """
        finite = np.isfinite(block)
        if not finite.all():
            bad_count = int(block.size - np.count_nonzero(finite))
            block[~finite] = 0.0
            self._nonfinite_samples += bad_count
            logger.debug("replaced %d non-finite samples", bad_count)
        return block

    def condition(self, block: np.ndarray) -> np.ndarray:
        """Remove DC (if enabled) and clamp to [-1, 1]; counts clipped samples.

        ``block``: (samples,) float32 at 16 kHz, finite. Returns a new (samples,) float32 array.
        The subtracted offset ramps linearly across the block from the previous estimate to the
        new one, so the correction has no steps at block boundaries.
        """
        out = np.array(block, dtype=np.float32, copy=True)
        count = out.size
        if count == 0:
            return out
        if self.remove_dc:
            previous = self._dc_offset
            alpha = 1.0 - math.exp(-count / self._dc_time_constant_samples)
            block_mean = float(np.mean(out, dtype=np.float64))
            updated = previous + alpha * (block_mean - previous)
            ramp = np.linspace(previous, updated, count, endpoint=False, dtype=np.float64)
            out -= ramp.astype(np.float32)
            self._dc_offset = updated
        over = np.abs(out) > CLIP_LEVEL
        if over.any():
            clipped = int(np.count_nonzero(over))
            self._clipped_samples += clipped
            np.clip(out, -CLIP_LEVEL, CLIP_LEVEL, out=out)
            logger.debug("clamped %d samples", clipped)
        self._samples_seen += count
        return out

    @property
    def stats(self) -> SanitizeStats:
        return SanitizeStats(
            samples_seen=self._samples_seen,
            nonfinite_samples=self._nonfinite_samples,
            clipped_samples=self._clipped_samples,
            dc_offset=self._dc_offset if self.remove_dc else 0.0,
        )
