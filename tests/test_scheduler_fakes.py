"""Fakes for the scheduler tests: constructed VAD events and worker replies (no processes).

The scheduler is pure logic, so its tests drive it with plain calls; these helpers only build
the messages a VAD and a worker would send.
"""

from __future__ import annotations

from config.loader import load_config
from pipeline.chunking import ChunkingOptions
from pipeline.messages.speech import SpeechEnded, SpeechOngoing, SpeechStarted
from pipeline.messages.work import (
    StreamUpdate,
    TranscribeRequest,
    TranscribeResult,
    WorkerError,
)
from pipeline.scheduling import SchedulerOptions, SegmentScheduler
from pipeline.scheduling.options import SharingOptions
from pipeline.words import Word

SR = 16_000  # samples per second
RINGS = {"mic": "ss-1-mic", "room": "ss-1-room"}


def options(streaming: bool = False, **overrides) -> SchedulerOptions:
    settings = {
        "backend": "parakeet" if streaming else "whisper",
        "model": "test-model",
        "chunking": ChunkingOptions.from_seconds(10.0, 2.0),
        "partial_min_audio_samples": 1 * SR,
        "partial_interval_s": 1.0,
        "use_prompt": True,
        "streaming": streaming,
        "max_attempts": 3,
    }
    settings.update(overrides)
    return SchedulerOptions(**settings)


def sharing(**keys: object) -> SharingOptions:
    """``SharingOptions`` as the daemon reads them from its ``streams`` keys (``--set
    streams.KEY=VALUE``; the rest at their defaults)."""
    cli = {f"streams.{key}": str(value).lower() for key, value in keys.items()}
    config = load_config(environ={}, cli_overrides=cli).config
    return SchedulerOptions.from_config(config, "whisper", "tiny.en").sharing


def scheduler(streaming: bool = False, **overrides) -> SegmentScheduler:
    return SegmentScheduler(options(streaming, **overrides), rings=RINGS)


def started(segment_id: int, start_s: float, stream: str = "mic") -> SpeechStarted:
    return SpeechStarted(stream, segment_id, round(start_s * SR))


def ongoing(
    segment_id: int, start_s: float, now_audio_s: float, stream: str = "mic"
) -> SpeechOngoing:
    return SpeechOngoing(stream, segment_id, round(start_s * SR), round(now_audio_s * SR))


def ended(segment_id: int, start_s: float, end_s: float, stream: str = "mic") -> SpeechEnded:
    return SpeechEnded(stream, segment_id, round(start_s * SR), round(end_s * SR))


def spoken(text: str, start_s: float = 0.0, pitch_s: float = 0.4) -> tuple[Word, ...]:
    """Whisper-style words of ``text``, one every ``pitch_s`` seconds from ``start_s``."""
    return tuple(
        Word(start_s + i * pitch_s, start_s + i * pitch_s + 0.3, " " + t, 0.9)
        for i, t in enumerate(text.split())
    )


def words(text: str, start_s: float = 0.0, probability: float = 0.95) -> list[Word]:
    """One word every 0.4 s from ``start_s``, 0.3 s long; "word@0.2" sets its probability."""
    out = []
    for i, token in enumerate(text.split()):
        name, _, p = token.partition("@")
        at_s = start_s + i * 0.4
        out.append(Word(at_s, at_s + 0.3, " " + name, float(p) if p else probability))
    return out


def result(request: TranscribeRequest, text: str, pitch_s: float = 0.4) -> TranscribeResult:
    """A worker's answer to ``request``: ``text`` spoken from the request's start."""
    return result_words(request, spoken(text, 0.0, pitch_s))


def result_words(request: TranscribeRequest, words: tuple[Word, ...]) -> TranscribeResult:
    """An answer with the given words (times relative to the request's start)."""
    return TranscribeResult(
        request_id=request.request_id,
        stream_id=request.stream_id,
        segment_id=request.segment_id,
        chunk_index=request.chunk_index,
        text="".join(w.text for w in words).strip(),
        words=words,
        audio_s=(request.end_index - request.start_index) / SR,
    )


def error(request_id: str, kind: str = "backend", retryable: bool = True) -> WorkerError:
    return WorkerError(request_id, kind, f"fake {kind} failure", retryable)


def update(
    session_id: str,
    segment_id: int,
    finalized: tuple[Word, ...] = (),
    draft: tuple[Word, ...] = (),
    finalized_index: float = 0,
    is_final: bool = False,
    stream: str = "mic",
) -> StreamUpdate:
    """A worker's StreamUpdate; word times relative to the session's open index."""
    return StreamUpdate(
        session_id=session_id,
        stream_id=stream,
        segment_id=segment_id,
        finalized_words=finalized,
        draft_words=draft,
        finalized_index=round(finalized_index),
        is_final=is_final,
    )
