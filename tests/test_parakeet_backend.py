"""The parakeet backend on real audio with a tiny random-weight model (garbage text, real plumbing)."""

from __future__ import annotations

import gc
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipeline.backends.base import StreamUpdate
from pipeline.backends.mlx_runtime import import_mlx
from pipeline.backends.parakeet import SAMPLE_RATE, ParakeetBackend, ParakeetStreamingOptions
from pipeline.backends.parakeet_stream import MAX_OPEN_WORD_PIECES
from pipeline.backends.parakeet_testing import tiny_parakeet_config
from pipeline.errors import BackendError, ModelError
from pipeline.words import Transcription, Word

AUDIO_PATH = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dictation_dev.wav"
SEED = 1  # this seed's random model writes both word-starting and continuing pieces


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    samples, rate = sf.read(AUDIO_PATH, dtype="float32")
    assert rate == SAMPLE_RATE
    return samples[: 8 * SAMPLE_RATE]  # 8 s: several utterances, a few seconds of work


@pytest.fixture(scope="module")
def backend() -> ParakeetBackend:
    return ParakeetBackend.from_config(tiny_parakeet_config(), seed=SEED, cache_limit_mb=64)


def _assert_valid_words(words: tuple[Word, ...] | list[Word], duration_s: float) -> None:
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)
    for w in words:
        assert 0.0 <= w.start_s <= w.end_s <= duration_s + 1e-6, w
        assert 0.0 <= w.probability <= 1.0, w
        assert w.text.strip(), w


def _stream(
    session, audio: np.ndarray, block_samples: int
) -> tuple[list[StreamUpdate], Transcription]:
    updates = [
        session.feed(audio[i : i + block_samples]) for i in range(0, audio.size, block_samples)
    ]
    return updates, session.finish()


def test_offline_transcription_words(backend: ParakeetBackend, audio: np.ndarray) -> None:
    result = backend.transcribe(audio)
    assert result.words and result.duration_s == pytest.approx(audio.size / SAMPLE_RATE)
    _assert_valid_words(result.words, result.duration_s)
    assert result.text == "".join(w.text for w in result.words).strip()
    assert backend.transcribe(np.zeros(100, dtype=np.float32)).is_empty


def test_load_from_local_directory(
    backend: ParakeetBackend, audio: np.ndarray, tmp_path: Path
) -> None:
    (tmp_path / "config.json").write_text(json.dumps(tiny_parakeet_config()))
    backend.model.save_weights(str(tmp_path / "model.safetensors"))
    loaded = ParakeetBackend.load(tmp_path)
    assert loaded.model_name == tmp_path.name
    assert loaded.transcribe(audio[: 3 * SAMPLE_RATE]) == backend.transcribe(
        audio[: 3 * SAMPLE_RATE]
    )
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(ModelError, match=r"model\.safetensors"):
        ParakeetBackend.load(tmp_path)


@pytest.mark.parametrize("block_samples", [320, 1000, 4000])
def test_stream_drafts_become_finals(
    backend: ParakeetBackend, audio: np.ndarray, block_samples: int
) -> None:
    session = backend.open_stream()
    updates, result = _stream(session, audio, block_samples)
    duration_s = audio.size / SAMPLE_RATE
    seen_in_drafts: set[tuple[str, float]] = set()
    finals: list[Word] = []
    counts = [0]
    for update in updates:
        for word in update.finalized:  # every word finalized while streaming was a draft before
            assert (word.text, word.start_s) in seen_in_drafts, word
        seen_in_drafts |= {(w.text, w.start_s) for w in update.draft}
        finals += update.finalized
        counts.append(update.finalized_sample_count)
        if update.finalized and update.draft:
            assert update.draft[0].start_s >= update.finalized[-1].start_s
    assert finals, "nothing was finalized while streaming"
    assert counts == sorted(counts) and counts[-1] <= audio.size
    _assert_valid_words(finals, duration_s)  # monotonic across updates
    # finish() returns the whole segment: the streamed finals, then the flushed tail
    assert result.words[: len(finals)] == tuple(finals)
    _assert_valid_words(result.words, duration_s)
    assert result.duration_s == pytest.approx(duration_s)


def test_stream_result_independent_of_block_size(
    backend: ParakeetBackend, audio: np.ndarray
) -> None:
    clip = audio[: 4 * SAMPLE_RATE]
    results = [_stream(backend.open_stream(), clip, block)[1] for block in (480, 2000, 16000)]
    assert results[0] == results[1] == results[2]


def test_reset_gives_a_fresh_state(backend: ParakeetBackend, audio: np.ndarray) -> None:
    clip = audio[: 3 * SAMPLE_RATE]
    session = backend.open_stream()
    _, first = _stream(session, clip, 1600)
    session.feed(audio[5 * SAMPLE_RATE : 6 * SAMPLE_RATE])  # something else, then abandon it
    session.reset()
    assert session.samples_fed == 0 and session.encoded_frames == 0
    _, again = _stream(session, clip, 1600)
    assert again == first and first.words


def test_stream_state_stays_bounded(backend: ParakeetBackend, audio: np.ndarray) -> None:
    session = backend.open_stream(ParakeetStreamingOptions.preset("low-latency"))
    context = session.context
    for i in range(0, audio.size, 800):
        session.feed(audio[i : i + 800])
        held_frames = context.left_frames + context.step_frames + 1
        assert session._audio.size <= held_frames * context.frame_samples
        assert len(session._open_pieces) < MAX_OPEN_WORD_PIECES
        assert all(c.offset <= context.left_frames for c in session._caches)
    assert session.encoded_frames > context.left_frames  # the window did slide


