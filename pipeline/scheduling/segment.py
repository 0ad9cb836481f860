"""One segment as the scheduler core tracks it, from ``SpeechStarted`` until its final is out.

Only the lifecycle lives here: where the segment starts, the newest audio known to belong to it,
where it ended, and what its published partials looked like. The state of the work done for it
(chunks and their results, a streaming session, the partials' agreement) belongs to the work
kinds (``work_kind``), each in its own table. A segment is forgotten as soon as its final is
published.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pipeline.audio_format import samples_to_seconds
from pipeline.messages.transcripts import TranscriptPartial
from pipeline.scheduling.final_order import SegmentOutcome
from pipeline.words import Word

SegmentKey = tuple[str, int]  # (stream id, segment id)


@dataclass(eq=False, slots=True)
class Segment:
    stream_id: str
    segment_id: int
    order: int  # start order across all streams: lower is older, served first
    ring_name: str
    start_index: int  # first sample not yet published (absolute ring index)
    newest_index: int  # newest audio known to belong to it (SpeechOngoing / SpeechEnded)
    newest_at_s: float | None = None  # scheduler time when newest_index last grew (``heard``)
    opened_at_s: float | None = None  # scheduler time of the first ``heard``
    end_index: int | None = None  # one past the last sample; None while speech goes on
    ended_at_s: float = 0.0  # scheduler time when SpeechEnded arrived
    partial_revision: int = 0  # partials published (the next one's revision)
    last_partial_text: tuple[str, str] = ("", "")  # (stable, unstable) last published
    parts_committed: int = 0  # prefixes published as finals of their own while it was open
    failed: bool = False  # some of its audio could not be transcribed
    lost_status: str = "ok"  # "audio_lost" (overrun in the ring) or "failed" (given up)
    lost_start_index: int | None = None  # the audio without words (None: nothing lost) ...
    lost_end_index: int | None = None  # ... up to here (None: to the segment's end)
    complete: bool = False  # its outcome went to the final order

    @property
    def key(self) -> SegmentKey:
        return (self.stream_id, self.segment_id)

    @property
    def is_open(self) -> bool:
        return self.end_index is None

    @property
    def audio_samples(self) -> int:
        return self.newest_index - self.start_index

    def heard(self, index: int, now_s: float) -> None:
        """Audio up to ``index`` belongs to it, as known at scheduler time ``now_s``."""
        if self.opened_at_s is None:
            self.opened_at_s = now_s
        if index > self.newest_index or self.newest_at_s is None:
            self.newest_index = max(self.newest_index, index)
            self.newest_at_s = now_s

    def heard_at_s(self, index: int, now_s: float) -> float:
        """When the audio at ``index`` reached the scheduler's knowledge: the newest audio's
        arrival less the audio after ``index`` at speaking pace, not before the segment opened
        (a file played fast delivers faster) nor after ``now_s``; ``now_s`` when nothing was
        heard (where a committed part's ``latency_ms`` starts)."""
        if self.newest_at_s is None:
            return now_s
        behind_s = samples_to_seconds(max(0, self.newest_index - index))
        earliest_s = self.newest_at_s if self.opened_at_s is None else self.opened_at_s
        return min(now_s, max(earliest_s, self.newest_at_s - behind_s))

    def end(self, end_index: int, now_s: float) -> None:
        """Speech ended at ``end_index`` (never before the segment's start)."""
        self.end_index = max(end_index, self.start_index)
        self.newest_index = self.end_index
        self.ended_at_s = now_s

    def next_partial(
        self, stable: str, unstable: str, end_index: int, backend: str, model: str
    ) -> TranscriptPartial:
        """Its next partial (the revision counts up) over ``[start_index, end_index)``."""
        partial = TranscriptPartial(
            stream_id=self.stream_id,
            segment_id=self.segment_id,
            revision=self.partial_revision,
            start_s=samples_to_seconds(self.start_index),
            end_s=samples_to_seconds(max(end_index, self.start_index)),
            stable=stable,
            unstable=unstable,
            backend=backend,
            model=model,
        )
        self.partial_revision += 1
        self.last_partial_text = (stable, unstable)
        return partial

    def lose(self, start_index: int, end_index: int | None, status: str) -> None:
        """Audio ``[start_index, end_index)`` of it gets no words (``end_index`` None: to its
        end); ``status`` "audio_lost" (the audio was gone) wins over "failed" (given up)."""
        self.failed = True
        if self.lost_status != "audio_lost":
            self.lost_status = status
        if self.lost_start_index is None:
            self.lost_start_index, self.lost_end_index = start_index, end_index
            return
        self.lost_start_index = min(self.lost_start_index, start_index)
        if self.lost_end_index is not None:  # None (to the end) stays None
            self.lost_end_index = None if end_index is None else max(self.lost_end_index, end_index)

    def outcome(
        self, end_index: int, ended_at_s: float, words: tuple[Word, ...], text: str
    ) -> SegmentOutcome:
        """Its audio from ``start_index`` to ``end_index`` as transcribed, for the final order,
        with the part of it that was lost (if any)."""
        status, lost_start, lost_end = "ok", 0, 0
        if self.lost_start_index is not None:
            lost_start = max(self.lost_start_index, self.start_index)
            lost_end = min(end_index, self.lost_end_index or end_index)
            if lost_start < lost_end:
                status = self.lost_status
            else:
                lost_start = lost_end = 0
        return SegmentOutcome(
            self.stream_id,
            self.segment_id,
            self.start_index,
            end_index,
            ended_at_s,
            words,
            text,
            self.failed,
            status,
            lost_start,
            lost_end,
        )


class SegmentTable:
    """The segments not yet published: at most one open per stream, the highest segment id
    each stream has used (ids must increase), and the start order across streams."""

    def __init__(self, rings: Mapping[str, str]) -> None:
        self._rings = dict(rings)  # stream id -> ring name
        self._segments: dict[SegmentKey, Segment] = {}  # started, final not yet out
        self._open: dict[str, SegmentKey] = {}  # stream -> its segment in speech
        self._last_segment_id: dict[str, int] = {}  # stream -> highest segment id seen
        self._next_order = 0

    def add_stream(self, stream_id: str, ring_name: str) -> None:
        self._rings[stream_id] = ring_name

    def refusal(self, stream_id: str, segment_id: int) -> str:
        """Why a new segment ``segment_id`` of the stream is refused ("" when it is not)."""
        if stream_id not in self._rings:
            return f"unknown stream {stream_id!r}"
        last = self._last_segment_id.get(stream_id)
        if last is not None and segment_id <= last:
            return f"segment ids of {stream_id} are past {last} (stale event)"
        return ""

    def begin(self, stream_id: str, segment_id: int, start_index: int) -> Segment:
        """Open a new segment (the stream has none open)."""
        assert stream_id not in self._open
        segment = Segment(
            stream_id=stream_id,
            segment_id=segment_id,
            order=self._next_order,
            ring_name=self._rings[stream_id],
            start_index=start_index,
            newest_index=start_index,
        )
        self._next_order += 1
        self._last_segment_id[stream_id] = segment_id
        self._segments[segment.key] = segment
        self._open[stream_id] = segment.key
        return segment

    def remove_stream(self, stream_id: str) -> None:
        """Forget a closed stream (it has no segment left): later events of it are refused."""
        if any(segment.stream_id == stream_id for segment in self._segments.values()):
            raise ValueError(f"stream {stream_id} still has segments")
        self._rings.pop(stream_id, None)
        self._open.pop(stream_id, None)
        self._last_segment_id.pop(stream_id, None)

    def get(self, key: SegmentKey) -> Segment | None:
        return self._segments.get(key)

    def open_segment(self, stream_id: str) -> Segment | None:
        key = self._open.get(stream_id)
        return self._segments[key] if key is not None else None

    def open_segments(self) -> Iterator[Segment]:
        return (self._segments[key] for key in self._open.values())

    def close(self, segment: Segment) -> None:
        """Speech of ``segment`` ended: it is no longer its stream's open segment."""
        if self._open.get(segment.stream_id) == segment.key:
            del self._open[segment.stream_id]

    def remove(self, segment: Segment) -> None:
        """Forget ``segment`` (published, or abandoned while open)."""
        self.close(segment)
        del self._segments[segment.key]

    def __iter__(self) -> Iterator[Segment]:
        return iter(self._segments.values())

    def __len__(self) -> int:
        return len(self._segments)

    def sizes(self) -> dict[str, int]:
        return {
            "segments": len(self._segments),
            "open": len(self._open),
            "streams_known": len(self._last_segment_id),
        }
