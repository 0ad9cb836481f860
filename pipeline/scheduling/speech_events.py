"""Speech events in: the segments' lifecycle as the VAD drives it, and the bound on what waits.

A mixin of ``scheduler.SegmentScheduler`` (which owns the tables: segments, final order, stats,
the kinds of work, and completion). The VAD's events open a segment (``speech_started``), move
its newest audio on (``speech_ongoing``), pass pauses inside it to the kinds of work
(``speech_paused`` / ``speech_resumed``) and end it (``speech_ended``, or ``end_open_segment``
when the stream stops), which queues its final work. An event for an older or unknown segment id
is stale and ignored (``stats.events_ignored``); a start while a segment is open, or a restarted
VAD (``vad_restarted``), abandons the open segment without a final.

Bounded queues: an ended segment whose final work no worker takes is given up rather than kept
forever, when more than ``max_pending_segments`` of its stream wait, or when the stream's ring no
longer holds audio its work needs (``drop_before``). Its final says ``audio_lost`` over the
segment, after a ``GapEvent`` (``queue_full``) over the dropped range.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pipeline.audio_format import samples_to_seconds
from pipeline.messages.base import Message
from pipeline.messages.speech import (
    SpeechEnded,
    SpeechOngoing,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
)
from pipeline.messages.transcripts import GapEvent, SpeechEvent
from pipeline.scheduling.segment import Segment, SegmentTable

if TYPE_CHECKING:
    from pipeline.messages.transcripts import TranscriptFinal
    from pipeline.scheduling.final_order import FinalOrder
    from pipeline.scheduling.stats import SchedulerStats
    from pipeline.scheduling.work_kind import WorkKind

logger = logging.getLogger(__name__)

# the VAD's messages a scheduler takes (``SpeechEvents.speech_event``)
SPEECH_MESSAGES = (SpeechStarted, SpeechOngoing, SpeechPaused, SpeechResumed, SpeechEnded)


class SpeechEvents:
    """The VAD's events and dropped segments for ``SegmentScheduler``; the tables and the
    completion below are the scheduler's own."""

    _kinds: tuple[WorkKind, ...]
    _segments: SegmentTable
    _order: FinalOrder
    _stats: SchedulerStats
    _max_pending_segments: int

    def complete_if_done(self, segment: Segment, now_s: float) -> list[Message]:
        raise NotImplementedError

    def _forget(self, segment: Segment) -> None:
        raise NotImplementedError

    def _published(self, finals: list[TranscriptFinal]) -> list[Message]:
        raise NotImplementedError

    # ---- speech events --------------------------------------------------------------------

    def speech_event(
        self,
        message: SpeechStarted | SpeechOngoing | SpeechPaused | SpeechResumed | SpeechEnded,
        now_s: float,
    ) -> list[Message]:
        """Any of the VAD's ``SPEECH_MESSAGES``, handed to its handler below."""
        match message:
            case SpeechStarted():
                return self.speech_started(message, now_s)
            case SpeechOngoing():
                return self.speech_ongoing(message, now_s)
            case SpeechPaused():
                return self.speech_paused(message, now_s)
            case SpeechResumed():
                return self.speech_resumed(message, now_s)
            case SpeechEnded():
                return self.speech_ended(message, now_s)
        raise TypeError(f"not a speech message: {type(message).__name__}")

    def speech_started(self, message: SpeechStarted, now_s: float) -> list[Message]:
        """A segment begins: returns its ``SpeechEvent("started")``."""
        stream_id = message.stream_id
        if not self._accepts_new(stream_id, message.segment_id, message.kind):
            return []
        if (open_segment := self._segments.open_segment(stream_id)) is not None:
            logger.warning(
                "%s: segment %d started while %d is open; dropping the open one",
                stream_id,
                message.segment_id,
                open_segment.segment_id,
            )
            self._abandon(stream_id)
        self._begin(stream_id, message.segment_id, message.start_index).heard(
            message.start_index, now_s
        )
        return [SpeechEvent(stream_id, message.segment_id, "started", _s(message.start_index))]

    def speech_ongoing(self, message: SpeechOngoing, now_s: float) -> list[Message]:
        """Speech goes on: remember the newest audio (for partials or the session's feed)."""
        segment = self._open_segment(message.stream_id, message.segment_id, message.kind)
        if segment is not None:
            segment.heard(message.current_index, now_s)
        return []

    def speech_paused(self, message: SpeechPaused, now_s: float) -> list[Message]:
        """Silence began inside the open segment (the VAD's hangover runs): the kinds may
        decode its final early or commit a complete sentence; returns what to publish."""
        segment = self._open_segment(message.stream_id, message.segment_id, message.kind)
        if segment is None:
            return []
        segment.heard(message.decided_index, now_s)
        out: list[Message] = []
        for kind in self._kinds:
            out.extend(
                kind.paused(
                    segment,
                    message.pause_index,
                    message.decided_index,
                    message.pause_number,
                    now_s,
                    confirm_index=message.confirm_index if message.tentative else None,
                )
            )
        return out

    def speech_resumed(self, message: SpeechResumed, now_s: float) -> list[Message]:
        """Speech came back after a pause inside the open segment."""
        segment = self._open_segment(message.stream_id, message.segment_id, message.kind)
        if segment is None:
            return []
        segment.heard(message.resume_index, now_s)
        out: list[Message] = []
        for kind in self._kinds:
            out.extend(
                kind.resumed(
                    segment, message.pause_number, now_s, resume_index=message.resume_index
                )
            )
        return out

    def speech_ended(self, message: SpeechEnded, now_s: float) -> list[Message]:
        """A segment is complete: queue its final work; returns ``SpeechEvent("ended")`` (and
        its final at once when it holds no audio and nothing is ahead of it)."""
        stream_id = message.stream_id
        out: list[Message] = []
        segment = self._segments.get((stream_id, message.segment_id))
        if segment is None or not segment.is_open:
            # An end whose start was missed opens and ends the segment at once.
            if not self._accepts_new(stream_id, message.segment_id, message.kind):
                return []
            self._abandon(stream_id)
            segment = self._begin(stream_id, message.segment_id, message.start_index)
            out.append(
                SpeechEvent(stream_id, segment.segment_id, "started", _s(segment.start_index))
            )
        self._segments.close(segment)
        segment.end(message.end_index, now_s)
        out.append(SpeechEvent(stream_id, segment.segment_id, "ended", _s(segment.end_index or 0)))
        for kind in self._kinds:
            kind.ended(segment, now_s)
        out.extend(self.complete_if_done(segment, now_s))
        waiting = [s for s in self._segments if s.stream_id == stream_id and not s.is_open]
        if len(waiting) > self._max_pending_segments:  # nothing takes the work: oldest goes
            waiting.sort(key=lambda s: s.order)
            out.extend(self._drop(waiting[: len(waiting) - self._max_pending_segments], now_s))
        return out

    def end_open_segment(self, stream_id: str, end_index: int, now_s: float) -> list[Message]:
        """The stream stops (shutdown, ``stream.close``): its open segment, if any, ends at
        ``end_index`` (where the VAD had read; never before the newest audio known to belong to
        it) and gets its final like any other. The scheduler is the one owner of the open
        segment, so the end carries its real id. Returns what to publish."""
        segment = self._segments.open_segment(stream_id)
        if segment is None:
            return []
        ended = SpeechEnded(
            stream_id=stream_id,
            segment_id=segment.segment_id,
            start_index=segment.start_index,
            end_index=max(end_index, segment.newest_index, segment.start_index),
        )
        return self.speech_ended(ended, now_s)

    def vad_restarted(self, stream_id: str) -> None:
        """The stream's VAD was restarted: its open segment is dropped without a final (the new
        VAD detects that audio again under a new segment id)."""
        self._abandon(stream_id)

    # ---- segments given up: bounded queues ------------------------------------------------

    def drop_before(self, stream_id: str, oldest_index: int, now_s: float) -> list[Message]:
        """The stream's ring holds nothing before ``oldest_index`` any more (a live source wrote
        on while no worker took the work): every ended segment whose pending work needs audio
        before it is given up now. Returns what to publish: a ``GapEvent`` (``queue_full``) over
        the dropped range, then the finals that go out (``audio_lost`` over each dropped
        segment), so the queues of a stream nothing serves stay bounded by its ring."""
        overrun = [
            segment
            for segment in self._segments
            if segment.stream_id == stream_id
            and not segment.is_open
            and not segment.complete
            and any(
                (index := kind.needed_index(segment)) is not None and index < oldest_index
                for kind in self._kinds
            )
        ]
        return self._drop(sorted(overrun, key=lambda s: s.order), now_s) if overrun else []

    def _drop(self, segments: list[Segment], now_s: float) -> list[Message]:
        """Give up ended ``segments`` of one stream (oldest first): their queued work is
        forgotten, a late reply is dropped, each final says ``audio_lost`` over the segment."""
        first, last = segments[0], segments[-1]
        gap = GapEvent(
            first.stream_id, _s(first.start_index), _s(last.end_index or 0), "queue_full"
        )
        logger.warning(
            "%s: %d pending segments dropped (%.1f-%.1f s): no worker took them in time",
            first.stream_id,
            len(segments),
            gap.start_s,
            gap.end_s,
        )
        out: list[Message] = [gap]
        for segment in segments:
            assert segment.end_index is not None
            segment.lose(segment.start_index, None, "audio_lost")
            segment.complete = True
            self._forget(segment)
            outcome = segment.outcome(segment.end_index, segment.ended_at_s, (), "")
            self._stats.segments_dropped += 1
            self._stats.finals_failed += 1
            self._stats.finals_empty += 1
            out.extend(self._published(self._order.complete(outcome, now_s)))
        return out

    # ---- segments -------------------------------------------------------------------------

    def _accepts_new(self, stream_id: str, segment_id: int, kind: str) -> bool:
        refusal = self._segments.refusal(stream_id, segment_id)
        if refusal:
            logger.warning("%s of %s/%d ignored: %s", kind, stream_id, segment_id, refusal)
            self._stats.events_ignored += 1
        return not refusal

    def _begin(self, stream_id: str, segment_id: int, start_index: int) -> Segment:
        segment = self._segments.begin(stream_id, segment_id, start_index)
        self._order.expect(stream_id, segment_id)
        self._stats.segments_started += 1
        for kind in self._kinds:
            kind.began(segment)
        return segment

    def _open_segment(self, stream_id: str, segment_id: int, kind: str) -> Segment | None:
        segment = self._segments.open_segment(stream_id)
        if segment is None or segment.segment_id != segment_id:
            logger.debug("%s of %s/%d: no such open segment; ignored", kind, stream_id, segment_id)
            self._stats.events_ignored += 1
            return None
        return segment

    def _abandon(self, stream_id: str) -> None:
        """Drop the stream's open segment, if any, without a final."""
        segment = self._segments.open_segment(stream_id)
        if segment is None:
            return
        self._forget(segment)
        self._order.abandon(*segment.key)
        self._stats.segments_abandoned += 1
        logger.info("%s/%d abandoned while open: no final", *segment.key)


def _s(index: int) -> float:
    """Stream seconds of a ring index."""
    return samples_to_seconds(index)
