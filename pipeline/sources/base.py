"""What every audio source offers the capture worker: blocks, stats, events, close.

A source yields 16 kHz mono float32 blocks in [-1, 1] of ``block_duration_ms`` each (only the
last block of a finite stream may be shorter). The iterator ending is the end-of-stream signal.
"""

from __future__ import annotations

import collections
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

DEVICE_LOST = "device_lost"
DEVICE_RESTORED = "device_restored"
EVENT_KINDS: tuple[str, ...] = (DEVICE_LOST, DEVICE_RESTORED)


@dataclass(frozen=True)
class SourceEvent:
    """Something the capture worker should publish: a device lost or back."""

    kind: str  # DEVICE_LOST or DEVICE_RESTORED
    detail: str  # human-readable: device name and what happened
    wall_time_s: float  # time.time() when it happened
    sample_index: int  # 16 kHz samples emitted by the source when it happened


@dataclass(frozen=True)
class SourceStats:
    """A snapshot of a source's counters; fields that do not apply to a source stay 0."""

    blocks_emitted: int = 0  # blocks yielded so far
    samples_emitted: int = 0  # 16 kHz samples yielded so far
    native_rate_hz: int = 0  # rate the source delivers before conversion
    native_channels: int = 0  # channels the source delivers before down-mix
    nonfinite_samples: int = 0  # NaN/inf samples replaced by 0
    clipped_samples: int = 0  # samples clamped to ±1
    dc_offset: float = 0.0  # current subtracted DC estimate
    overflows: int = 0  # mic: callbacks flagged input_overflow by PortAudio
    dropped_blocks: int = 0  # mic: callback blocks dropped because the consumer lagged
    device_losses: int = 0  # mic: times the device was lost
    device_restores: int = 0  # mic: times it came back
    loops_completed: int = 0  # file: passes finished in loop mode
    truncated_bytes: int = 0  # stdin: bytes of an incomplete frame at end of stream


class AudioSource(ABC):
    """An open audio source. Use as a context manager or call ``close``."""

    def __init__(self) -> None:
        self._events: collections.deque[SourceEvent] = collections.deque(maxlen=1000)

    @property
    @abstractmethod
    def description(self) -> str:
        """What is being captured, for logs and status (e.g. ``file:/x.wav``)."""

    @abstractmethod
    def blocks(self) -> Iterator[np.ndarray]:
        """Yield (block_samples,) float32 blocks at 16 kHz until the stream ends or ``close``."""

    @property
    @abstractmethod
    def stats(self) -> SourceStats:
        """A frozen snapshot of the counters (safe to call from another thread)."""

    @abstractmethod
    def close(self) -> None:
        """Release the source; a ``blocks`` iterator running elsewhere ends soon after."""

    def _common_stats(self, **source_specific: int) -> SourceStats:
        """The counters every source keeps (emitted blocks, native format, sanitizer), plus its own.

        Subclasses set ``native_rate_hz``, ``native_channels``, ``_blocks_emitted``,
        ``_samples_emitted`` and ``_conditioner`` (a ``BlockConditioner``).
        """
        sanitize = self._conditioner.sanitizer.stats
        return SourceStats(
            blocks_emitted=self._blocks_emitted,
            samples_emitted=self._samples_emitted,
            native_rate_hz=self.native_rate_hz,
            native_channels=self.native_channels,
            nonfinite_samples=sanitize.nonfinite_samples,
            clipped_samples=sanitize.clipped_samples,
            dc_offset=sanitize.dc_offset,
            **source_specific,
        )

    def poll_events(self) -> list[SourceEvent]:
        """Events since the last call, oldest first (thread-safe)."""
        events: list[SourceEvent] = []
        while self._events:
            events.append(self._events.popleft())
        return events

    def _emit_event(self, kind: str, detail: str, sample_index: int) -> None:
        self._events.append(SourceEvent(kind, detail, time.time(), sample_index))

    def __enter__(self) -> AudioSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
