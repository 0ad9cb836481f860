"""One encoder call over several windows gives each window the numbers of its own call, on both
engines (numpy and MLX), windows of different shortened lengths included."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def model():
    from pipeline.backends.whisper.weights import load_numpy_weights, read_config
    from pipeline.models import resolve_model

    model_dir = resolve_model("", "none")
    dims, _ = read_config(model_dir)
    weights = load_numpy_weights(model_dir)
    weights.pop("alignment_heads", None)
    return dims, weights


@pytest.mark.parametrize("engine_name", ["numpy", "mlx"])
def test_batched_windows_match_their_single_calls(model, engine_name: str) -> None:
    from pipeline.backends.whisper.batch_encoder import encode_batch

    dims, weights = model
    if engine_name == "numpy":
        from pipeline.backends.whisper.cpu_engine import CpuWhisperEngine

        engine = CpuWhisperEngine(dims, weights)
    else:
        from pipeline.backends.whisper.mlx_engine import MlxWhisperEngine

        engine = MlxWhisperEngine(dims, weights, "float32")
    rng = np.random.default_rng(7)
    mels = [rng.standard_normal((dims.n_mels, 2 * f)).astype(np.float32) for f in (500, 650, 100)]
    batched = encode_batch(engine, mels)
    assert len(batched) == len(mels)
    for mel, context in zip(mels, batched, strict=True):
        single = engine.encode(mel)
        assert len(context.keys) == len(single.keys) == dims.n_text_layer
        pairs = zip([*context.keys, *context.values], [*single.keys, *single.values], strict=True)
        for got, want in pairs:
            got, want = np.asarray(got), np.asarray(want)
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert np.asarray(batched[0].keys[0]).shape[-1] == 500  # keys (H, hd, F): own length
    assert np.asarray(batched[2].values[0]).shape[-2] == 100


def test_a_bad_window_is_refused_naming_its_shape(model) -> None:
    from pipeline.backends.whisper.batch_encoder import encode_batch
    from pipeline.backends.whisper.cpu_engine import CpuWhisperEngine

    dims, weights = model
    engine = CpuWhisperEngine(dims, weights)
    good = np.zeros((dims.n_mels, 1000), np.float32)
    with pytest.raises(ValueError, match="mel frames must be even"):
        encode_batch(engine, [good, np.zeros((dims.n_mels, 999), np.float32)])
