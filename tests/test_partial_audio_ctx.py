"""A partial's own encoder floor (``asr.audio_ctx_partial_min_s``): the policy, and the worker's
service giving a partial the shorter window and a final the finals' floor, on both engines (real
model, real ring, a real recording)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.backends.whisper.audio_context import AudioContextPolicy
from pipeline.text_metrics import word_error_rate

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_partial_floor_applies_to_partials_only():
    policy = AudioContextPolicy("auto", min_s=10.0, pad_s=2.0, partial_min_s=2.0)
    three_s = 3 * SAMPLE_RATE_HZ
    assert policy.frames(three_s, 1500) == 500  # a final: the 10 s floor
    assert policy.frames(three_s, 1500, partial=True) == 250  # 150 frames of audio + 100 padding
    assert policy.frames(SAMPLE_RATE_HZ // 2, 1500, partial=True) == 150  # 25 + 100, whole seconds
    assert policy.frames(12 * SAMPLE_RATE_HZ, 1500, partial=True) == 700  # above both floors
    unset = AudioContextPolicy("auto", min_s=10.0, pad_s=2.0)
    assert unset.frames(three_s, 1500, partial=True) == 500  # no partial floor: the finals' one
    assert AudioContextPolicy("full", partial_min_s=2.0).frames(three_s, 1500, partial=True) == 1500
    with pytest.raises(ValueError, match="audio_ctx_partial_min_s"):
        AudioContextPolicy(partial_min_s=-1.0)


@pytest.mark.parametrize("engine", ["numpy", "mlx"])
def test_partial_gets_the_short_window_and_a_final_the_finals_floor(tmp_path, engine):
    """A 3.8 s dictation utterance: as a partial (default floor 6 s), 300 encoder frames and the
    same sentence give or take two words (tiny.en hears "them out" for "about" on the short
    window, a loss ``bench/encoder_ctx.py --partials`` counts); the same audio as a final pays
    the finals' 10 s floor (500)."""
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions
    from pipeline.messages.work import TranscribeRequest, TranscribeResult
    from pipeline.ring import AudioRing
    from pipeline.scheduling.request_ids import chunk_request_id, partial_request_id
    from pipeline.transcription_service import TranscriptionService
    from tests.whisper_audio import load_audio

    meta = json.loads((DATA_DIR / "dictation_dev.json").read_text())["utterances"][2]
    audio = load_audio("dictation_dev.wav")
    piece = audio[int((meta["start"] - 0.2) * SAMPLE_RATE_HZ) : int(meta["end"] * SAMPLE_RATE_HZ)]
    ring = AudioRing.create(f"pctx{engine}", piece.size * 2, SAMPLE_RATE_HZ, tmp_path)
    ring.write(piece)
    options = WhisperOptions(engine=engine, blas_threads=1)  # the default floors: 10 s, 6 s
    backend = WhisperBackend(options=options)
    service = TranscriptionService(backend)

    def request(request_id: str, partial: bool) -> TranscribeRequest:
        return TranscribeRequest(
            request_id=request_id, stream_id="main", segment_id=1, chunk_index=0,
            chunk_count=1, ring_name=ring.name, start_index=0, end_index=piece.size,
            is_partial=partial,
        )  # fmt: skip

    try:
        partial = service.handle(request(partial_request_id("main", 1, 1), partial=True))
        assert isinstance(partial, TranscribeResult), partial
        assert partial.details["audio_ctx"] == 300  # 6 s (3.77 s + 2 s of padding is less)
        assert not backend.partial_request  # restored for the next request
        final = service.handle(request(chunk_request_id("main", 1, 0, 1), partial=False))
        assert isinstance(final, TranscribeResult)
        assert word_error_rate(final.text, partial.text) <= 0.25, (partial.text, final.text)
        assert final.details["audio_ctx"] == 500
        assert service.ledger.kinds["partial"].encoder_frames == 300
        assert service.ledger.kinds["final"].encoder_frames == 500
    finally:
        service.close()
        ring.close()


@pytest.mark.parametrize("engine", ["numpy", "mlx"])
def test_a_looping_partial_tries_the_finals_window_before_30_s(engine):
    """Harvard sentence 6 as a partial on a 4.5 s window (floor 0, 1 s of padding): tiny.en says
    it three times (``test_whisper_audio_ctx``); the second pass is the finals' 10 s window (500
    frames, a third of 30 s), which says it once."""
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions
    from tests.whisper_audio import load_audio

    audio = load_audio("harvard_list72_8k.wav")[
        int(17.5 * SAMPLE_RATE_HZ) : int(20.92 * SAMPLE_RATE_HZ)
    ]
    options = WhisperOptions(engine=engine, blas_threads=1, audio_ctx_partial_min_s=0.0,
                             audio_ctx_pad_s=1.0)  # fmt: skip
    backend = WhisperBackend("", options)
    backend.partial_request, backend.retry_suspect = True, False  # as the service sets them
    result = backend.transcribe(audio)
    assert result.text == "The grass and bushes were wet with dew."
    assert result.details["audio_ctx"] == 500
    assert result.details["audio_ctx_retry_s"] > 0
