"""The one audio format inside streamscribe: 16 kHz mono float32 in [-1, 1].

Capture converts every source to this format once; everything downstream assumes it.
"""

import numpy as np

SAMPLE_RATE_HZ = 16_000  # samples per second of every ring and every backend input
SAMPLE_DTYPE = np.float32  # ring and backend sample type


def seconds_to_samples(duration_s: float) -> int:
    """Number of samples at ``SAMPLE_RATE_HZ`` in ``duration_s`` seconds (rounded)."""
    return round(duration_s * SAMPLE_RATE_HZ)


def samples_to_seconds(sample_count: int) -> float:
    """Duration in seconds of ``sample_count`` samples at ``SAMPLE_RATE_HZ``."""
    return sample_count / SAMPLE_RATE_HZ
