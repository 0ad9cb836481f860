"""What the supervisor publishes on the ``transcript`` PUB socket; the topic is the ``kind``.

Times are seconds of the stream (sample index / sample rate). ``seq`` numbers the finals of one
daemon gap-free from 0, so a subscriber can detect loss and ask for a replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from pipeline.messages.base import (
    AtLeast,
    Count,
    Message,
    Min,
    NonNegFloat,
    Payload,
    register,
)
from pipeline.words import Word

EndTime = Annotated[float, Min(0.0), AtLeast("start_s")]


@register
@dataclass(frozen=True, slots=True)
class TranscriptFinal(Message):
    """The one final transcript of a segment."""

    kind: ClassVar[str] = "transcript.final"
    stream_id: str
    segment_id: Count
    seq: Count
    start_s: NonNegFloat
    end_s: EndTime
    text: str
    words: tuple[Word, ...]  # times in stream seconds
    backend: str
    model: str
    latency_ms: NonNegFloat  # end of speech → publish


@register
@dataclass(frozen=True, slots=True)
class TranscriptPartial(Message):
    """A hypothesis for a segment still in speech: ``stable`` will not change, ``unstable`` may."""

    kind: ClassVar[str] = "transcript.partial"
    stream_id: str
    segment_id: Count
    revision: Count  # counts the partials of one segment from 0
    start_s: NonNegFloat
    end_s: EndTime
    stable: str
    unstable: str
    backend: str = ""
    model: str = ""


@register
@dataclass(frozen=True, slots=True)
class SpeechEvent(Message):
    """Speech started or ended on a stream (for captioning UIs and meters)."""

    kind: ClassVar[str] = "event.speech"
    stream_id: str
    segment_id: Count
    event: Literal["started", "ended"]
    time_s: NonNegFloat


@register
@dataclass(frozen=True, slots=True)
class Metrics(Message):
    """A periodic snapshot of the daemon's counters and gauges."""

    kind: ClassVar[str] = "metrics"
    time_unix_s: NonNegFloat
    values: Payload
