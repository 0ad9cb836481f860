"""The CPU engine computes what mlx-whisper's MLX model computes, and BLAS setup is sane."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.backends import mlx_runtime


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    mp = pytest.MonkeyPatch()
    mp.setenv("STREAMSCRIBE_CACHE_DIR", str(tmp_path_factory.mktemp("model-cache")))
    from pipeline.models import resolve_model

    yield resolve_model("", "none")
    mp.undo()


def test_cpu_engine_matches_mlx_forward_pass(model_dir):
    mx = mlx_runtime.import_mlx()
    from mlx.utils import tree_map
    from mlx_whisper.audio import N_SAMPLES
    from mlx_whisper.audio import log_mel_spectrogram as mlx_log_mel
    from mlx_whisper.load_models import load_model

    from pipeline.backends.whisper.cpu_engine import CpuWhisperEngine
    from pipeline.backends.whisper.features import log_mel_spectrogram
    from pipeline.backends.whisper.weights import load_numpy_weights, read_config

    rng = np.random.default_rng(0)
    t = np.arange(4 * 16_000) / 16_000
    audio = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
    audio = audio.astype(np.float32)
    mel = log_mel_spectrogram(audio)  # (80, 3000)
    reference_mel = np.array(mlx_log_mel(mx.array(audio), 80, padding=N_SAMPLES)[:3000]).T
    np.testing.assert_allclose(mel, reference_mel, atol=1e-4)

    model = load_model(str(model_dir))
    model.update(tree_map(lambda a: a.astype(mx.float32) if a.dtype == mx.float16 else a,
                          model.parameters()))  # fmt: skip
    tokens = np.array([[50257, 50362, 843, 523, 616]])
    expected = np.array(model.decoder(mx.array(tokens), model.encoder(mx.array(mel.T)[None]))[0])

    dims, _ = read_config(model_dir)
    engine = CpuWhisperEngine(dims, load_numpy_weights(model_dir))
    state = engine.new_state(engine.encode(mel), batch=1)
    first, _ = engine.decode(state, tokens[:, :3])  # prompt at once, then one token at a time
    steps = [engine.decode(state, tokens[:, i : i + 1])[0] for i in (3, 4)]
    logits = np.concatenate([first, *steps], axis=1)
    np.testing.assert_allclose(logits, expected, atol=2e-3, rtol=1e-3)


def test_worker_environment_divides_cores():
    env = mlx_runtime.worker_environment(blas_threads=0, workers=64)
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    assert mlx_runtime.worker_environment(blas_threads=3)["OPENBLAS_NUM_THREADS"] == "3"


_MATMUL_GFLOPS = (
    "import time\n"
    "from pipeline.backends import mlx_runtime\n"
    "setup = mlx_runtime.prepare_blas(1)\n"
    "mx = mlx_runtime.import_mlx()\n"
    "a = mx.random.normal((512, 512)); mx.eval(a @ a)\n"
    "best = float('inf')\n"
    "for _ in range(5):\n"
    "    t = time.perf_counter(); mx.eval(a @ a); best = min(best, time.perf_counter() - t)\n"
    "print(setup.library is not None, 2 * 512**3 / best / 1e9)\n"
)


def _matmul_gflops(library: str | None) -> tuple[bool, float]:
    """(OpenBLAS loaded, best GFLOP/s of a 512 x 512 MLX matmul) in a fresh process."""
    env = dict(os.environ)
    env.pop(mlx_runtime.BLAS_LIBRARY_ENV, None)
    if library is not None:
        env[mlx_runtime.BLAS_LIBRARY_ENV] = library
    out = subprocess.run([sys.executable, "-c", _MATMUL_GFLOPS], check=True, capture_output=True,
                         text=True, cwd=Path(__file__).parents[1], env=env).stdout.split()  # fmt: skip
    return out[0] == "True", float(out[1])


@pytest.mark.skipif(sys.platform != "linux", reason="OpenBLAS preload is a Linux measure")
def test_prepare_blas_before_mlx_makes_matmul_fast():
    """Side by side, so the figure holds on a loaded machine: MLX's matmul with the system
    OpenBLAS preloaded against the wheel's bundled BLAS (about 40x slower here; a fixed bound of
    20 GFLOP/s failed at 13 under load), best of five each."""
    loaded, fast = _matmul_gflops(None)
    if not loaded:
        pytest.skip("no system OpenBLAS installed")
    bundled_loaded, slow = _matmul_gflops("none")
    assert not bundled_loaded
    assert fast > 3 * slow, (fast, slow)  # GFLOP/s
