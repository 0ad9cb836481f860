"""An early final's own encoder floor (``asr.audio_ctx_early_final_min_s``): the policy, the
scheduler marking its early final, the low-latency profile's value, and the worker giving an
early final the shorter window, alone and batched, with the same words as the finals' floor
(real model, real ring, a real recording)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.backends.whisper.audio_context import AudioContextPolicy
from pipeline.messages.work import TranscribeRequest
from pipeline.text_metrics import word_error_rate
from tests.test_scheduler_commits import committing, only, paused
from tests.test_scheduler_fakes import SR, ongoing, started

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
UTTERANCE = 3  # "Maria will book the rooms and handle the catering order." (3.0 s)


def test_early_final_floor_applies_to_early_finals_only():
    policy = AudioContextPolicy("auto", min_s=10.0, pad_s=2.0, partial_min_s=6.0,
                                early_final_min_s=4.0)  # fmt: skip
    three_s = 3 * SAMPLE_RATE_HZ
    assert policy.frames(three_s, 1500) == 500  # a final: the 10 s floor
    assert policy.frames(three_s, 1500, early_final=True) == 250  # 150 + 100 padding > 4 s
    assert policy.frames(SAMPLE_RATE_HZ, 1500, early_final=True) == 200  # the 4 s floor
    assert policy.frames(three_s, 1500, partial=True) == 300  # a partial keeps its own
    assert policy.frames(12 * SAMPLE_RATE_HZ, 1500, early_final=True) == 700  # above the floors
    unset = AudioContextPolicy("auto", min_s=10.0, pad_s=2.0)
    assert unset.frames(three_s, 1500, early_final=True) == 500  # unset: the finals' floor
    assert (
        AudioContextPolicy("full", early_final_min_s=2.0).frames(three_s, 1500, early_final=True)
        == 1500
    )
    with pytest.raises(ValueError, match="audio_ctx_early_final_min_s"):
        AudioContextPolicy(early_final_min_s=31.0)


def test_the_scheduler_marks_its_early_final_and_nothing_else():
    s = committing()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 1.5), 1.5)
    partial = only(s.dispatch(["asr-1"], 1.5))
    assert partial.is_partial and not partial.early_final
    s.speech_paused(paused(1.5, 1.7), 1.7)
    early = only(s.dispatch(["asr-2"], 1.7))
    assert not early.is_partial and early.early_final
    assert (early.start_index, early.end_index) == (0, 1.6 * SR)


def test_early_final_defaults_keep_old_messages_and_balanced_unchanged():
    from config.loader import load_config
    from pipeline.messages.codec import decode, encode

    request = TranscribeRequest("r", "main", 1, 0, 1, "ring", 0, 16_000)
    assert not request.early_final  # a request from before the field: an ordinary one
    marked = TranscribeRequest("r", "main", 1, 0, 1, "ring", 0, 16_000, early_final=True)
    assert decode(encode(marked)) == marked
    balanced = load_config(None, environ={}).config.asr
    assert balanced.audio_ctx_early_final_min_s == balanced.audio_ctx_min_s == 10.0
    low = load_config(None, environ={}, cli_overrides={"profile": "low-latency"}).config.asr
    assert low.audio_ctx_early_final_min_s == 8.0


@pytest.mark.parametrize("engine", ["numpy", "mlx"])
def test_an_early_final_gets_the_short_window_with_the_same_words(tmp_path, engine):
    """A dictation sentence (3.0 s): as an early final with the low-latency floor (8 s), 400
    encoder frames and the same words as the same audio as a final on the 10 s floor (500);
    two early finals batched get it too, and the backend's mark is cleared afterwards."""
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions
    from pipeline.batch_requests import answer_batch
    from pipeline.messages.work import TranscribeBatch, TranscribeResult
    from pipeline.ring import AudioRing
    from pipeline.scheduling.request_ids import chunk_request_id, partial_request_id
    from pipeline.transcription_service import TranscriptionService
    from tests.whisper_audio import load_audio

    meta = json.loads((DATA_DIR / "dictation_dev.json").read_text())["utterances"][UTTERANCE]
    audio = load_audio("dictation_dev.wav")
    piece = audio[int((meta["start"] - 0.2) * SAMPLE_RATE_HZ) : int(meta["end"] * SAMPLE_RATE_HZ)]
    ring = AudioRing.create(f"efctx{engine}", piece.size * 2, SAMPLE_RATE_HZ, tmp_path)
    ring.write(piece)
    options = WhisperOptions(engine=engine, blas_threads=1, audio_ctx_early_final_min_s=8.0)
    backend = WhisperBackend(options=options)
    service = TranscriptionService(backend)

    def request(request_id: str, early: bool) -> TranscribeRequest:
        return TranscribeRequest(
            request_id=request_id, stream_id="main", segment_id=1, chunk_index=0,
            chunk_count=1, ring_name=ring.name, start_index=0, end_index=piece.size,
            early_final=early,
        )  # fmt: skip

    try:
        early = service.handle(request(partial_request_id("main", 1, 1) + "e", early=True))
        assert isinstance(early, TranscribeResult), early
        assert early.details["audio_ctx"] == 400  # 8 s (the audio + 2 s of padding is less)
        assert not backend.early_final_request  # restored for the next request
        final = service.handle(request(chunk_request_id("main", 1, 0, 1), early=False))
        assert isinstance(final, TranscribeResult)
        assert final.details["audio_ctx"] == 500
        assert word_error_rate(final.text, early.text) == 0.0, (early.text, final.text)
        assert word_error_rate(meta["text"], early.text) <= 0.2, (meta["text"], early.text)
        pair = (request(partial_request_id("main", 1, 2) + "e", early=True),
                request(partial_request_id("main", 1, 3) + "e", early=True))  # fmt: skip
        batched = answer_batch(service, TranscribeBatch("b1", pair))
        assert [r.details["audio_ctx"] for r in batched.results] == [400, 400], batched
        assert all(r.text == early.text for r in batched.results)
        assert not backend.early_final_request
    finally:
        service.close()
        ring.close()