@pytest.mark.parametrize("attention", ["local", "full"])
def test_attention_modes_run(backend: ParakeetBackend, audio: np.ndarray, attention: str) -> None:
    session = backend.open_stream(
        ParakeetStreamingOptions.preset("low-latency", attention=attention)
    )
    _, result = _stream(session, audio[: 3 * SAMPLE_RATE], 1600)
    assert result.words
    _assert_valid_words(result.words, 3.0)


def test_bfloat16_runs(audio: np.ndarray) -> None:
    options = ParakeetStreamingOptions(dtype="bfloat16")
    bf16 = ParakeetBackend.from_config(tiny_parakeet_config(), seed=SEED, options=options)
    clip = audio[: 3 * SAMPLE_RATE]
    offline = bf16.transcribe(clip)
    _assert_valid_words(offline.words, 3.0)
    _, streamed = _stream(bf16.open_stream(), clip, 1600)
    assert streamed.words
    _assert_valid_words(streamed.words, 3.0)
    with pytest.raises(BackendError, match="dtype"):
        bf16.open_stream(ParakeetStreamingOptions(dtype="float32"))


def test_min_confidence_drops_tokens(backend: ParakeetBackend, audio: np.ndarray) -> None:
    clip = audio[: 3 * SAMPLE_RATE]
    strict = backend.open_stream(ParakeetStreamingOptions(min_confidence=1.0))
    updates, result = _stream(strict, clip, 1600)
    assert not any(u.finalized or u.draft for u in updates)
    assert result.is_empty and not result.words
    _, lenient = _stream(
        backend.open_stream(ParakeetStreamingOptions(min_confidence=0.0)), clip, 1600
    )
    assert lenient.words


def test_ctc_model_transcribes_and_streams(audio: np.ndarray) -> None:
    ctc = ParakeetBackend.from_config(tiny_parakeet_config("ctc"), seed=SEED)
    clip = audio[: 3 * SAMPLE_RATE]
    _assert_valid_words(ctc.transcribe(clip).words, 3.0)
    _, streamed = _stream(ctc.open_stream(), clip, 1600)
    _assert_valid_words(streamed.words, 3.0)


def _memory_growth(backend: ParakeetBackend, audio: np.ndarray, segments: int) -> tuple[int, int]:
    """(MLX active+cache growth, RSS growth) in bytes over ``segments`` 0.5 s segments."""
    psutil = pytest.importorskip("psutil")
    process = psutil.Process()
    session = backend.open_stream()
    segment = audio[SAMPLE_RATE : SAMPLE_RATE + SAMPLE_RATE // 2]

    def run(count: int) -> None:
        for i in range(count):
            session.feed(segment[: 3000 + i % 7])
            session.feed(segment[3000 + i % 7 :])
            session.finish()

    def measure() -> tuple[int, int]:
        gc.collect()
        import_mlx().synchronize()  # queued work still holds arrays until it has run
        stats = backend.memory_stats()
        return stats.active_bytes + stats.cache_bytes, process.memory_info().rss

    run(30)  # warm-up: allocator pools, mask shapes, lazily built tables
    mlx_before, rss_before = measure()
    run(segments)
    mlx_after, rss_after = measure()
    return mlx_after - mlx_before, rss_after - rss_before


def test_memory_flat_over_100_segments(backend: ParakeetBackend, audio: np.ndarray) -> None:
    mlx_growth, rss_growth = _memory_growth(backend, audio, 100)
    assert mlx_growth <= 1 << 20
    assert rss_growth <= 16 << 20


@pytest.mark.slow
def test_memory_flat_over_1000_segments(backend: ParakeetBackend, audio: np.ndarray) -> None:
    mlx_growth, rss_growth = _memory_growth(backend, audio, 1000)
    assert mlx_growth <= 1 << 20
    assert rss_growth <= 16 << 20


def test_stream_encoder_matches_library_encoder(
    backend: ParakeetBackend, audio: np.ndarray
) -> None:
    """One uncached step over n frames is parakeet-mlx's own encoder pass over the same mel."""
    mx = pytest.importorskip("mlx.core")
    frames = 20
    clip = audio[SAMPLE_RATE : SAMPLE_RATE + frames * backend.frame_samples]
    wide = ParakeetStreamingOptions(left_context_s=0.0, chunk_s=10.0, right_context_s=0.0)
    outputs = {}
    for attention in ("full", "local"):
        session = backend.open_stream(replace(wide, attention=attention))
        session.feed(clip)
        outputs[attention] = session._encode(0, frames, cache_frames=0)
    mel = backend.log_mel(clip)[:, : frames * backend.subsampling_factor]
    expected, _ = backend.model.encoder(mel)
    assert mx.allclose(outputs["full"], expected, atol=1e-5).item()
    assert not mx.allclose(outputs["local"], expected, atol=1e-3).item()  # the band mask bites
    band = replace(wide, attention="local", left_context_s=10.0, right_context_s=10.0)
    local_wide = backend.open_stream(band)
    local_wide.feed(clip)
    wide_band = local_wide._encode(0, frames, cache_frames=0)  # band wider than the clip: full
    assert mx.allclose(wide_band, expected, atol=1e-5).item()
