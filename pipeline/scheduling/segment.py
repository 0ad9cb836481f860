"""One segment as the scheduler tracks it, from ``SpeechStarted`` until its final is published.

While open it collects the newest audio index (for partials, or for feeding its streaming
session); at its end it is cut into chunks whose results come back in any order. A segment is
forgotten as soon as its final is published.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.chunking import Chunk, ChunkingOptions, plan_chunks
from pipeline.local_agreement import LocalAgreement
from pipeline.scheduling.final_words import ChunkResult
from pipeline.scheduling.stream_session import StreamSession

SegmentKey = tuple[str, int]  # (stream id, segment id)


@dataclass(eq=False, slots=True)
class Segment:
    stream_id: str
    segment_id: int
    order: int  # start order across all streams: lower is older, served first
    ring_name: str
    start_index: int  # first sample (absolute ring index)
    newest_index: int  # newest audio known to belong to it (SpeechOngoing / SpeechEnded)
    end_index: int | None = None  # one past the last sample; None while speech goes on
    ended_at_s: float = 0.0  # scheduler time when SpeechEnded arrived
    # ---- final work (request mode) ----
    chunks: tuple[Chunk, ...] = ()
    results: dict[int, ChunkResult] = field(default_factory=dict)  # chunk index -> result
    failed_chunks: set[int] = field(default_factory=set)  # given up: their audio is missing
    attempts: dict[int, int] = field(default_factory=dict)  # chunk index -> sends so far
    # ---- partials (request mode) ----
    agreement: LocalAgreement | None = None
    partial_serial: int = 0  # partial requests made
    partial_revision: int = 0  # partials published (the next one's revision)
    last_partial_request_s: float | None = None
    last_partial_end_index: int = 0  # end of the newest partial request's audio
    last_partial_serial: int = 0  # serial of the newest partial published (0: none)
    last_partial_text: tuple[str, str] = ("", "")  # (stable, unstable) last published
    # ---- streaming mode ----
    session: StreamSession | None = None
    failed: bool = False  # some of its audio could not be transcribed
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

    def end(
        self, end_index: int, now_s: float, chunking: ChunkingOptions | None, workers: int = 1
    ) -> None:
        """Speech ended at ``end_index``; with ``chunking`` (request mode) plan its requests."""
        self.end_index = max(end_index, self.start_index)
        self.newest_index = self.end_index
        self.ended_at_s = now_s
        self.agreement = None  # partials are over
        if chunking is not None:
            self.chunks = plan_chunks(self.start_index, self.end_index, chunking, workers)

    @property
    def chunks_pending(self) -> int:
        """Chunks neither answered nor given up."""
        return len(self.chunks) - len(self.results) - len(self.failed_chunks)

    def chunk_settled(self, chunk_index: int) -> bool:
        return chunk_index in self.results or chunk_index in self.failed_chunks

    def partial_due(self, now_s: float, min_audio_samples: int, interval_s: float) -> bool:
        """Whether a partial request for the newest audio may be made now."""
        return (
            self.is_open
            and self.audio_samples >= max(min_audio_samples, 1)
            and self.newest_index > self.last_partial_end_index
            and (
                self.last_partial_request_s is None
                or now_s - self.last_partial_request_s >= interval_s
            )
        )

    def has_new_partial_audio(self, min_audio_samples: int) -> bool:
        """Audio a partial could cover now or once its interval is over."""
        return (
            self.is_open
            and self.audio_samples >= max(min_audio_samples, 1)
            and self.newest_index > self.last_partial_end_index
        )

    def needed_index(self) -> int | None:
        """Lowest ring index this segment may still read; None when it needs no more audio."""
        if self.complete:
            return None
        if self.session is not None:
            return self.session.resume_index
        if self.is_open:
            return self.start_index
        pending = [c.start_index for c in self.chunks if not self.chunk_settled(c.index)]
        return min(pending) if pending else None
