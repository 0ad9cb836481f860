"""VAD events (vad → supervisor over PUSH/PULL): speech start, progress, end, and statistics.

Indices are absolute ring sample indices of the stream; pre-roll and hangover are already in
them. ``segment_id`` counts segments of one stream from 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar

from pipeline.messages.base import (
    AtLeast,
    Count,
    Message,
    Min,
    NonNegFloat,
    Probability,
    SampleIndex,
    register,
)


@register
@dataclass(frozen=True, slots=True)
class SpeechStarted(Message):
    kind: ClassVar[str] = "speech.started"
    stream_id: str
    segment_id: Count
    start_index: SampleIndex


@register
@dataclass(frozen=True, slots=True)
class SpeechOngoing(Message):
    """Sent periodically while speech goes on, so partials can be scheduled."""

    kind: ClassVar[str] = "speech.ongoing"
    stream_id: str
    segment_id: Count
    start_index: SampleIndex
    current_index: Annotated[int, Min(0), AtLeast("start_index")]


@register
@dataclass(frozen=True, slots=True)
class SpeechEnded(Message):
    """The segment is ``[start_index, end_index)``."""

    kind: ClassVar[str] = "speech.ended"
    stream_id: str
    segment_id: Count
    start_index: SampleIndex
    end_index: Annotated[int, Min(0), AtLeast("start_index")]
    split: bool = False  # True: cut at the maximum segment duration while speech went on


@register
@dataclass(frozen=True, slots=True)
class VadStats(Message):
    """Detector statistics over the last ``interval_s`` seconds. Tiers: "energy", "webrtc", "silero"."""

    kind: ClassVar[str] = "vad.stats"
    stream_id: str
    interval_s: NonNegFloat
    windows: dict[str, int] = field(default_factory=dict)  # windows evaluated per tier
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds spent per tier
    segments: Count = 0  # segments ended in the interval
    mean_speech_probability: Probability = 0.0
