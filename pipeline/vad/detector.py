"""The window detector contract: one verdict per 512-sample window, plus per-tier statistics.

``SpeechDetector`` is the base every detector subclasses (the tiered detector, and fakes in
tests): the streaming front (``stream_vad``) frames audio into windows and asks ``judge``
for a verdict; the state machine turns verdicts into segments. A detector holds per-stream
state (noise models, recurrent state) that ``reset`` clears.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

WINDOW_SAMPLES = 512  # samples per detector window at 16 kHz (32 ms): Silero's window


@dataclass(frozen=True)
class WindowVerdict:
    """What a detector says about one window."""

    is_speech: bool  # the window counts as speech
    probability: float  # speech probability in [0, 1] from the tier that decided
    level_dbfs: float  # RMS level of the window (every detector reports it: splits need it)
    tier: str  # name of the tier that decided ("energy", "webrtc", "silero", ...)


@dataclass(frozen=True)
class TierStats:
    """Counters of one tier since the last reset of the statistics."""

    name: str  # tier name
    windows_seen: int  # windows this tier looked at
    windows_stopped: int  # windows this tier called non-speech (no later tier saw them)
    cpu_s: float  # thread CPU seconds spent in this tier

    @property
    def stopped_fraction(self) -> float:
        """Share of the windows it saw that this tier stopped."""
        return self.windows_stopped / self.windows_seen if self.windows_seen else 0.0


@dataclass(frozen=True)
class DetectorStats:
    """A snapshot of a detector's counters."""

    windows: int = 0  # windows judged
    speech_windows: int = 0  # windows judged speech
    probability_sum: float = 0.0  # sum of the per-window speech probabilities
    tiers: tuple[TierStats, ...] = ()  # per tier, in pipeline order

    @property
    def mean_speech_probability(self) -> float:
        return self.probability_sum / self.windows if self.windows else 0.0

    @property
    def cpu_s(self) -> float:
        """CPU seconds of all tiers together."""
        return sum(t.cpu_s for t in self.tiers)

    def tier(self, name: str) -> TierStats | None:
        """The counters of tier ``name``, or None when this detector has no such tier."""
        return next((t for t in self.tiers if t.name == name), None)


class SpeechDetector(ABC):
    """Base of every window detector: ``judge`` one window at a time, ``reset`` per stream."""

    window_samples: int = WINDOW_SAMPLES

    def __init__(self) -> None:
        self._windows = 0
        self._speech_windows = 0
        self._probability_sum = 0.0

    @abstractmethod
    def _judge(self, context: np.ndarray, window_offset_samples: int) -> WindowVerdict:
        """Verdict on the current window, ``context[window_samples:]``.

        ``context``: float32, shape (2 * window_samples,): the previous window (zeros before
        the stream start) followed by the current one. ``window_offset_samples``: samples from
        the stream start to the current window's first sample (a multiple of window_samples).
        """

    def judge(self, context: np.ndarray, window_offset_samples: int) -> WindowVerdict:
        """Judge one window (see ``_judge`` for the arguments) and count it in the statistics."""
        verdict = self._judge(context, window_offset_samples)
        self._windows += 1
        self._speech_windows += verdict.is_speech
        self._probability_sum += verdict.probability
        return verdict

    def reset(self) -> None:
        """Forget per-stream state: a new stream starts. Statistics are kept."""
        return None

    def _tier_stats(self) -> tuple[TierStats, ...]:
        """Per-tier counters; detectors with tiers override this."""
        return ()

    def _clear_tier_stats(self) -> None:
        """Zero the per-tier counters; detectors with tiers override this."""
        return None

    def stats(self) -> DetectorStats:
        """Counters since construction or the last ``take_stats``."""
        return DetectorStats(
            windows=self._windows,
            speech_windows=self._speech_windows,
            probability_sum=self._probability_sum,
            tiers=self._tier_stats(),
        )

    def take_stats(self) -> DetectorStats:
        """Counters since the last call, then zero them (for periodic VadStats reports)."""
        snapshot = self.stats()
        self._windows = 0
        self._speech_windows = 0
        self._probability_sum = 0.0
        self._clear_tier_stats()
        return snapshot
