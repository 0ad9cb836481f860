"""Publishing finals: one per segment, in segment order per stream, numbered gap-free.

Segments of a stream are expected in the order they started. A segment whose final is ready
while an earlier one of its stream is still being transcribed is held until that one is
published. A prefix of a segment committed while it is still open (a "part") goes out before
the rest of its segment, behind the stream's earlier segments like the segment itself. ``seq`` numbers the finals of the daemon 1, 2, 3, ... in publish order across all
streams, so a subscriber that sees a gap knows it lost one (and can ask for a replay).

Latency is measured from the VAD's end decision (``SpeechEnded`` arriving) to publication; the
hangover the VAD waited before deciding comes on top and is not in it. A final also carries
where its time went, ``engine_ms`` and ``queue_wait_ms``, as the scheduler measured them
(``final_costs``); None when the outcome does not say.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from pipeline.audio_format import samples_to_seconds
from pipeline.messages.transcripts import TranscriptFinal
from pipeline.words import Word

logger = logging.getLogger(__name__)

FIRST_SEQ = 1  # seq of the daemon's first final; 0 stays free for "nothing seen yet"
LAST_TEXT_MAX_CHARS = 1000  # text kept of the committed parts of one segment (for prompts)


@dataclass(frozen=True, slots=True)
class SegmentOutcome:
    """A segment's finished transcription, waiting for its turn to be published."""

    stream_id: str
    segment_id: int
    start_index: int
    end_index: int
    ended_at_s: float  # scheduler time when the segment's SpeechEnded arrived
    words: tuple[Word, ...]  # stream seconds
    text: str
    failed: bool = False  # some of its audio could not be transcribed
    status: str = "ok"  # of the final: "ok", "audio_lost" or "failed"
    lost_start_index: int = 0  # the audio without words, when status is not "ok"
    lost_end_index: int = 0
    engine_ms: float | None = None  # backend time of its requests (``final_costs``)
    queue_wait_ms: float | None = None  # its work waiting for a worker after the end


