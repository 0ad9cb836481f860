"""VAD events (vad → supervisor over PUSH/PULL): speech start, progress, pause, resume, end, and
statistics.

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
class SpeechPaused(Message):
    """Silence began inside the open segment at ``pause_index`` (its hangover runs): the segment
    may end here (a ``SpeechEnded`` follows) or go on (a ``SpeechResumed`` follows)."""

    kind: ClassVar[str] = "speech.paused"
    stream_id: str
    segment_id: Count
    start_index: SampleIndex
    pause_index: Annotated[int, Min(0), AtLeast("start_index")]  # where the silence begins
    decided_index: Annotated[int, Min(0), AtLeast("pause_index")]  # audio seen at the decision
    pause_number: Count = 0  # counts the pauses of the segment from 0
    confirm_index: Annotated[int, Min(0)] = 0  # tentative: confirmed here if the silence goes on

    @property
    def tentative(self) -> bool:
        """Sent at the shorter decode threshold (``vad.pause_decode_ms``); the confirmed pause
        follows if the silence goes on."""
        return self.confirm_index > 0


@register
@dataclass(frozen=True, slots=True)
class SpeechResumed(Message):
    """Speech came back after ``SpeechPaused`` number ``pause_number``; the segment goes on."""

    kind: ClassVar[str] = "speech.resumed"
    stream_id: str
    segment_id: Count
    start_index: SampleIndex
    resume_index: Annotated[int, Min(0), AtLeast("start_index")]
    pause_number: Count = 0


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
