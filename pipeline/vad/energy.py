"""Energy gate: the first and cheapest VAD tier.

A window whose RMS level is below the gate is clear silence; no further tier looks at it.
The level is also what the state machine uses to find the quietest point for a split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SILENCE_FLOOR_DBFS = -120.0  # level reported for an all-zero window (log of 0 is -inf)


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level of ``samples`` in dB relative to full scale (a full-scale square wave is 0 dBFS).

    ``samples``: float32 array of shape (n,), values in [-1, 1]. An empty or all-zero array
    gives ``SILENCE_FLOOR_DBFS``.
    """
    if samples.size == 0:
        return SILENCE_FLOOR_DBFS
    # float64 accumulation: float32 sums of squares lose precision on long windows.
    mean_square = float(np.dot(samples, samples)) / samples.size
    if mean_square <= 0.0:
        return SILENCE_FLOOR_DBFS
    return max(SILENCE_FLOOR_DBFS, 10.0 * math.log10(mean_square))


@dataclass(frozen=True)
class EnergyGate:
    """Passes windows at or above ``gate_dbfs``; everything quieter is silence."""

    gate_dbfs: float = -55.0  # RMS level below which a window is silence without further work

    def level_dbfs(self, window: np.ndarray) -> float:
        """RMS level of ``window`` (float32, shape (n,)) in dBFS."""
        return rms_dbfs(window)

    def passes(self, level_dbfs: float) -> bool:
        """True when a window of this level deserves a closer look by the next tier."""
        return level_dbfs >= self.gate_dbfs
