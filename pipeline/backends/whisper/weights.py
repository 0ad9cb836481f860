"""Load an MLX Whisper directory into float32 numpy arrays for the CPU engine.

Quantized weights are dequantized (the 8/4-bit rounding stays in the numbers, so accuracy is the
quantized model's); ``bfloat16``/``float16`` round the weights to that type.

The result is cached on disk (``pipeline.backends.whisper.weight_cache``): one flat file per model
directory and dtype, memory-mapped read-only on the next load, keyed by the weights file's path,
size and modification time, so a restarted or extra worker skips the MLX load, dequantization and
conversion (and its pages are shared between workers).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.backends.whisper import weight_cache
from pipeline.errors import ModelError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Dims:
    """mlx-whisper's ``ModelDimensions``."""

    n_mels: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_vocab: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int


def read_config(model_dir: Path) -> tuple[Dims, dict | None]:
    """The dimensions and the ``quantization`` entry of ``config.json``."""
    path = model_dir / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        quantization = config.pop("quantization", None)
        config.pop("model_type", None)
        return Dims(**config), quantization
    except (OSError, ValueError, TypeError) as e:
        raise ModelError(f"{path}: not an mlx-whisper config ({e})") from e


def weights_file(model_dir: Path) -> Path:
    """The model's weights: ``weights.safetensors``, else ``weights.npz``."""
    path = model_dir / "weights.safetensors"
    return path if path.exists() else model_dir / "weights.npz"


def load_numpy_weights(
    model_dir: Path, dtype: str = "float32", cache: bool = True
) -> dict[str, np.ndarray]:
    """Every parameter of the model as float32 numpy (``alignment_heads`` as int64).

    ``cache``: read the converted arrays from the on-disk cache (read-only memory maps) when an
    entry for the current weights file exists, else convert and write one (a cache that cannot
    be written is logged and skipped)."""
    if not cache:
        return convert_numpy_weights(model_dir, dtype)
    return weight_cache.load_or_convert(
        model_dir, weights_file(model_dir), dtype, lambda: convert_numpy_weights(model_dir, dtype)
    )


def convert_numpy_weights(model_dir: Path, dtype: str = "float32") -> dict[str, np.ndarray]:
    """``load_numpy_weights`` without the cache: MLX load, dequantize, round, to numpy."""
    from pipeline.backends.mlx_runtime import import_mlx

    mx = import_mlx()
    _, quantization = read_config(model_dir)
    path = weights_file(model_dir)
    try:
        raw = mx.load(str(path))
    except Exception as e:  # mlx raises RuntimeError/ValueError for missing or corrupt files
        raise ModelError(f"{path}: cannot load weights ({e})") from e
    round_to = {"bfloat16": mx.bfloat16, "float16": mx.float16}.get(dtype)
    weights: dict[str, np.ndarray] = {}
    for name, value in raw.items():
        if name.endswith((".scales", ".biases")):
            continue
        if name == "alignment_heads":
            weights[name] = np.array(value).astype(np.int64)
            continue
        prefix = name.removesuffix(".weight")
        if quantization and f"{prefix}.scales" in raw:
            value = mx.dequantize(
                value, raw[f"{prefix}.scales"], raw[f"{prefix}.biases"],
                group_size=quantization["group_size"], bits=quantization["bits"],
            )  # fmt: skip
        if round_to is not None:
            value = value.astype(round_to)
        weights[name] = np.array(value.astype(mx.float32))
    del raw
    mx.clear_cache()
    return weights
