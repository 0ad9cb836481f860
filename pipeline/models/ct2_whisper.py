"""Map a CTranslate2 ``WhisperSpec`` onto mlx-whisper's parameter names and dimensions.

CTranslate2 fuses projections: self-attention ``linear_0`` stacks q, k, v (3·d × d);
cross-attention ``linear_0`` is q and ``linear_1`` stacks k, v; Whisper's key projection has no
bias (CTranslate2 stores zeros there). Convolutions are (out, in, kernel) there and
(out, kernel, in) in MLX. ``decoder/projection`` is an alias of the token embedding.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import ModelError
from pipeline.models.ct2_reader import Ct2Model

logger = logging.getLogger(__name__)

WHISPER_SPEC = "WhisperSpec"


@dataclass(frozen=True, slots=True)
class WhisperCheckpoint:
    """A Whisper model in mlx-whisper's naming, as numpy arrays."""

    dims: dict[str, int]  # mlx_whisper.whisper.ModelDimensions fields
    weights: dict[str, np.ndarray]  # "encoder.blocks.0.attn.query.weight" -> array
    alignment_heads: tuple[tuple[int, int], ...] = ()  # (decoder layer, head) pairs for timing
    extra: dict[str, Any] = field(default_factory=dict)  # suppress ids etc. from the ct2 config


def _layer_count(variables: dict[str, np.ndarray], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"/layer_(\d+)/")
    indices = {int(m.group(1)) for name in variables if (m := pattern.match(name))}
    return max(indices) + 1 if indices else 0


def _scalar(variables: dict[str, np.ndarray], name: str, path: Path) -> int:
    if name not in variables:
        raise ModelError(f"{path}: CTranslate2 Whisper model lacks {name!r}")
    return int(np.asarray(variables[name]).reshape(-1)[0])


class _Mapper:
    """Collects mlx-whisper weights from CTranslate2 variables, naming the file in errors."""

    def __init__(self, variables: dict[str, np.ndarray], path: Path) -> None:
        self.variables = variables
        self.path = path
        self.weights: dict[str, np.ndarray] = {}

    def get(self, name: str) -> np.ndarray:
        """A variable, int8/int16 weights dequantized with their per-row ``_scale``."""
        try:
            value = self.variables[name]
        except KeyError as e:
            raise ModelError(f"{self.path}: CTranslate2 Whisper model lacks {name!r}") from e
        scale = self.variables.get(f"{name}_scale")
        if scale is not None and value.dtype in (np.int8, np.int16):
            rows = value.astype(np.float32).reshape(value.shape[0], -1)
            scale = np.asarray(scale, np.float32).reshape(-1, 1)
            value = (rows / scale).reshape(value.shape)
        return value

    def linear(self, target: str, source: str, bias: bool = True) -> None:
        self.weights[f"{target}.weight"] = self.get(f"{source}/weight")
        if bias:
            self.weights[f"{target}.bias"] = self.get(f"{source}/bias")

    def layer_norm(self, target: str, source: str) -> None:
        self.weights[f"{target}.weight"] = self.get(f"{source}/gamma")
        self.weights[f"{target}.bias"] = self.get(f"{source}/beta")

    def split_linear(self, targets: tuple[str, ...], source: str) -> None:
        """A fused projection of ``len(targets)`` stacked d×d blocks; the key gets no bias."""
        weight, bias = self.get(f"{source}/weight"), self.get(f"{source}/bias")
        parts = len(targets)
        if weight.shape[0] % parts or bias.shape[0] != weight.shape[0]:
            raise ModelError(f"{self.path}: {source} has shape {weight.shape}, not {parts} blocks")
        for target, w, b in zip(
            targets, np.split(weight, parts), np.split(bias, parts), strict=True
        ):
            self.weights[f"{target}.weight"] = w
            if not target.endswith(".key"):
                self.weights[f"{target}.bias"] = b
            elif np.any(b):
                logger.warning("%s: nonzero key bias in %s dropped", self.path, source)

    def conv(self, target: str, source: str) -> None:
        self.weights[f"{target}.weight"] = np.ascontiguousarray(
            self.get(f"{source}/weight").transpose(0, 2, 1)
        )
        self.weights[f"{target}.bias"] = self.get(f"{source}/bias")

    def block(self, target: str, source: str, cross: bool) -> None:
        self.split_linear(
            (f"{target}.attn.query", f"{target}.attn.key", f"{target}.attn.value"),
            f"{source}/self_attention/linear_0",
        )
        self.linear(f"{target}.attn.out", f"{source}/self_attention/linear_1")
        self.layer_norm(f"{target}.attn_ln", f"{source}/self_attention/layer_norm")
        if cross:
            self.linear(f"{target}.cross_attn.query", f"{source}/attention/linear_0")
            self.split_linear(
                (f"{target}.cross_attn.key", f"{target}.cross_attn.value"),
                f"{source}/attention/linear_1",
            )
            self.linear(f"{target}.cross_attn.out", f"{source}/attention/linear_2")
            self.layer_norm(f"{target}.cross_attn_ln", f"{source}/attention/layer_norm")
        self.linear(f"{target}.mlp1", f"{source}/ffn/linear_0")
        self.linear(f"{target}.mlp2", f"{source}/ffn/linear_1")
        self.layer_norm(f"{target}.mlp_ln", f"{source}/ffn/layer_norm")


