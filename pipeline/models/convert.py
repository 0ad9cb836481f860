"""Conversion into mlx-whisper's directory layout, optionally quantized, cached by content.

The output is what ``mlx_whisper.load_models.load_model`` reads: ``config.json`` (the model
dimensions, plus ``"quantization": {"group_size": 64, "bits": b}`` when quantized) and
``weights.safetensors``; ``streamscribe.json`` records where it came from.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import ModelError
from pipeline.models import store
from pipeline.models.ct2_reader import read_ct2_model
from pipeline.models.ct2_whisper import whisper_checkpoint

logger = logging.getLogger(__name__)

CONVERTER_VERSION = "1"  # part of the cache key: bump when the output of a conversion changes
QUANT_GROUP_SIZE = 64  # weights per quantization group (mlx.nn.quantize)


def _quantize_predicate(group_size: int):
    import mlx.nn as nn

    def predicate(_path: str, module: Any) -> bool:
        if not isinstance(module, (nn.Linear, nn.Embedding)):
            return False
        return module.weight.shape[-1] % group_size == 0

    return predicate


def write_mlx_whisper(
    out_dir: Path,
    dims: dict[str, int],
    weights: dict[str, Any],
    bits: int | None,
    alignment_heads: tuple[tuple[int, int], ...] = (),
) -> None:
    """Write ``config.json`` and ``weights.safetensors`` (quantized to ``bits`` if given).

    ``weights`` maps mlx-whisper parameter names to numpy or MLX arrays, stored in their dtype.
    """
    from pipeline.mlx_blas import import_mlx

    mx = import_mlx()
    import mlx.nn as nn
    from mlx.utils import tree_flatten
    from mlx_whisper.whisper import ModelDimensions, Whisper

    try:
        model = Whisper(ModelDimensions(**dims))
        arrays = {name: mx.array(value) for name, value in weights.items()}
        # mlx-whisper keeps the timing heads as a parameter: load_model() restores them.
        if alignment_heads:
            model.alignment_heads = mx.array(np.asarray(alignment_heads, dtype=np.int64))
        arrays["alignment_heads"] = model.alignment_heads
        model.load_weights(list(arrays.items()), strict=True)
    except (TypeError, ValueError) as e:
        raise ModelError(f"weights do not fit a Whisper model of {dims}: {e}") from e
    config: dict[str, Any] = dict(dims, model_type="whisper")
    if bits:
        nn.quantize(
            model,
            group_size=QUANT_GROUP_SIZE,
            bits=bits,
            class_predicate=_quantize_predicate(QUANT_GROUP_SIZE),
        )
        config["quantization"] = {"group_size": QUANT_GROUP_SIZE, "bits": bits}
    flat = dict(tree_flatten(model.parameters()))
    mx.eval(flat)
    mx.save_safetensors(str(out_dir / "weights.safetensors"), flat, metadata={"format": "mlx"})
    (out_dir / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")


def convert_ctranslate2(
    src: str | Path, quantization: str = "none", name: str | None = None
) -> Path:
    """Convert a CTranslate2 Whisper directory once; return the cached MLX directory.

    The cache key is the content hash of ``model.bin`` and ``config.json``: a changed model
    converts again, an unchanged one is found without reading the weights twice.
    """
    src = Path(src).expanduser()
    bits = store.check_quantization(quantization)
    model_bin = src / "model.bin"
    if not model_bin.is_file():
        raise ModelError(f"{model_bin}: CTranslate2 model file not found")
    source_hash = store.content_hash_memo(
        [model_bin, src / "config.json"], salt=f"ct2-whisper-{CONVERTER_VERSION}"
    )
    final = store.cache_root() / store.entry_name(name or src.name, source_hash, quantization)
    if final.is_dir():
        return final

    def write(out_dir: Path) -> None:
        started_s = time.perf_counter()
        checkpoint = whisper_checkpoint(read_ct2_model(model_bin), src)
        write_mlx_whisper(
            out_dir, checkpoint.dims, checkpoint.weights, bits, checkpoint.alignment_heads
        )
        store.write_metadata(out_dir, {
            "name": name or src.name, "source": str(src), "source_format": "ctranslate2",
            "source_hash": source_hash, "quantization": quantization,
            "converter_version": CONVERTER_VERSION, **checkpoint.extra,
        })  # fmt: skip
        logger.info("converted %s (%s) in %.1f s", src, quantization,
                    time.perf_counter() - started_s)  # fmt: skip

    return store.install(final, write)


def is_mlx_dir(path: Path) -> bool:
    """A directory mlx-whisper can load: ``config.json`` and safetensors or npz weights."""
    return (path / "config.json").is_file() and (
        (path / "weights.safetensors").is_file() or (path / "weights.npz").is_file()
    )


def quantize_mlx_dir(src: Path, quantization: str) -> Path:
    """A quantized copy of an unquantized MLX Whisper directory, cached like a conversion."""
    bits = store.check_quantization(quantization)
    config_path = src / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{config_path}: unreadable model config ({e})") from e
    if not bits or "quantization" in config:
        return src  # nothing to do, or already quantized: use it as it is
    weights_path = next(p for p in (src / "weights.safetensors", src / "weights.npz") if p.exists())
    source_hash = store.content_hash_memo(
        [config_path, weights_path], salt=f"mlx-{CONVERTER_VERSION}"
    )
    final = store.cache_root() / store.entry_name(src.name, source_hash, quantization)

    def write(out_dir: Path) -> None:
        from pipeline.mlx_blas import import_mlx

        weights = import_mlx().load(str(weights_path))
        heads = weights.pop("alignment_heads", None)
        dims = {k: v for k, v in config.items() if k != "model_type"}
        pairs = tuple(map(tuple, np.asarray(heads).tolist())) if heads is not None else ()
        write_mlx_whisper(out_dir, dims, weights, bits, pairs)
        store.write_metadata(out_dir, {
            "name": src.name, "source": str(src), "source_format": "mlx",
            "source_hash": source_hash, "quantization": quantization,
            "converter_version": CONVERTER_VERSION,
        })  # fmt: skip

    return store.install(final, write)