class FinalOrder:
    """The per-stream order of open segments, the held finals and the daemon's seq counter."""

    def __init__(self, backend: str, model: str, first_seq: int = FIRST_SEQ) -> None:
        self.backend = backend
        self.model = model
        self.next_seq = first_seq
        self._expected: dict[str, deque[int]] = {}  # stream -> segment ids in start order
        self._ready: dict[tuple[str, int], SegmentOutcome | None] = {}  # finished, not yet
        # published (None: abandoned after parts of it were committed; nothing more to publish)
        self._parts: dict[tuple[str, int], list[SegmentOutcome]] = {}  # committed, held
        self._last_text: dict[str, str] = {}  # stream -> text of its last published final
        self._last_segment: dict[str, int] = {}  # stream -> segment of that final

    def expect(self, stream_id: str, segment_id: int) -> None:
        """A segment started: its final comes after those of the stream's earlier segments."""
        self._expected.setdefault(stream_id, deque()).append(segment_id)

    def abandon(self, stream_id: str, segment_id: int) -> None:
        """The stream's newest segment will get no final (dropped while still open).

        Only the newest can be: no final of its stream waits behind it, so none is released.
        Parts of it already committed and still held are published in their turn.
        """
        expected = self._expected.get(stream_id)
        if not expected or expected[-1] != segment_id:
            raise ValueError(f"{stream_id}/{segment_id} is not the stream's newest segment")
        if (stream_id, segment_id) in self._parts:
            self._ready[(stream_id, segment_id)] = None
            return
        expected.pop()
        if not expected:
            del self._expected[stream_id]

    def complete(self, outcome: SegmentOutcome, now_s: float) -> list[TranscriptFinal]:
        """Record a finished segment; return the finals of its stream that can go out now."""
        key = (outcome.stream_id, outcome.segment_id)
        expected = self._expected.get(outcome.stream_id)
        if expected is None or outcome.segment_id not in expected or key in self._ready:
            raise ValueError(f"segment {key} was not expected or is already complete")
        self._ready[key] = outcome
        return self._release(outcome.stream_id, now_s)

    def complete_part(self, outcome: SegmentOutcome, now_s: float) -> list[TranscriptFinal]:
        """Record a committed prefix of a segment still open (more finals of it follow);
        return the finals of its stream that can go out now."""
        key = (outcome.stream_id, outcome.segment_id)
        expected = self._expected.get(outcome.stream_id)
        if expected is None or outcome.segment_id not in expected or key in self._ready:
            raise ValueError(f"segment {key} is not open")
        self._parts.setdefault(key, []).append(outcome)
        return self._release(outcome.stream_id, now_s)

    def held(self) -> int:
        """Finals ready but waiting for an earlier segment of their stream."""
        finals = sum(1 for outcome in self._ready.values() if outcome is not None)
        return finals + sum(len(parts) for parts in self._parts.values())

    def pending(self, stream_id: str) -> int:
        """Segments of the stream started and not yet published."""
        return len(self._expected.get(stream_id, ()))

    def streams_pending(self) -> int:
        """Streams with a segment started and not yet published."""
        return len(self._expected)

    def forget_stream(self, stream_id: str) -> None:
        """A closed stream with nothing pending: drop what is kept about it (its last text)."""
        if self._expected.get(stream_id):
            raise ValueError(f"stream {stream_id} still has segments pending")
        self._expected.pop(stream_id, None)
        self._last_text.pop(stream_id, None)
        self._last_segment.pop(stream_id, None)

    def last_text(self, stream_id: str) -> str:
        """Text of the stream's last published final with text ("" before the first)."""
        return self._last_text.get(stream_id, "")

    def _release(self, stream_id: str, now_s: float) -> list[TranscriptFinal]:
        published = []
        expected = self._expected[stream_id]
        while expected:
            key = (stream_id, expected[0])
            published.extend(self._final(part, now_s) for part in self._parts.pop(key, ()))
            if key not in self._ready:
                break
            outcome = self._ready.pop(key)
            expected.popleft()
            if outcome is not None:
                published.append(self._final(outcome, now_s))
        if not expected:
            del self._expected[stream_id]
        return published

    def _final(self, outcome: SegmentOutcome, now_s: float) -> TranscriptFinal:
        final = TranscriptFinal(
            stream_id=outcome.stream_id,
            segment_id=outcome.segment_id,
            seq=self.next_seq,
            start_s=samples_to_seconds(outcome.start_index),
            end_s=samples_to_seconds(outcome.end_index),
            text=outcome.text,
            words=outcome.words,
            backend=self.backend,
            model=self.model,
            latency_ms=max(0.0, (now_s - outcome.ended_at_s) * 1000.0),
            status=outcome.status,
            lost_start_s=samples_to_seconds(outcome.lost_start_index),
            lost_end_s=samples_to_seconds(outcome.lost_end_index),
            engine_ms=_rounded(outcome.engine_ms),
            queue_wait_ms=_rounded(outcome.queue_wait_ms),
        )
        self.next_seq += 1
        if outcome.text:  # a silent segment does not erase the context of the one before
            stream_id, text = outcome.stream_id, outcome.text
            if self._last_segment.get(stream_id) == outcome.segment_id:  # parts of one segment
                text = f"{self._last_text[stream_id]} {text}"[-LAST_TEXT_MAX_CHARS:]
            self._last_text[stream_id] = text
            self._last_segment[stream_id] = outcome.segment_id
        logger.debug(
            "final seq %d: %s/%d, %d words, %.0f ms after its end",
            final.seq,
            final.stream_id,
            final.segment_id,
            len(final.words),
            final.latency_ms,
        )
        return final


def _rounded(value_ms: float | None) -> float | None:
    return None if value_ms is None else round(max(0.0, value_ms), 1)
