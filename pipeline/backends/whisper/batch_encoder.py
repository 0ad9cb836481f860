"""One encoder call over several windows (cross-stream batching, issue 11), for both engines.

The encoder is mostly per-frame linear layers (q/k/v, the attention output, the MLP, the two
convolutions as im2col matmuls, and the decoder's cross-attention keys and values): these run
once over the windows' frames stacked, so BLAS (or the GPU) sees one large matrix instead of B
small ones and the per-call overhead is paid once. Self-attention is per window.

No padding: each window keeps its own length F_i (its shortened audio context,
``audio_context.py``), the stacked matrix has sum(F_i) rows, and each window's numbers are the
ones a single ``engine.encode`` gives (same positions, same attention span), so a batched
request decodes to the same text as a single one. Padding every window to the longest would
cost the padding's frames and change the shorter windows' encoder output.

It reads the engines' packed weights (their private attributes): an engine of another kind is
encoded window by window.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from pipeline.backends.cancellation import checkpoint
from pipeline.backends.whisper.engine_base import WhisperEngine, check_mel_frames


def encode_batch(engine: WhisperEngine, mels: list[np.ndarray]) -> list[Any]:
    """The audio contexts of ``mels`` (each (n_mels, 2 F_i)), as ``engine.encode`` would give
    them one by one, from one stacked pass."""
    if len(mels) <= 1:
        return [engine.encode(mel) for mel in mels]
    frames = [check_mel_frames(mel, engine.dims) for mel in mels]
    if engine.name == "numpy":
        return _numpy_batch(engine, mels, frames)
    if engine.name == "mlx":
        return _mlx_batch(engine, mels, frames)
    return [engine.encode(mel) for mel in mels]


# -- numpy ---------------------------------------------------------------------------------------


def _im2col(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Columns of a conv1d with padding 1 over x (T, C): (T_out, kernel * C)."""
    padded = np.pad(x, ((1, 1), (0, 0)))
    out_len = (x.shape[0] + 2 - kernel) // stride + 1
    cols = np.stack(
        [padded[k : k + stride * (out_len - 1) + 1 : stride] for k in range(kernel)], axis=1
    )
    return cols.reshape(out_len, -1)


def _stacked_conv(
    xs: list[np.ndarray], weight: np.ndarray, bias: np.ndarray, stride: int
) -> list[np.ndarray]:
    """One matmul for the convolution of every window (weight (C_out, K, C_in))."""
    cols = [_im2col(x, weight.shape[1], stride) for x in xs]
    out = np.concatenate(cols) @ weight.reshape(weight.shape[0], -1).T + bias
    return np.split(out, np.cumsum([len(c) for c in cols])[:-1])


def _numpy_batch(engine: Any, mels: list[np.ndarray], frames: list[int]) -> list[Any]:
    from pipeline.backends.whisper import cpu_engine as ce

    xs = [np.ascontiguousarray(mel.T) for mel in mels]
    xs = [ce.gelu(x) for x in _stacked_conv(xs, *engine._conv1, stride=1)]
    xs = [ce.gelu(x) for x in _stacked_conv(xs, *engine._conv2, stride=2)]
    x = np.concatenate([x + engine._enc_pos[:f] for x, f in zip(xs, frames, strict=True)])
    bounds = np.cumsum([0, *frames])
    heads = engine._enc_heads
    for block in engine._enc_blocks:
        checkpoint()  # a cancelled batch stops between blocks, as engine.encode does
        qkv = ce.layer_norm(x, *block.attn_ln) @ block.qkv_w + block.qkv_b
        attended = []
        for start, end in itertools.pairwise(bounds):
            parts = np.split(qkv[start:end], 3, axis=-1)
            q, k, v = (ce._split_heads(part, heads) for part in parts)
            weights = ce.softmax_(q @ np.swapaxes(k, -1, -2))
            attended.append(ce._merge_heads(weights @ v))
        x = x + np.concatenate(attended) @ block.out_w + block.out_b
        hidden = ce.gelu(ce.layer_norm(x, *block.mlp_ln) @ block.mlp1_w + block.mlp1_b)
        x = x + hidden @ block.mlp2_w + block.mlp2_b
    features = ce.layer_norm(x, *engine._enc_ln)
    keys: list[list[np.ndarray]] = [[] for _ in frames]
    values: list[list[np.ndarray]] = [[] for _ in frames]
    for block in engine._dec_blocks:
        kv = features @ block.cross_kv_w + block.cross_kv_b
        for item, (start, end) in enumerate(itertools.pairwise(bounds)):
            k, v = np.split(kv[start:end], 2, axis=-1)
            k = np.swapaxes(ce._split_heads(k, engine._dec_heads), -1, -2)
            keys[item].append(np.ascontiguousarray(k))
            values[item].append(np.ascontiguousarray(ce._split_heads(v, engine._dec_heads)))
    return [ce.AudioContext(keys=k, values=v) for k, v in zip(keys, values, strict=True)]


# -- MLX -----------------------------------------------------------------------------------------


def _mlx_batch(engine: Any, mels: list[np.ndarray], frames: list[int]) -> list[Any]:
    """The same stacked pass in MLX arrays (uncompiled: the compiled single-window encoder is
    traced per window length, a batch would be traced per combination of lengths)."""
    from pipeline.backends.whisper.mlx_engine import MlxAudioContext

    mx = engine._mx
    xs = [mx.array(np.ascontiguousarray(mel.T)).astype(engine.dtype) for mel in mels]
    xs = [engine._gelu(engine._conv(x, engine._conv1, stride=1)) for x in xs]
    # conv2 as one matmul over every window's columns
    cols = []
    for x in xs:
        padded = mx.pad(x, [(1, 1), (0, 0)])
        out_len = (x.shape[0] - 1) // 2 + 1
        cols.append(
            mx.concatenate([padded[k : k + 2 * (out_len - 1) + 1 : 2] for k in range(3)], axis=1)
        )
    x = engine._gelu(mx.concatenate(cols) @ engine._conv2[0] + engine._conv2[1])
    bounds = [0, *np.cumsum(frames).tolist()]
    x = x + mx.concatenate([engine._enc_pos[:f] for f in frames])
    for block in engine._enc_blocks:
        qkv = engine._ln(x, block["attn_ln"]) @ block["qkv_w"] + block["qkv_b"]
        attended = []
        for start, end in itertools.pairwise(bounds):
            q, k, v = (
                engine._heads(part, engine._enc_heads)
                for part in mx.split(qkv[start:end], 3, axis=-1)
            )
            out = mx.fast.scaled_dot_product_attention(q[None], k[None], v[None], scale=1.0)
            attended.append(engine._merge(out[0]))
        x = x + mx.concatenate(attended) @ block["out_w"] + block["out_b"]
        x = engine._mlp(x, block)
    features = engine._ln(x, engine._enc_ln)
    contexts = []
    kvs = [features @ block["cross_kv_w"] + block["cross_kv_b"] for block in engine._dec_blocks]
    for start, end in itertools.pairwise(bounds):
        keys, values = [], []
        for kv in kvs:
            k, v = mx.split(kv[start:end], 2, axis=-1)
            keys.append(mx.contiguous(engine._heads(k, engine._dec_heads).swapaxes(-1, -2)))
            values.append(mx.contiguous(engine._heads(v, engine._dec_heads)))
        contexts.append((keys, values))
    mx.eval([array for keys, values in contexts for array in (*keys, *values)])
    return [MlxAudioContext(keys=keys, values=values) for keys, values in contexts]
