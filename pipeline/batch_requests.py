"""What an asr worker does with a ``TranscribeBatch``: read every request's audio, transcribe
them together where the backend allows it, answer one result or error per request.

Each request is answered as ``TranscriptionService`` answers it alone (same errors: an overrun
ring is ``ring_overrun``, not retryable; unwritten audio ``ring``; a failing backend
``backend``), so the scheduler reads every item as an ordinary reply. A Whisper backend encodes
and decodes the batch's windows together (``backends/whisper/batch_windows.py``); any other
backend transcribes the items one after another. The batch's engine time is shared equally among
its items (``engine_ms``, and the worker's engine ledger), since the work is shared.

A batch holds finals only or partials only (``scheduling/batching.py``). A partial batch is
treated as a lone partial is: the backend's partial floor (``partial_request``), no second pass
over the full window for an empty short-window result (it is answered ``suspect_partial``), the
committed words forced as each item's decoder prefix. A batch of early finals only gets the
backend's early-final floor (``early_final_request``); mixed with other finals, the finals' one.
A cancel of the batch (pre-emption) stops it as a whole at the next checkpoint:
``cancelled_batch`` answers every item ``cancelled``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.backend_calls import request_marks, transcribe_one
from pipeline.backends.cancellation import Cancelled
from pipeline.errors import BackendError, RingError, RingOverrun
from pipeline.messages.work import (
    CANCELLED,
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
    partial = bool(ready) and all(request.is_partial for request, _ in ready)
    early = bool(ready) and all(request.early_final for request, _ in ready)
    previews = bool(ready) and all(request.preview for request, _ in ready)
    started_s, cpu_started_s = time.perf_counter(), time.process_time()
    try:
        with request_marks(service.backend, partial=partial, early_final=early, preview=previews):
            outcomes = transcribe_many(
                service.backend,
                [audio for _, audio in ready],
                [request.prompt or None for request, _ in ready],
                [request.prefix or None for request, _ in ready],
            )
    except Cancelled:  # pre-empted: the work done so far was paid for, by every item
        _record(service, ready, started_s, cpu_started_s, cancelled=True)
        raise
    share_ms = (time.perf_counter() - started_s) * 1000.0 / max(len(ready), 1)
    _record(service, ready, started_s, cpu_started_s, outcomes=outcomes)
    results: list[TranscribeResult] = []
    for (request, audio), outcome in zip(ready, outcomes, strict=True):
        if isinstance(outcome, Exception):
            kind = "backend" if isinstance(outcome, BackendError) else "internal"
            logger.error("request %s of batch %s failed: %s", request.request_id,
                         batch.request_id, outcome)  # fmt: skip
            errors.append(WorkerError(request.request_id, kind,
                                      f"{type(outcome).__name__}: {outcome}"))  # fmt: skip
            continue
        if partial and outcome.details.get("suspect"):
            errors.append(WorkerError(request.request_id, "suspect_partial", "a short encoder "
                                      "window gave an empty or rejected partial",
                                      retryable=False))  # fmt: skip
            continue
        results.append(
            TranscribeResult.answering(request, outcome, share_ms, len(audio) / SAMPLE_RATE_HZ)
        )
    return TranscribeBatchResult(batch.request_id, tuple(results), tuple(errors))


def cancelled_batch(batch: TranscribeBatch, why: str) -> TranscribeBatchResult:
    """The answer to a batch cut short by a cancel: every item ``cancelled`` (no failure)."""
    errors = tuple(
        WorkerError(request.request_id, CANCELLED, why, retryable=True)
        for request in batch.requests
    )
    return TranscribeBatchResult(batch.request_id, (), errors)


def _record(
    service: Any,
    ready: list[tuple[TranscribeRequest, np.ndarray]],
    started_s: float,
    cpu_started_s: float,
    outcomes: list[Transcription | Exception] | None = None,
    cancelled: bool = False,
) -> None:
    """The batch's engine and CPU time in the worker's ledger, shared equally by its items."""
    ledger = getattr(service, "ledger", None)
    if ledger is None or not ready:
        return
    share_s = (time.perf_counter() - started_s) / len(ready)
    cpu_share_s = (time.process_time() - cpu_started_s) / len(ready)
    for number, (request, audio) in enumerate(ready):
        audio_s = len(audio) / SAMPLE_RATE_HZ
        if cancelled:
            ledger.record_cancelled(request.request_id, share_s, cpu_share_s, audio_s)
            continue
        outcome = outcomes[number] if outcomes is not None else None
        details = outcome.details if isinstance(outcome, Transcription) else {}
        ledger.record(request.request_id, share_s, cpu_share_s, audio_s, details)


def transcribe_many(
    backend: Any,
    audios: list[np.ndarray],
    prompts: list[str | None],
    prefixes: list[str | None] | None = None,
) -> list[Transcription | Exception]:
    """Per item the backend's transcription or the exception it raised; one batched pass for a
    Whisper backend (``prefixes``: each item's forced first words, or None)."""
    from pipeline.backends.whisper_mlx import WhisperBackend

    prefixes = prefixes if prefixes is not None else [None] * len(audios)
    if isinstance(backend, WhisperBackend) and len(audios) > 1:
        from pipeline.backends.whisper.batch_windows import transcribe_batch

        return transcribe_batch(backend, audios, prompts, prefixes)
    out: list[Transcription | Exception] = []
    for audio, prompt, prefix in zip(audios, prompts, prefixes, strict=True):
        try:
            out.append(transcribe_one(backend, audio, prompt, prefix))
        except Exception as e:  # handed back per item
            out.append(e)
    return out
