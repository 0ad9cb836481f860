"""What the supervisor publishes on the ``transcript`` PUB socket; the topic is the ``kind``.

Times are seconds of the stream (sample index / sample rate). ``seq`` numbers the finals
gap-free, continuing across daemon restarts through the journal, so a subscriber can detect loss
and ask for a replay; ``run_id`` names the daemon run that made a message (new at every start), so
a seq that comes again from another run (a journal that was lost) is never taken for a duplicate.

Loss is visible: a final whose audio was overrun in the ring or given up carries ``status``
``audio_lost`` or ``failed`` and the lost range, and a stretch of audio that the VAD skipped is an
``event.gap``. A subscriber can tell silence (no final, no gap) from loss.

Fields added after the first release have defaults, so journal lines and frames written before
them still decode.
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
LostEndTime = Annotated[float, Min(0.0), AtLeast("lost_start_s")]

FINAL_STATUSES = ("ok", "audio_lost", "failed")
FinalStatus = Literal["ok", "audio_lost", "failed"]
GAP_REASONS = ("vad_resync", "vad_crash", "ring_overrun", "queue_full", "capture_error")


@register
@dataclass(frozen=True, slots=True)
class TranscriptFinal(Message):
    """The one final transcript of a segment (or of a committed part of one).

    ``status``: ``ok``; ``audio_lost`` when part or all of the audio was gone before it could be
    transcribed (overrun in the ring), ``text`` holding what was left; ``failed`` when the
    segment was given up (its requests kept failing), ``text`` empty. ``lost_start_s`` ..
    ``lost_end_s`` is the range that has no text for that reason (both 0 for ``ok``).

    ``engine_ms``: backend time of the requests answered for this final's audio (its chunks,
    early final or session feeds; for a part committed while speech goes on, also the partial
    whose answer committed it). ``queue_wait_ms``: how long, after the end-of-speech decision
    (where ``latency_ms`` starts), the final's work had no request at a worker while it was not
    complete: the wait for a free worker (0 for a part committed while speech goes on). Both
    None in finals written before they existed.
    """

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
    # end of speech (the VAD's decision) → publish; for a part committed while speech goes on,
    # its last audio heard by the scheduler → publish (at speaking pace, ``Segment.heard_at_s``)
    latency_ms: NonNegFloat
    run_id: str = ""  # the daemon run that published it ("" in lines older than run ids)
    status: FinalStatus = "ok"
    lost_start_s: NonNegFloat = 0.0
    lost_end_s: LostEndTime = 0.0
    # Where the time went (``pipeline.scheduling.final_costs``); None in lines older than them.
    engine_ms: NonNegFloat | None = None  # backend time of the requests that made it
    queue_wait_ms: NonNegFloat | None = None  # its work waiting for a worker after the end


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
    run_id: str = ""  # the daemon run that published it


@register
@dataclass(frozen=True, slots=True)
class GapEvent(Message):
    """Audio of a stream that was skipped without a transcript (published by the daemon).

    ``reason`` says why, one of ``GAP_REASONS``: ``vad_resync`` (the VAD fell behind the ring and
    jumped ahead), ``vad_crash`` (audio that crashed the VAD was skipped), ``ring_overrun``,
    ``queue_full`` (the oldest pending work was dropped), ``capture_error``. Other values may be
    added; a subscriber should show an unknown reason as it is.
    """

    kind: ClassVar[str] = "event.gap"
    stream_id: str
    start_s: NonNegFloat
    end_s: EndTime
    reason: str
    run_id: str = ""


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
