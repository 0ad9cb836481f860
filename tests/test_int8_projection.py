"""The vocabulary projection with int8 weights (``whisper/int8_projection.py``,
``asr.projection_bits``): its numbers stay within the rounding it makes, and on real speech the
real model decodes the same words with it as with float32, on both engines."""

from __future__ import annotations

import numpy as np
import pytest

from config.loader import ConfigError, load_config
from pipeline.backends.whisper.int8_projection import (
    BLOCK_SIZE,
    RESCORED,
    Int8Projection,
    dequantized,
    quantize_columns,
)
from pipeline.backends.whisper_mlx import WhisperOptions
from tests.whisper_audio import cache_dir, load_audio  # noqa: F401


def test_quantized_columns_round_each_weight_to_within_half_a_step():
    rng = np.random.default_rng(1)
    weights = rng.standard_normal((96, 40)).astype(np.float32)
    weights[:, 3] = 0.0  # an all-zero column stays zero
    codes, scales = quantize_columns(weights)
    assert codes.shape == (40, 96 // BLOCK_SIZE, BLOCK_SIZE) and codes.dtype == np.uint8
    error = np.abs(dequantized(codes, scales) - weights)
    step = np.repeat(scales, BLOCK_SIZE, axis=1).T  # (K, N): each weight's block scale
    assert np.all(error <= step / 2 + 1e-7)
    assert not dequantized(codes, scales)[:, 3].any()


def test_rows_not_a_multiple_of_the_block_are_refused():
    with pytest.raises(ValueError, match="multiple of the block size"):
        quantize_columns(np.ones((33, 4), np.float32))


def test_the_product_is_that_of_the_rounded_weights_but_the_best_columns_are_exact():
    """onnxruntime's product against numpy's over the same int8 weights: only the input's own
    int8 rounding (accuracy level 4) separates them, except in each row's ``RESCORED`` best
    columns below ``choosable``, which are float32's; an empty input gives an empty output."""
    rng = np.random.default_rng(2)
    embedding = (0.05 * rng.standard_normal((3000, 384))).astype(np.float32)
    projection = Int8Projection(embedding, choosable=2900)
    rows = rng.standard_normal((3, 384)).astype(np.float32)
    exact = rows @ embedding.T
    rounded = rows @ dequantized(*quantize_columns(embedding.T))
    got = projection(rows)
    assert got.shape == (3, 3000) and got.dtype == np.float32
    np.testing.assert_allclose(got, rounded, atol=0.02 * float(np.abs(rounded).max()))
    for row in range(3):
        best = np.argsort(exact[row, :2900])[-RESCORED:]
        np.testing.assert_allclose(got[row, best], exact[row, best], rtol=1e-5, atol=1e-5)
        assert np.argmax(got[row, :2900]) == np.argmax(exact[row, :2900])
        assert not np.allclose(got[row, 2900:], exact[row, 2900:], atol=1e-5)  # not rescored
    assert projection(np.zeros((0, 384), np.float32)).shape == (0, 3000)


def test_rescoring_makes_a_near_tie_go_the_float32_way():
    """Two columns whose float32 logits differ by less than the int8 rounding: here (this seed)
    the int8 product alone ranks column 10 first, float32 column 11 (by 0.005); rescored, the
    float32 winner with float32's margin."""
    rng = np.random.default_rng(51)
    embedding = (0.05 * rng.standard_normal((64, 384))).astype(np.float32)
    row = rng.standard_normal(384).astype(np.float32)
    embedding[10] = row / np.linalg.norm(row) * 0.5
    embedding[11] = embedding[10] + (0.002 * rng.standard_normal(384)).astype(np.float32)
    exact = embedding @ row
    assert np.argmax(exact) == 11 and 0 < exact[11] - exact[10] < 0.01
    logits = Int8Projection(embedding)(row[None])[0]
    assert np.argmax(logits) == 11
    assert logits[11] - logits[10] == pytest.approx(exact[11] - exact[10], abs=1e-5)


def test_the_config_key_takes_32_or_8_bits():
    assert load_config().config.asr.projection_bits == 8 == WhisperOptions().projection_bits
    assert load_config(cli_overrides={"asr.projection_bits": "32"}).config.asr.projection_bits == 32
    with pytest.raises(ConfigError, match=r"asr\.projection_bits"):
        load_config(cli_overrides={"asr.projection_bits": "16"})


@pytest.mark.parametrize("engine", ["numpy", "mlx"])
def test_real_speech_decodes_the_same_words_with_int8_weights(cache_dir, engine):  # noqa: F811
    """tiny.en on jfk.flac and on 12 s of the monologue, float32 against 8-bit projection: the
    same text, and every token's probability within a few points."""
    from pipeline.backends.whisper_mlx import WhisperBackend

    pieces = [load_audio("jfk.flac"), load_audio("monologue_dev.wav")[16_000 * 10 : 16_000 * 22]]
    results = {}
    for bits in (32, 8):
        options = WhisperOptions(engine=engine, blas_threads=1, projection_bits=bits)
        backend = WhisperBackend(options=options)
        try:
            results[bits] = [backend.transcribe(piece) for piece in pieces]
        finally:
            backend.close()
    for exact, rounded in zip(results[32], results[8], strict=True):
        assert rounded.text == exact.text and exact.text
        probabilities = [
            (w.probability, v.probability) for w, v in zip(exact.words, rounded.words, strict=True)
        ]
        assert max(abs(a - b) for a, b in probabilities) < 0.05


def test_an_engine_refuses_other_widths():
    from pipeline.backends.whisper.cpu_engine import CpuWhisperEngine

    with pytest.raises(ValueError, match="projection_bits must be 32 or 8"):
        CpuWhisperEngine(None, {}, projection_bits=4)
