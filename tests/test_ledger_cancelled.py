"""A partial cancelled mid-way (pre-empted by final work) is paid for: the worker's engine ledger
counts its CPU in its kind (``cancelled``, ``cancelled_cpu_s``) instead of leaving it outside the
engine. Real model, real ring, a real recording, the engine's own checkpoints."""

from __future__ import annotations

import logging

import pytest

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.backends.cancellation import Cancelled, watching
from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions
from pipeline.engine_ledger import parse_log_line
from pipeline.messages.work import TranscribeRequest
from pipeline.ring import AudioRing
from pipeline.scheduling.request_ids import partial_request_id
from pipeline.transcription_service import TranscriptionService
from tests.whisper_audio import load_audio


def test_cancelled_partial_counts_its_cpu_in_the_ledger(tmp_path, caplog) -> None:
    audio = load_audio("jfk.flac")[: 4 * SAMPLE_RATE_HZ]
    ring = AudioRing.create("ledgercancel", audio.size * 2, SAMPLE_RATE_HZ, tmp_path)
    ring.write(audio)
    service = TranscriptionService(WhisperBackend(options=WhisperOptions(blas_threads=1)))
    request = TranscribeRequest(
        request_id=partial_request_id("main", 1, 1), stream_id="main", segment_id=1,
        chunk_index=0, chunk_count=1, ring_name=ring.name, start_index=0, end_index=audio.size,
        is_partial=True,
    )  # fmt: skip
    checks = []

    def cancel_at_second_checkpoint() -> bool:  # the first comes after the encoder
        checks.append(1)
        return len(checks) >= 2

    try:
        with pytest.raises(Cancelled), watching(cancel_at_second_checkpoint):
            service.handle(request)
        partial = service.ledger.kinds["partial"]
        assert partial.cancelled == 1 and partial.requests == 0
        assert partial.cpu_s == partial.cancelled_cpu_s > 0  # the encoder pass, at least
        assert partial.audio_s == pytest.approx(4.0)
        assert not service.backend.partial_request and service.backend.retry_suspect
    finally:
        with caplog.at_level(logging.INFO, logger="pipeline.transcription_service"):
            service.close()
        ring.close()
    (logged,) = [t for t in map(parse_log_line, caplog.messages) if t is not None]
    assert logged["partial"]["cancelled"] == 1 and logged["partial"]["cpu_s"] > 0
