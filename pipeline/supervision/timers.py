"""Honest timers: how long a child may stay silent, and how long a request may take.

Pure logic; the supervisor and the worker pool hold one of each per child and ask them.

Silence: a child that has not yet been heard from since it (re)started is loading (a model, a
device, the ONNX VAD) and gets ``startup_timeout_s``; once heard from, ``heartbeat_timeout_s``.
Every start counts, restarts included: what was heard from a dead predecessor says nothing.

Requests: a backend's cost does not follow the audio length. Whisper pays a whole encoder window
(30 s of audio) for a 0.5 s request; a slow engine (MLX without OpenBLAS) or a larger model
takes many times longer per window than the embedded tiny.en with OpenBLAS. So the limit starts
from the audio the backend bills (whole windows), and once the worker has answered enough
requests it follows the worker's own measured cost: the 95th percentile of seconds per billed
second, times the billed length of this request, times ``measured_factor``, plus ``margin_s``.
It never falls below ``floor_s``, and before measurements it is the generous
``factor × billed + margin_s``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


def silence_limit_s(
    heard_since_start: bool, heartbeat_timeout_s: float, startup_timeout_s: float
) -> float:
    """How long a child may be silent: the start-up grace until its first sign of life."""
    if heard_since_start:
        return heartbeat_timeout_s
    return max(heartbeat_timeout_s, startup_timeout_s)


@dataclass(frozen=True)
class HangLimitOptions:
    factor: float = 10.0  # before measurements: × billed audio seconds (inference_timeout_factor)
    margin_s: float = 10.0  # added to every limit (scheduling, a page-in, a collection)
    window_s: float = (
        0.0  # audio a request pays at least, in whole windows (Whisper: 30 s); 0: none
    )
    measured_factor: float = 3.0  # × the measured p95 cost once there are enough samples
    min_samples: int = 5  # answered requests before the measured cost is trusted
    history: int = 50  # answered requests kept for the percentile
    floor_s: float = 5.0  # never less than this


class RequestTimer:
    """One worker's request costs, and the hang limit they imply (see the module)."""

    def __init__(self, options: HangLimitOptions) -> None:
        self.options = options
        self._seconds_per_billed_s: deque[float] = deque(maxlen=options.history)

    def billed_s(self, audio_s: float) -> float:
        """Audio seconds the backend pays for a request of ``audio_s`` seconds."""
        window_s = self.options.window_s
        if window_s <= 0:
            return max(audio_s, 0.0)
        return window_s * max(1, math.ceil(audio_s / window_s - 1e-9))

    def record(self, elapsed_s: float, audio_s: float) -> None:
        """A request of ``audio_s`` seconds was answered after ``elapsed_s``."""
        billed_s = self.billed_s(audio_s)
        if billed_s > 0 and elapsed_s >= 0:
            self._seconds_per_billed_s.append(elapsed_s / billed_s)

    def p95_seconds_per_billed_s(self) -> float | None:
        if len(self._seconds_per_billed_s) < self.options.min_samples:
            return None
        ordered = sorted(self._seconds_per_billed_s)
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]

    def limit_s(self, audio_s: float) -> float:
        """How long a request of ``audio_s`` seconds may run before the worker counts as hung."""
        billed_s = self.billed_s(audio_s)
        p95 = self.p95_seconds_per_billed_s()
        if p95 is None:
            limit_s = self.options.factor * billed_s + self.options.margin_s
        else:
            limit_s = self.options.measured_factor * p95 * billed_s + self.options.margin_s
        return max(self.options.floor_s, limit_s)


def billed_window_s(backend: str) -> float:
    """Audio a request of ``backend`` pays at least before anything is measured: Whisper's
    encoder window (a shorter encoder context shows up in the measured cost), else none."""
    if backend == "whisper":
        from pipeline.backends.whisper.features import CHUNK_LENGTH_S

        return float(CHUNK_LENGTH_S)
    return 0.0
