"""What an asr worker does with a ``TranscribeBatch``: read every request's audio, transcribe
them with one encoder call where the backend allows it, answer one result or error per request.

Each request is answered as ``TranscriptionService`` answers it alone (same errors: an overrun
ring is ``ring_overrun``, not retryable; unwritten audio ``ring``; a failing backend
``backend``), so the scheduler reads every item as an ordinary reply. A Whisper backend encodes
the batch's windows in one call (``backends/whisper/batch_windows.py``); any other backend
transcribes the items one after another. The batch's engine time is shared equally among its
items (``engine_ms``), since the encoder pass is shared.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.errors import BackendError, RingError, RingOverrun
from pipeline.messages.work import (
    TranscribeBatch,
    TranscribeBatchResult,
    TranscribeRequest,
    TranscribeResult,
    WorkerError,
)
from pipeline.words import Transcription

logger = logging.getLogger(__name__)


def answer_batch(service: Any, batch: TranscribeBatch) -> TranscribeBatchResult:
    """The answers of ``service`` (a ``TranscriptionService``) to every request of ``batch``."""
    errors: list[WorkerError] = []
    ready: list[tuple[TranscribeRequest, np.ndarray]] = []
    for request in batch.requests:
        try:
            ready.append(
                (request, service._read(request.ring_name, request.start_index, request.end_index))
            )
        except RingOverrun as e:
            logger.warning("request %s: %s", request.request_id, e)
            errors.append(WorkerError(request.request_id, "ring_overrun", str(e), retryable=False))
        except RingError as e:
            logger.warning("request %s: %s", request.request_id, e)
            errors.append(WorkerError(request.request_id, "ring", str(e), retryable=True))
    started_s = time.perf_counter()
    outcomes = transcribe_many(
        service.backend,
        [audio for _, audio in ready],
        [request.prompt or None for request, _ in ready],
    )
    share_ms = (time.perf_counter() - started_s) * 1000.0 / max(len(ready), 1)
    results: list[TranscribeResult] = []
    for (request, audio), outcome in zip(ready, outcomes, strict=True):
        if isinstance(outcome, Exception):
            kind = "backend" if isinstance(outcome, BackendError) else "internal"
            logger.error("request %s of batch %s failed: %s", request.request_id,
                         batch.request_id, outcome)  # fmt: skip
            errors.append(WorkerError(request.request_id, kind,
                                      f"{type(outcome).__name__}: {outcome}"))  # fmt: skip
            continue
        results.append(
            TranscribeResult.answering(request, outcome, share_ms, len(audio) / SAMPLE_RATE_HZ)
        )
    return TranscribeBatchResult(batch.request_id, tuple(results), tuple(errors))


def transcribe_many(
    backend: Any, audios: list[np.ndarray], prompts: list[str | None]
) -> list[Transcription | Exception]:
    """Per item the backend's transcription or the exception it raised; one encoder call for a
    Whisper backend."""
    from pipeline.backends.whisper_mlx import WhisperBackend

    if isinstance(backend, WhisperBackend) and len(audios) > 1:
        from pipeline.backends.whisper.batch_windows import transcribe_batch

        return transcribe_batch(backend, audios, prompts)
    out: list[Transcription | Exception] = []
    for audio, prompt in zip(audios, prompts, strict=True):
        try:
            out.append(backend.transcribe(audio, prompt=prompt))
        except Exception as e:  # handed back per item
            out.append(e)
    return out
