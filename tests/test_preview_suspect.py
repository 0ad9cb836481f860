"""A preview (a segment's first partial, shown and never agreed on) whose short encoder window
gives a suspect text is dropped by the worker, not decoded again on the 10 s and 30 s windows;
other partials with suspect text keep the second pass. Real tiny.en, real ring, real service."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.backend_calls import request_marks
from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions
from pipeline.messages.work import TranscribeRequest, WorkerError
from pipeline.ring import AudioRing
from pipeline.scheduling.request_ids import partial_request_id
from pipeline.transcription_service import TranscriptionService
from pipeline.words import Transcription
from tests.whisper_audio import load_audio

LOOPED = "Welcome to the next one. Welcome to the next one. Welcome to the next one."


@pytest.fixture(scope="module")
def backend() -> WhisperBackend:
    return WhisperBackend(options=WhisperOptions(blas_threads=1))


def suspect_result() -> Transcription:
    return Transcription(text=LOOPED, words=(), details={"audio_ctx": 300.0, "tokens": 24.0})


def test_a_previews_suspect_text_comes_back_marked_without_a_second_pass(backend) -> None:
    audio = load_audio("jfk.flac")[: int(0.8 * SAMPLE_RATE_HZ)]
    with request_marks(backend, partial=True, early_final=False, preview=True):
        assert backend.preview_request and not backend.retry_suspect
        kept = backend._after_suspect_window(audio, None, None, 300, suspect_result(), 0.1)
    assert kept.details["suspect"] == 1.0 and kept.text == LOOPED  # handed back, not decoded
    assert "audio_ctx_retry_s" not in kept.details
    assert not backend.preview_request and backend.retry_suspect  # unmarked after the block

    with request_marks(backend, partial=True, early_final=False, preview=False):
        again = backend._after_suspect_window(audio, None, None, 300, suspect_result(), 0.1)
    assert "suspect" not in again.details and "audio_ctx_retry_s" in again.details  # decoded again
    assert again.details["audio_ctx"] > 300


def test_the_service_drops_a_suspect_preview_on_noise_and_restores_the_marks(
    backend, tmp_path
) -> None:
    noise = (np.random.default_rng(1).standard_normal(SAMPLE_RATE_HZ) * 0.05).astype(np.float32)
    ring = AudioRing.create("preview", noise.size * 2, SAMPLE_RATE_HZ, tmp_path)
    ring.write(noise)
    service = TranscriptionService(backend)
    marked = []  # the backend's preview mark while the service runs the request
    transcribe = backend.transcribe
    backend.transcribe = lambda *args, **kwargs: (
        marked.append(backend.preview_request) or transcribe(*args, **kwargs)
    )
    try:
        request = TranscribeRequest(
            request_id=partial_request_id("main", 1, 1), stream_id="main", segment_id=1,
            chunk_index=0, chunk_count=1, ring_name=ring.name, start_index=0,
            end_index=noise.size, is_partial=True, preview=True,
        )  # fmt: skip
        reply = service.handle(request)
        assert isinstance(reply, WorkerError) and reply.error_kind == "suspect_partial"
        assert service.ledger.kinds["partial"].full_window_retries == 0
        assert marked == [True]  # the request's preview field reached the backend
        assert not backend.preview_request and backend.retry_suspect
    finally:
        del backend.transcribe
        service.close()
        ring.close()
