"""A preview's own encoder floor (``asr.audio_ctx_preview_min_s``): the policy, the default
config reaching the backend, and the worker's service giving a preview (a segment's first
partial, shown and never agreed on) the preview floor while a plain partial over the same audio
keeps the partials' floor, alone and batched, on both engines (real model, real ring, a real
recording)."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.backends.whisper.audio_context import AudioContextPolicy

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
UTTERANCE = 3  # "Maria will book the rooms and handle the catering order." (16.275 s)


def test_preview_floor_applies_to_previews_only():
    policy = AudioContextPolicy("auto", min_s=10.0, pad_s=2.0, partial_min_s=6.0,
                                preview_min_s=4.0)  # fmt: skip
    one_s = SAMPLE_RATE_HZ
    assert policy.frames(one_s, 1500, partial=True, preview=True) == 200  # the 4 s floor
    assert policy.frames(one_s, 1500, partial=True) == 300  # a plain partial: 6 s
    assert policy.frames(one_s, 1500) == 500  # a final: 10 s
    assert policy.frames(one_s, 1500, preview=True) == 500  # a preview is a partial
    assert policy.frames(3 * one_s, 1500, partial=True, preview=True) == 250  # 150 + 100 > 4 s
    unset = AudioContextPolicy("auto", min_s=10.0, pad_s=2.0, partial_min_s=6.0)
    assert unset.frames(one_s, 1500, partial=True, preview=True) == 300  # the partials' floor
    full = AudioContextPolicy("full", preview_min_s=2.0)
    assert full.frames(one_s, 1500, partial=True, preview=True) == 1500
    with pytest.raises(ValueError, match="audio_ctx_preview_min_s"):
        AudioContextPolicy(preview_min_s=-1.0)


def test_the_default_config_gives_previews_a_floor_under_the_partials():
    from config.loader import load_config
    from pipeline.backends.whisper_mlx import WhisperOptions

    asr = load_config(None, environ={}).config.asr
    options = WhisperOptions.from_config(asr)
    assert options.audio_ctx_preview_min_s == asr.audio_ctx_preview_min_s == 5.0
    assert options.audio_ctx_partial_min_s == 6.0
    low = load_config(None, environ={}, cli_overrides={"profile": "low-latency"}).config.asr
    assert low.audio_ctx_preview_min_s == 5.0  # its partials are never previews (0.5 s minimum)


def test_unaligned_words_split_as_aligned_ones_with_token_share_times():
    from pipeline.backends.whisper.alignment import unaligned_words
    from pipeline.backends.whisper_mlx import WhisperBackend

    tokenizer = WhisperBackend().tokenizer
    tokens = tuple(tokenizer.encode(" Good morning, Maria."))
    words = unaligned_words(tokenizer, tokens, (0.5,) * len(tokens), 32_000)
    assert [w.text for w in words] == [" Good", " morning,", " Maria."]
    assert words[0].start_s == 0.0 and 0.0 < words[-1].end_s <= 2.0  # token shares of the 2 s
    assert all(a.end_s <= b.start_s for a, b in itertools.pairwise(words))
    assert all(w.probability == 0.5 for w in words)
    assert unaligned_words(tokenizer, (), (), 16_000) == []


@pytest.mark.parametrize("engine", ["numpy", "mlx"])
def test_a_preview_gets_the_preview_floor_and_a_partial_the_partials(tmp_path, engine):
    """A segment's first preview as the scheduler sends it on the dictation (the 0.3 s pre-roll
    and ~0.38 s of "Maria ..."): with the default config, 250 encoder frames (5 s) and the same
    text as the same audio as a plain partial (300 frames, 6 s); two previews batched get 250
    each; the backend's mark is cleared after each request."""
    from config.loader import load_config
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions
    from pipeline.batch_requests import answer_batch
    from pipeline.messages.work import TranscribeBatch, TranscribeRequest, TranscribeResult
    from pipeline.ring import AudioRing
    from pipeline.scheduling.request_ids import partial_request_id
    from pipeline.transcription_service import TranscriptionService
    from tests.whisper_audio import load_audio

    meta = json.loads((DATA_DIR / "dictation_dev.json").read_text())["utterances"][UTTERANCE]
    start_s = meta["start"] - 0.28  # the segment's start: the VAD's pre-roll before speech
    audio = load_audio("dictation_dev.wav")
    piece = audio[int(start_s * SAMPLE_RATE_HZ) : int((start_s + 0.68) * SAMPLE_RATE_HZ)]
    ring = AudioRing.create(f"pvctx{engine}", piece.size * 4, SAMPLE_RATE_HZ, tmp_path)
    ring.write(piece)
    asr = load_config(None, environ={}).config.asr
    options = WhisperOptions.from_config(asr)
    backend = WhisperBackend(options=replace(options, engine=engine, blas_threads=1))
    service = TranscriptionService(backend)

    def request(number: int, preview: bool) -> TranscribeRequest:
        return TranscribeRequest(
            request_id=partial_request_id("main", 1, number), stream_id="main", segment_id=1,
            chunk_index=0, chunk_count=1, ring_name=ring.name, start_index=0,
            end_index=piece.size, is_partial=True, preview=preview,
        )  # fmt: skip

    try:
        preview = service.handle(request(1, preview=True))
        assert isinstance(preview, TranscribeResult), preview
        assert preview.details["audio_ctx"] == 250  # 5 s (0.68 s + 2 s of padding is less)
        assert not backend.preview_request and not backend.partial_request
        partial = service.handle(request(2, preview=False))
        assert isinstance(partial, TranscribeResult), partial
        assert partial.details["audio_ctx"] == 300  # the partials' 6 s floor
        assert preview.text == partial.text and "Maria" in preview.text, (preview, partial)
        # a preview's words skip the alignment pass (shown as text only), a partial's do not
        assert preview.details["word_times"] == 0.0 and "word_times" not in partial.details
        assert [w.text for w in preview.words] == [w.text for w in partial.words]
        assert all(0.0 <= w.start_s <= w.end_s <= 0.68 for w in preview.words), preview.words
        batched = answer_batch(service, TranscribeBatch("b1", (request(3, True), request(4, True))))
        assert [r.details["audio_ctx"] for r in batched.results] == [250, 250], batched
        assert [r.details["word_times"] for r in batched.results] == [0.0, 0.0], batched
        assert not backend.preview_request
    finally:
        service.close()
        ring.close()