def _read_ct2_config(model_dir: Path) -> dict[str, Any]:
    config_path = model_dir / "config.json"
    if not config_path.exists():
        return {}
    try:
        return json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{config_path}: unreadable CTranslate2 config ({e})") from e


def whisper_checkpoint(model: Ct2Model, model_dir: Path) -> WhisperCheckpoint:
    """Turn a read ``model.bin`` (from ``model_dir``) into mlx-whisper weights and dimensions."""
    path = model_dir / "model.bin"
    if model.spec_name != WHISPER_SPEC:
        raise ModelError(f"{path}: spec {model.spec_name!r} is not a Whisper model")
    variables = model.variables
    mapper = _Mapper(variables, path)
    encoder_layers = _layer_count(variables, "encoder")
    decoder_layers = _layer_count(variables, "decoder")
    if not encoder_layers or not decoder_layers:
        raise ModelError(f"{path}: no encoder or decoder layers")

    mapper.conv("encoder.conv1", "encoder/conv1")
    mapper.conv("encoder.conv2", "encoder/conv2")
    for i in range(encoder_layers):
        mapper.block(f"encoder.blocks.{i}", f"encoder/layer_{i}", cross=False)
    mapper.layer_norm("encoder.ln_post", "encoder/layer_norm")
    mapper.weights["decoder.token_embedding.weight"] = mapper.get("decoder/embeddings/weight")
    mapper.weights["decoder.positional_embedding"] = mapper.get(
        "decoder/position_encodings/encodings"
    )
    for i in range(decoder_layers):
        mapper.block(f"decoder.blocks.{i}", f"decoder/layer_{i}", cross=True)
    mapper.layer_norm("decoder.ln", "decoder/layer_norm")

    embedding = mapper.weights["decoder.token_embedding.weight"]
    conv1 = mapper.weights["encoder.conv1.weight"]  # (n_state, kernel, n_mels)
    dims = {
        "n_mels": int(conv1.shape[2]),
        "n_audio_ctx": int(mapper.get("encoder/position_encodings/encodings").shape[0]),
        "n_audio_state": int(conv1.shape[0]),
        "n_audio_head": _scalar(variables, "encoder/num_heads", path),
        "n_audio_layer": encoder_layers,
        "n_vocab": int(embedding.shape[0]),
        "n_text_ctx": int(mapper.weights["decoder.positional_embedding"].shape[0]),
        "n_text_state": int(embedding.shape[1]),
        "n_text_head": _scalar(variables, "decoder/num_heads", path),
        "n_text_layer": decoder_layers,
    }
    config = _read_ct2_config(model_dir)
    heads = tuple((int(layer), int(head)) for layer, head in config.get("alignment_heads", ()))
    extra = {
        k: config[k] for k in ("suppress_ids", "suppress_ids_begin", "lang_ids") if k in config
    }
    return WhisperCheckpoint(dims=dims, weights=mapper.weights, alignment_heads=heads, extra=extra)
