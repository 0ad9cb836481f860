"""The tiered detector: energy gate -> WebRTC VAD -> Silero VAD, cheapest first.

Per window, each tier either stops the window (non-speech, no later tier runs) or passes it on:

- the energy gate stops clear silence;
- WebRTC (when on) stops what its GMM calls non-speech;
- Silero, in ``confirm`` mode, runs only on windows WebRTC passed and has the last word;
  in ``always`` mode it judges every window the energy gate passes and WebRTC is not run;
  ``off`` leaves the last word to WebRTC.

CPU time per tier is measured with ``time.thread_time`` (the VAD runs on one thread).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipeline.vad.detector import SpeechDetector, TierStats, WindowVerdict
from pipeline.vad.energy import EnergyGate
from pipeline.vad.silero import CONTEXT_SAMPLES, SileroParams, SileroVad
from pipeline.vad.webrtc import WebRtcParams, WebRtcVad

if TYPE_CHECKING:
    from config.schema import VadConfig

logger = logging.getLogger(__name__)

SILERO_MODES = ("off", "confirm", "always")  # VadConfig.silero choices


@dataclass(frozen=True)
class TieredParams:
    energy_gate_dbfs: float = -55.0  # windows quieter than this are silence
    webrtc: bool = True  # run the WebRTC tier (ignored when silero is "always")
    webrtc_aggressiveness: int = 2  # WebRTC mode 0..3
    webrtc_frame_ms: int = 30  # WebRTC frame length: 10, 20 or 30
    silero: str = "confirm"  # "off", "confirm" or "always"
    silero_threshold: float = 0.5  # Silero probability that counts as speech
    silero_model_path: str = ""  # empty = the model packaged with silero-vad

    def __post_init__(self) -> None:
        if self.silero not in SILERO_MODES:
            raise ValueError(f"silero={self.silero!r}; allowed: {SILERO_MODES}")

    @classmethod
    def from_config(cls, config: VadConfig) -> TieredParams:
        return cls(
            energy_gate_dbfs=config.energy_gate_dbfs,
            webrtc=config.webrtc,
            webrtc_aggressiveness=config.webrtc_aggressiveness,
            webrtc_frame_ms=config.webrtc_frame_ms,
            silero=config.silero,
            silero_threshold=config.silero_threshold,
        )

    @property
    def uses_webrtc(self) -> bool:
        return self.webrtc and self.silero != "always"

    @property
    def uses_silero(self) -> bool:
        return self.silero != "off"


class _TierCounter:
    """Mutable counters of one tier (``TierStats`` is their frozen snapshot)."""

    __slots__ = ("cpu_s", "name", "seen", "stopped")

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen = 0
        self.stopped = 0
        self.cpu_s = 0.0

    def snapshot(self) -> TierStats:
        return TierStats(self.name, self.seen, self.stopped, self.cpu_s)

    def clear(self) -> None:
        self.seen = 0
        self.stopped = 0
        self.cpu_s = 0.0


class TieredDetector(SpeechDetector):
    """Energy gate, then WebRTC, then Silero, as ``TieredParams`` says."""

    def __init__(self, params: TieredParams) -> None:
        super().__init__()
        self.params = params
        self._gate = EnergyGate(params.energy_gate_dbfs)
        self._webrtc = (
            WebRtcVad(WebRtcParams(params.webrtc_aggressiveness, params.webrtc_frame_ms))
            if params.uses_webrtc
            else None
        )
        self._silero = (
            SileroVad(SileroParams(params.silero_threshold, params.silero_model_path))
            if params.uses_silero
            else None
        )
        if params.webrtc and params.silero == "always":
            logger.info("silero=always: the WebRTC tier is not run")
        if self._webrtc is None and self._silero is None:
            logger.warning("WebRTC and Silero are both off: the energy gate alone decides")
        self._energy_counter = _TierCounter("energy")
        self._webrtc_counter = _TierCounter("webrtc")
        self._silero_counter = _TierCounter("silero")
        self._counters = [self._energy_counter]
        if self._webrtc is not None:
            self._counters.append(self._webrtc_counter)
        if self._silero is not None:
            self._counters.append(self._silero_counter)

    @classmethod
    def from_config(cls, config: VadConfig) -> TieredDetector:
        return cls(TieredParams.from_config(config))

    def reset(self) -> None:
        if self._webrtc is not None:
            self._webrtc.reset()
        if self._silero is not None:
            self._silero.reset()

    def _tier_stats(self) -> tuple[TierStats, ...]:
        return tuple(c.snapshot() for c in self._counters)

    def _clear_tier_stats(self) -> None:
        for c in self._counters:
            c.clear()

    def _judge(self, context: np.ndarray, window_offset_samples: int) -> WindowVerdict:
        n = self.window_samples
        window = context[n:]

        counter = self._energy_counter
        t0 = time.thread_time()
        level_dbfs = self._gate.level_dbfs(window)
        counter.seen += 1
        counter.cpu_s += time.thread_time() - t0
        if not self._gate.passes(level_dbfs):
            counter.stopped += 1
            return WindowVerdict(False, 0.0, level_dbfs, "energy")

        probability = 1.0
        tier = "energy"
        if self._webrtc is not None:
            counter = self._webrtc_counter
            t0 = time.thread_time()
            probability = self._webrtc.speech_fraction(context, n, window_offset_samples - n)
            counter.seen += 1
            counter.cpu_s += time.thread_time() - t0
            tier = "webrtc"
            if probability <= 0.0:
                counter.stopped += 1
                return WindowVerdict(False, probability, level_dbfs, tier)

        if self._silero is not None:
            counter = self._silero_counter
            t0 = time.thread_time()
            probability = self._silero.probability(window, context[n - CONTEXT_SAMPLES : n])
            counter.seen += 1
            counter.cpu_s += time.thread_time() - t0
            tier = "silero"
            if not self._silero.is_speech(probability):
                counter.stopped += 1
                return WindowVerdict(False, probability, level_dbfs, tier)

        return WindowVerdict(True, probability, level_dbfs, tier)
