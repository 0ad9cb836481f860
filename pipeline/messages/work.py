"""The worker protocol (supervisor ROUTER ⇄ worker DEALER).

Worker → supervisor: ``Ready``, ``Heartbeat``, ``TranscribeResult``, ``StreamUpdate``,
``WorkerError``. Supervisor → worker: ``TranscribeRequest``, ``StreamOpen``, ``StreamFeed``,
``StreamClose``, ``Shutdown``, ``CancelRequest`` (stop the request being worked on: the worker
answers it with a ``WorkerError`` of kind ``CANCELLED`` at its next check, or with its result
when the cancel came too late). Other children (capture, vad) send ``Heartbeat`` too.
Word times in results are seconds from the request's ``start_index``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar

from pipeline.messages.base import (
    AtLeast,
    Below,
    Count,
    Message,
    Min,
    NonNegFloat,
    SampleIndex,
    register,
)
from pipeline.words import Transcription, Word

Pid = Annotated[int, Min(1)]


@register
@dataclass(frozen=True, slots=True)
class Ready(Message):
    """A worker has loaded its model and takes requests."""

    kind: ClassVar[str] = "worker.ready"
    worker_id: str
    pid: Pid
    backend: str  # "whisper", "parakeet", ...
    model: str
    capabilities: tuple[str, ...] = ()  # e.g. "words", "partials", "streaming"


@register
@dataclass(frozen=True, slots=True)
class Heartbeat(Message):
    """Sent every second by every child; memory figures feed the recycling policy."""

    kind: ClassVar[str] = "heartbeat"
    role: str  # process name: "capture", "vad", "asr-1", ...
    pid: Pid
    rss_bytes: Count
    mlx_active_bytes: Count = 0
    mlx_cache_bytes: Count = 0
    busy_request_id: str = ""  # the request being worked on, "" when idle
    # Readers of the ring (vad): the index read and judged so far, sent after the events for the
    # audio before it, so the supervisor knows no segment will start much earlier.
    position_index: Count = 0


@register
@dataclass(frozen=True, slots=True)
class TranscribeRequest(Message):
    """Transcribe ``[start_index, end_index)`` of the ring ``ring_name``."""

    kind: ClassVar[str] = "work.transcribe"
    request_id: str
    stream_id: str
    segment_id: Count
    chunk_index: Annotated[int, Min(0), Below("chunk_count")]
    chunk_count: Annotated[int, Min(1)]
    ring_name: str
    start_index: SampleIndex
    end_index: Annotated[int, Min(0), AtLeast("start_index")]
    is_partial: bool = False
    prompt: str = ""  # text preceding the audio, for conditioning
    # text known to be spoken at the head of the audio (a partial's committed words): forced as
    # the decoder's first words, so only the words after it are generated ("" = none)
    prefix: str = ""
    # an early final (the uncommitted rest of an open segment, decoded when a pause begins): the
    # backend may use a shorter encoder floor for it (asr.audio_ctx_early_final_min_s)
    early_final: bool = False
    # a segment's first partial over less than asr.partial_min_audio_s (scheduling.first_partial):
    # shown, never agreed on, so a suspect answer is dropped rather than decoded again
    preview: bool = False
    # the words the segment's newest hypothesis said after the prefix: greedy decoding checks
    # them several tokens per decoder pass and keeps those it would have chosen anyway (the same
    # text for fewer passes; "" = none)
    draft: str = ""


@register
@dataclass(frozen=True, slots=True)
class TranscribeResult(Message):
    kind: ClassVar[str] = "work.result"
    request_id: str
    stream_id: str
    segment_id: Count
    chunk_index: Count
    text: str
    words: tuple[Word, ...] = ()
    engine_ms: NonNegFloat = 0.0  # time spent in the backend, milliseconds
    audio_s: NonNegFloat = 0.0  # length of the audio transcribed
    details: dict[str, float] = field(default_factory=dict)  # see Transcription.details

    @classmethod
    def answering(
        cls,
        request: TranscribeRequest,
        transcription: Transcription,
        engine_ms: float,
        audio_s: float,
    ) -> TranscribeResult:
        """The result of ``request``: ``transcription`` of its ``audio_s`` seconds of audio."""
        return cls(
            request_id=request.request_id,
            stream_id=request.stream_id,
            segment_id=request.segment_id,
            chunk_index=request.chunk_index,
            text=transcription.text,
            words=transcription.words,
            engine_ms=engine_ms,
            audio_s=audio_s,
            details={k: float(v) for k, v in transcription.details.items()},
        )


@register
@dataclass(frozen=True, slots=True)
class WorkerError(Message):
    """A request failed. ``error_kind``: "ring_overrun", "backend", "model", "internal", ..."""

    kind: ClassVar[str] = "work.error"
    request_id: str
    error_kind: str
    message: str
    retryable: bool = True  # False: sending it again (anywhere) will fail the same way


CANCELLED = "cancelled"  # WorkerError.error_kind of a request cut short by a CancelRequest


@register
@dataclass(frozen=True, slots=True)
class CancelRequest(Message):
    """Supervisor → worker: stop ``request_id`` if it is still being worked on (a partial that
    final work pre-empts). A cancel for any other request is ignored."""

    kind: ClassVar[str] = "work.cancel"
    request_id: str
    reason: str = ""


@register
@dataclass(frozen=True, slots=True)
class Shutdown(Message):
    """Supervisor → child: finish the current request, then exit."""

    kind: ClassVar[str] = "work.shutdown"
    reason: str = ""


# --- stateful streaming (parakeet): one worker owns a stream session while speech goes on ---


@register
@dataclass(frozen=True, slots=True)
class StreamOpen(Message):
    """Start a session that will be fed audio of one segment from ``start_index`` on."""

    kind: ClassVar[str] = "stream.open"
    session_id: str
    stream_id: str
    segment_id: Count
    ring_name: str
    start_index: SampleIndex  # a reopened session starts at the last finalized index


@register
@dataclass(frozen=True, slots=True)
class StreamFeed(Message):
    """Feed ``[start_index, end_index)``; ranges of one session are contiguous."""

    kind: ClassVar[str] = "stream.feed"
    session_id: str
    start_index: SampleIndex
    end_index: Annotated[int, Min(0), AtLeast("start_index")]


@register
@dataclass(frozen=True, slots=True)
class StreamClose(Message):
    """Feed up to ``end_index``, finalize everything, answer a final update and drop the state."""

    kind: ClassVar[str] = "stream.close"
    session_id: str
    end_index: SampleIndex


@register
@dataclass(frozen=True, slots=True)
class StreamUpdate(Message):
    """Worker → supervisor after each feed: the words finalized so far and the current draft.

    Word times are seconds from the session's ``StreamOpen.start_index``.
    """

    kind: ClassVar[str] = "stream.update"
    session_id: str
    stream_id: str
    segment_id: Count
    finalized_words: tuple[Word, ...]  # all finalized words of the session, in order
    draft_words: tuple[Word, ...]  # the tail that may still change
    finalized_index: SampleIndex  # audio before this index will not change the finalized words
    is_final: bool = False  # the answer to StreamClose
    engine_ms: NonNegFloat = 0.0


# --- cross-stream batching: several requests for one encoder call ---


@register
@dataclass(frozen=True, slots=True)
class TranscribeBatch(Message):
    """Several requests (usually of different streams) for one encoder call; answered by one
    ``TranscribeBatchResult`` holding a result or an error per request
    (``pipeline/scheduling/batching.py``)."""

    kind: ClassVar[str] = "work.transcribe_batch"
    request_id: str  # the batch's own id (what the pool tracks as in flight)
    requests: tuple[TranscribeRequest, ...]


@register
@dataclass(frozen=True, slots=True)
class TranscribeBatchResult(Message):
    """The answers to a ``TranscribeBatch``: one result or one error per request."""

    kind: ClassVar[str] = "work.batch_result"
    request_id: str  # the batch's id
    results: tuple[TranscribeResult, ...] = ()
    errors: tuple[WorkerError, ...] = ()
