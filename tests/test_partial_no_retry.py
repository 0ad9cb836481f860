"""A partial whose short encoder window gives a suspect result is dropped, not decoded again over
the full 30 s window (the next partial supersedes it); finals keep the second pass. Real model,
real ring, noise that tiny.en rejects on both windows."""

from __future__ import annotations

import numpy as np

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions
from pipeline.messages.work import TranscribeRequest, TranscribeResult, WorkerError
from pipeline.ring import AudioRing
from pipeline.scheduling.request_ids import chunk_request_id, partial_request_id
from pipeline.transcription_service import TranscriptionService

FULL_WINDOW_FRAMES = 1500


def test_suspect_partial_is_dropped_and_a_final_still_gets_the_full_window(tmp_path) -> None:
    noise = (np.random.default_rng(0).standard_normal(3 * SAMPLE_RATE_HZ) * 0.05).astype(np.float32)
    ring = AudioRing.create("noretry", noise.size * 2, SAMPLE_RATE_HZ, tmp_path)
    ring.write(noise)
    backend = WhisperBackend(options=WhisperOptions(blas_threads=1))
    service = TranscriptionService(backend)

    def request(request_id: str, partial: bool) -> TranscribeRequest:
        return TranscribeRequest(
            request_id=request_id, stream_id="main", segment_id=1, chunk_index=0,
            chunk_count=1, ring_name=ring.name, start_index=0, end_index=noise.size,
            is_partial=partial,
        )  # fmt: skip

    try:
        reply = service.handle(request(partial_request_id("main", 1, 1), partial=True))
        assert isinstance(reply, WorkerError) and reply.error_kind == "suspect_partial"
        assert not reply.retryable
        partial = service.ledger.kinds["partial"]
        assert partial.suspect_dropped == 1 and partial.full_window_retries == 0
        assert partial.encoder_frames < FULL_WINDOW_FRAMES  # one short pass only
        assert backend.retry_suspect  # restored for the next request

        final = service.handle(request(chunk_request_id("main", 1, 0, 1), partial=False))
        assert isinstance(final, TranscribeResult)
        assert final.details["audio_ctx"] == FULL_WINDOW_FRAMES  # decoded again on 30 s
        assert service.ledger.kinds["final"].full_window_retries == 1
    finally:
        service.close()
        ring.close()
