"""Capture-side messages: ring ticks, capture events, ring overruns, end of stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

from pipeline.messages.base import AtLeast, Message, Min, SampleIndex, register


@register
@dataclass(frozen=True, slots=True)
class AudioTick(Message):
    """The ring of ``stream_id`` now holds samples up to (not including) ``write_index``."""

    kind: ClassVar[str] = "audio.tick"
    stream_id: str
    write_index: SampleIndex
    sample_rate_hz: Annotated[int, Min(1)] | None = None


CaptureEventName = Literal[
    "started",  # the source is open and writing
    "device_lost",  # the input device vanished; capture retries
    "device_restored",  # a lost device (or its replacement) is writing again
    "overflow",  # the device's buffer overflowed: samples were dropped
    "source_ended",  # a file or stdin reached its end
    "push_client",  # a push client started sending
    "push_ended",  # a push client ended or timed out (its speech was closed)
    "push_gap",  # a push client's frames were lost or reordered
    "push_rejected",  # a push frame was rejected (garbage, wrong format, busy, oversize)
    "error",  # anything else, explained in detail
]


@register
@dataclass(frozen=True, slots=True)
class CaptureEvent(Message):
    """Something happened to the audio source of ``stream_id``."""

    kind: ClassVar[str] = "capture.event"
    stream_id: str
    event: CaptureEventName
    detail: str = ""
    write_index: SampleIndex = 0  # ring index at the time of the event
    # running totals since capture started, e.g. {"overflows": 2, "dropped_samples": 512}
    counts: dict[str, int] = field(default_factory=dict)


@register
@dataclass(frozen=True, slots=True)
class RingOverrunReport(Message):
    """A reader (``reader``: "vad", "asr-1", ...) lost audio: the writer overwrote it first."""

    kind: ClassVar[str] = "ring.overrun"
    stream_id: str
    reader: str
    requested_index: SampleIndex  # first sample the reader asked for
    oldest_index: Annotated[int, Min(0), AtLeast("requested_index")]  # oldest still in the ring
    write_index: Annotated[int, Min(0), AtLeast("oldest_index")]


@register
@dataclass(frozen=True, slots=True)
class EndOfStream(Message):
    """``stream_id`` has ended; no sample at or after ``final_index`` will ever be written."""

    kind: ClassVar[str] = "stream.end"
    stream_id: str
    final_index: SampleIndex
