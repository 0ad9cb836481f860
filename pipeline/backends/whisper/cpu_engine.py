"""Whisper's forward pass in numpy + BLAS: the fast engine on CPU-only machines.

Why not MLX on a CPU: the ``mlx[cpu]`` wheel runs transcendental element-wise ops (exp, erf)
without SIMD and pays ~10 µs per op; measured on the 2-core x86 machines, the tiny.en encoder took
1.1 s of CPU per 30 s window in MLX and 0.5 s here, one decoder step 17 ms in MLX and 4.2 ms here.
The weights are the MLX directory's (dequantized when quantized); the numbers match MLX's forward
pass to ~1e-4 (``tests/test_whisper_engine.py``).

Layouts: projections are kept transposed and contiguous (``x @ w_t``), the query scale is folded
into the weights, q/k/v are one fused matmul, cross-attention keys and values are computed once
per window, and the self-attention cache is preallocated for the whole text context.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.backends.cancellation import checkpoint
from pipeline.backends.whisper.engine_base import (
    WhisperEngine,
    check_mel_frames,
    check_projection_bits,
    choosable_tokens,
    row_starts,
)
from pipeline.backends.whisper.weights import Dims

_LN_EPS = 1e-5
# Stacked decoder rows (``decode_rows``): OpenBLAS's sgemm pays a fixed packing cost that makes a
# few rows cost more than as many matrix-vector products (measured on the 2-core x86 machine,
# 1 thread: (R, 384) @ (384, 1536) 0.035 ms for one row, 0.18-0.21 ms as gemm for R = 2-4 and
# 0.07-0.14 ms row by row; the (384, 51864) vocabulary projection 3.6 ms for one row, 10.8-12 ms
# as gemm for R = 2-8). So a few rows go row by row, and the projection row by row over column
# blocks that stay in cache for the next row: 5.2 / 6.2 / 8.0 / 9.6 ms for R = 2 / 3 / 4 / 6.
_ROWS_GEMV_MAX = 4  # per-row products up to this many rows, one sgemm above
_PROJECTION_ROWS_MAX = 6
_PROJECTION_BLOCK = 2048  # vocabulary columns per block: 384 x 2048 floats = 3 MB


def erf(x: np.ndarray) -> np.ndarray:
    """erf to 1.5e-7 (Abramowitz & Stegun 7.1.26), vectorised; numpy has no erf."""
    return _erf_into(np.abs(x), x)


def _erf_into(ax: np.ndarray, x: np.ndarray) -> np.ndarray:
    """erf(x) written over ``ax`` (|x|, float32; consumed): the formula of ``erf`` with two
    temporaries instead of ~12, each op in the same order on float32 (the same numbers). On the
    encoder's (T, 1536) MLP activations the allocations cost as much as the arithmetic."""
    t = ax * np.float32(0.3275911)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(coefficient)
        poly *= t
    np.square(ax, out=ax)
    np.negative(ax, out=ax)
    np.exp(ax, out=ax)
    poly *= ax
    np.subtract(np.float32(1.0), poly, out=poly)
    return np.copysign(poly, x, out=poly)


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, as Whisper was trained with; ``x`` float32 is left as it was."""
    y = x * np.float32(0.7071067811865476)
    out = _erf_into(np.abs(y), y)
    out += np.float32(1.0)
    out *= x
    out *= np.float32(0.5)
    return out


def layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    variance = np.square(centred).mean(-1, keepdims=True)
    return centred / np.sqrt(variance + _LN_EPS) * gain + bias


def softmax_(scores: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in place."""
    scores -= scores.max(-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(-1, keepdims=True)
    return scores


def rows_matmul(x: np.ndarray, w: np.ndarray, max_rows: int = _ROWS_GEMV_MAX) -> np.ndarray:
    """x (R, k) @ w (k, n) for a few stacked decoder rows: one gemv per row up to ``max_rows``
    rows (each row's numbers as a single row's), one sgemm above."""
    if len(x) == 1 or len(x) > max_rows:
        return x @ w
    out = np.empty((len(x), w.shape[1]), np.float32)
    for row in range(len(x)):
        np.matmul(x[row], w, out=out[row])
    return out


def project_rows(x: np.ndarray, projection: np.ndarray) -> np.ndarray:
    """x (R, d) @ projection (d, V): a few rows gemv by gemv over column blocks, so each block of
    the projection is read from memory once for all rows."""
    if len(x) == 1 or len(x) > _PROJECTION_ROWS_MAX:
        return x @ projection
    out = np.empty((len(x), projection.shape[1]), np.float32)
    for start in range(0, projection.shape[1], _PROJECTION_BLOCK):
        block = projection[:, start : start + _PROJECTION_BLOCK]
        for row in range(len(x)):
            np.matmul(x[row], block, out=out[row, start : start + block.shape[1]])
    return out


def sinusoids(length: int, channels: int) -> np.ndarray:
    """Whisper's fixed encoder positions (length, channels)."""
    increment = np.log(10000) / (channels // 2 - 1)
    inv = np.exp(-increment * np.arange(channels // 2))
    scaled = np.arange(length)[:, None] * inv[None, :]
    return np.concatenate([np.sin(scaled), np.cos(scaled)], axis=1).astype(np.float32)


@dataclass(frozen=True, slots=True)
class _Block:
    """One residual block's weights, pre-packed for ``x @ w``."""

    attn_ln: tuple[np.ndarray, np.ndarray]
    qkv_w: np.ndarray  # (d, 3d): q (scaled by 1/sqrt(head_dim)), k, v
    qkv_b: np.ndarray  # (3d,)
    out_w: np.ndarray  # (d, d)
    out_b: np.ndarray
    mlp_ln: tuple[np.ndarray, np.ndarray]
    mlp1_w: np.ndarray  # (d, 4d)
    mlp1_b: np.ndarray
    mlp2_w: np.ndarray  # (4d, d)
    mlp2_b: np.ndarray
    cross_ln: tuple[np.ndarray, np.ndarray] | None = None
    cross_q_w: np.ndarray | None = None  # (d, d), scaled
    cross_q_b: np.ndarray | None = None
    cross_kv_w: np.ndarray | None = None  # (d, 2d)
    cross_kv_b: np.ndarray | None = None
    cross_out_w: np.ndarray | None = None
    cross_out_b: np.ndarray | None = None


def _t(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(w.T)


def pack_block(w: dict[str, np.ndarray], prefix: str, scale: float, cross: bool) -> _Block:
    def get(name: str) -> np.ndarray:
        return w[f"{prefix}.{name}"]

    d = get("attn.query.weight").shape[0]
    zeros = np.zeros(d, np.float32)
    extra = {}
    if cross:
        extra = {
            "cross_ln": (get("cross_attn_ln.weight"), get("cross_attn_ln.bias")),
            "cross_q_w": _t(get("cross_attn.query.weight") * scale),
            "cross_q_b": get("cross_attn.query.bias") * scale,
            "cross_kv_w": _t(np.concatenate(
                [get("cross_attn.key.weight"), get("cross_attn.value.weight")])),
            "cross_kv_b": np.concatenate([zeros, get("cross_attn.value.bias")]),
            "cross_out_w": _t(get("cross_attn.out.weight")),
            "cross_out_b": get("cross_attn.out.bias"),
        }  # fmt: skip
    return _Block(
        attn_ln=(get("attn_ln.weight"), get("attn_ln.bias")),
        qkv_w=_t(np.concatenate([
            get("attn.query.weight") * scale, get("attn.key.weight"), get("attn.value.weight")])),
        qkv_b=np.concatenate([get("attn.query.bias") * scale, zeros, get("attn.value.bias")]),
        out_w=_t(get("attn.out.weight")),
        out_b=get("attn.out.bias"),
        mlp_ln=(get("mlp_ln.weight"), get("mlp_ln.bias")),
        mlp1_w=_t(get("mlp1.weight")),
        mlp1_b=get("mlp1.bias"),
        mlp2_w=_t(get("mlp2.weight")),
        mlp2_b=get("mlp2.bias"),
        **extra,
    )  # fmt: skip


def _split_heads(x: np.ndarray, n_head: int) -> np.ndarray:
    """(..., T, d) -> (..., H, T, d/H)."""
    *lead, length, d = x.shape
    return np.moveaxis(x.reshape(*lead, length, n_head, d // n_head), -2, -3)


def _merge_heads(x: np.ndarray) -> np.ndarray:
    """(..., H, T, hd) -> (..., T, H*hd)."""
    x = np.moveaxis(x, -3, -2)
    return x.reshape(*x.shape[:-2], -1)


@dataclass(slots=True)
class AudioContext:
    """One encoded window: per decoder layer, cross-attention keys and values."""

    keys: list[np.ndarray]  # per layer (H, hd, n_audio_ctx)
    values: list[np.ndarray]  # per layer (H, n_audio_ctx, hd)


@dataclass(slots=True)
class DecoderState:
    """Self-attention cache of a batch of hypotheses over one window."""

    audio: AudioContext
    keys: np.ndarray  # (L, B, H, n_text_ctx, hd)
    values: np.ndarray  # (L, B, H, n_text_ctx, hd)
    length: int = 0  # tokens already in the cache


class CpuWhisperEngine(WhisperEngine):
    """Encoder and incremental decoder of one Whisper model in numpy float32."""

    name = "numpy"

    def __init__(
        self, dims: Dims, weights: dict[str, np.ndarray], projection_bits: int = 32
    ) -> None:
        check_projection_bits(projection_bits)
        self.dims = dims
        self._enc_heads, self._dec_heads = dims.n_audio_head, dims.n_text_head
        enc_scale = (dims.n_audio_state // dims.n_audio_head) ** -0.5
        dec_scale = (dims.n_text_state // dims.n_text_head) ** -0.5
        self._conv1 = (weights["encoder.conv1.weight"], weights["encoder.conv1.bias"])
        self._conv2 = (weights["encoder.conv2.weight"], weights["encoder.conv2.bias"])
        self._enc_pos = sinusoids(dims.n_audio_ctx, dims.n_audio_state)
        self._enc_blocks = [
            pack_block(weights, f"encoder.blocks.{i}", enc_scale, cross=False)
            for i in range(dims.n_audio_layer)
        ]
        self._enc_ln = (weights["encoder.ln_post.weight"], weights["encoder.ln_post.bias"])
        self._embedding = weights["decoder.token_embedding.weight"]  # (V, d)
        self._int8_projection = None  # projection_bits 8: the logits from int8 weights
        if projection_bits == 8:
            from pipeline.backends.whisper.int8_projection import Int8Projection

            self._int8_projection = Int8Projection(self._embedding, choosable_tokens(dims))
        else:  # (d, V): the logits matmul, never transposed again
            self._projection = _t(self._embedding)
        self._dec_pos = weights["decoder.positional_embedding"]
        self._dec_blocks = [
            pack_block(weights, f"decoder.blocks.{i}", dec_scale, cross=True)
            for i in range(dims.n_text_layer)
        ]
        self._dec_ln = (weights["decoder.ln.weight"], weights["decoder.ln.bias"])

    # -- encoder -------------------------------------------------------------------------------

    @staticmethod
    def _conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
        """Conv1d, padding 1, as one matmul: x (T, C_in), weight (C_out, K, C_in)."""
        kernel = weight.shape[1]
        padded = np.pad(x, ((1, 1), (0, 0)))
        out_len = (x.shape[0] + 2 - kernel) // stride + 1
        cols = np.stack(
            [padded[k : k + stride * (out_len - 1) + 1 : stride] for k in range(kernel)], axis=1
        )
        return cols.reshape(out_len, -1) @ weight.reshape(weight.shape[0], -1).T + bias

    def encode(self, mel: np.ndarray) -> AudioContext:
        """Encode one window: mel (n_mels, 2 F) -> cross-attention keys/values over F frames.

        F = n_audio_ctx (1500) is the full 30 s window; a shorter mel (the window's first 2 F
        frames) is encoded with the first F positions (whisper.cpp's ``audio_ctx``).
        """
        x = self.encoder_input(mel)
        for block in self._enc_blocks:
            checkpoint()  # a cancelled request stops between blocks (pipeline.backends.cancellation)
            x = self._encoder_block(x, block)
        return self.cross_context(layer_norm(x, *self._enc_ln))

    def encoder_input(self, mel: np.ndarray) -> np.ndarray:
        """The first encoder block's input for ``mel`` (n_mels, 2 F): both convolutions and the
        first F positions, (F, d)."""
        frames = check_mel_frames(mel, self.dims)
        x = gelu(self._conv(np.ascontiguousarray(mel.T), *self._conv1, stride=1))
        x = gelu(self._conv(x, *self._conv2, stride=2))
        return x + self._enc_pos[:frames]

    def cross_context(self, features: np.ndarray) -> AudioContext:
        """The decoder's cross-attention keys and values over encoder ``features`` (F, d)."""
        keys, values = [], []
        for block in self._dec_blocks:
            kv = features @ block.cross_kv_w + block.cross_kv_b
            k, v = np.split(kv, 2, axis=-1)
            keys.append(np.ascontiguousarray(np.swapaxes(_split_heads(k, self._dec_heads), -1, -2)))
            values.append(np.ascontiguousarray(_split_heads(v, self._dec_heads)))
        return AudioContext(keys=keys, values=values)

    def _encoder_block(self, x: np.ndarray, block: _Block) -> np.ndarray:
        qkv = layer_norm(x, *block.attn_ln) @ block.qkv_w + block.qkv_b
        q, k, v = (_split_heads(part, self._enc_heads) for part in np.split(qkv, 3, axis=-1))
        weights = softmax_(q @ np.swapaxes(k, -1, -2))  # (H, T, T)
        x = x + _merge_heads(weights @ v) @ block.out_w + block.out_b
        hidden = gelu(layer_norm(x, *block.mlp_ln) @ block.mlp1_w + block.mlp1_b)
        return x + hidden @ block.mlp2_w + block.mlp2_b

    # -- decoder -------------------------------------------------------------------------------

    def new_state(self, audio: AudioContext, batch: int) -> DecoderState:
        d, heads = self.dims.n_text_state, self._dec_heads
        shape = (self.dims.n_text_layer, batch, heads, self.dims.n_text_ctx, d // heads)
        return DecoderState(audio, np.zeros(shape, np.float32), np.zeros(shape, np.float32))

    def decode(
        self,
        state: DecoderState,
        tokens: np.ndarray,
        capture_heads: np.ndarray | None = None,
        positions: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        count = tokens.shape[1]
        start, end = state.length, state.length + count
        if end > self.dims.n_text_ctx:
            raise ValueError(f"text context full ({end} > {self.dims.n_text_ctx} tokens)")
        x = self._embedding[tokens] + self._dec_pos[start:end]  # (B, T, d)
        causal = np.triu(np.full((count, end), -np.inf, np.float32), k=start + 1)
        captured: list[np.ndarray] = []
        for layer, block in enumerate(self._dec_blocks):
            qkv = layer_norm(x, *block.attn_ln) @ block.qkv_w + block.qkv_b
            q, k, v = (_split_heads(part, self._dec_heads) for part in np.split(qkv, 3, axis=-1))
            state.keys[layer, :, :, start:end] = k
            state.values[layer, :, :, start:end] = v
            scores = q @ np.swapaxes(state.keys[layer, :, :, :end], -1, -2) + causal
            attended = softmax_(scores) @ state.values[layer, :, :, :end]
            x = x + _merge_heads(attended) @ block.out_w + block.out_b

            q = layer_norm(x, *block.cross_ln) @ block.cross_q_w + block.cross_q_b
            scores = _split_heads(q, self._dec_heads) @ state.audio.keys[layer]  # (B, H, T, F)
            if capture_heads is not None:
                captured.extend(scores[:, h].copy() for l_, h in capture_heads if l_ == layer)
            attended = softmax_(scores) @ state.audio.values[layer]
            x = x + _merge_heads(attended) @ block.cross_out_w + block.cross_out_b

            hidden = gelu(layer_norm(x, *block.mlp_ln) @ block.mlp1_w + block.mlp1_b)
            x = x + hidden @ block.mlp2_w + block.mlp2_b
        state.length = end
        if positions is not None:
            x = x[:, np.asarray(positions, dtype=np.int64) % count]
        x = layer_norm(x, *self._dec_ln)
        if self._int8_projection is not None:
            return self._int8_projection(x).reshape(*x.shape[:2], self.dims.n_vocab), captured
        if len(x) == 1 and 1 < x.shape[1] <= _PROJECTION_ROWS_MAX:
            # a few positions of one hypothesis (the prompt's two read, a short draft): gemv by
            # gemv over blocks, sgemm costs 2-3x one gemv for 2-6 rows (``project_rows``)
            return project_rows(x[0], self._projection)[None], captured
        return x @ self._projection, captured

    def decode_rows(self, states: Sequence[DecoderState], tokens: np.ndarray) -> np.ndarray:
        """One token for each of several windows (``states`` of batch 1, each its own audio
        context and cache length): the per-row layers run over the R rows together, so each
        weight matrix (above all the (d, V) vocabulary projection) comes from memory once per
        step and from cache for the other rows (``rows_matmul``, ``project_rows``); self- and
        cross-attention run per row, as ``decode`` computes them. Returns float32 logits (R, V).
        """
        rows = len(states)
        starts = row_starts(states, tokens, self.dims)
        heads = self._dec_heads
        x = self._embedding[np.asarray(tokens, dtype=np.int64)] + self._dec_pos[starts]  # (R, d)
        attended = np.empty_like(x)
        for layer, block in enumerate(self._dec_blocks):
            qkv = rows_matmul(layer_norm(x, *block.attn_ln), block.qkv_w) + block.qkv_b
            per_head = qkv.reshape(rows, 3, heads, 1, -1)  # q, k, v of each row: (H, 1, hd)
            for row, (state, start) in enumerate(zip(states, starts, strict=True)):
                end = start + 1
                state.keys[layer, 0, :, start:end] = per_head[row, 1]
                state.values[layer, 0, :, start:end] = per_head[row, 2]
                keys = state.keys[layer, 0, :, :end]  # (H, end, hd)
                weights = softmax_(per_head[row, 0] @ keys.swapaxes(-1, -2))  # (H, 1, end)
                attended[row] = (weights @ state.values[layer, 0, :, :end]).reshape(-1)
            x = x + rows_matmul(attended, block.out_w) + block.out_b

            q = rows_matmul(layer_norm(x, *block.cross_ln), block.cross_q_w) + block.cross_q_b
            per_head = q.reshape(rows, heads, 1, -1)
            for row, state in enumerate(states):  # each window its own frames F_row
                weights = softmax_(per_head[row] @ state.audio.keys[layer])  # (H, 1, F_row)
                attended[row] = (weights @ state.audio.values[layer]).reshape(-1)
            x = x + rows_matmul(attended, block.cross_out_w) + block.cross_out_b

            hidden = gelu(rows_matmul(layer_norm(x, *block.mlp_ln), block.mlp1_w) + block.mlp1_b)
            x = x + rows_matmul(hidden, block.mlp2_w) + block.mlp2_b
        for state in states:
            state.length += 1
        if self._int8_projection is not None:
            return self._int8_projection(layer_norm(x, *self._dec_ln))
        return project_rows(layer_norm(x, *self._dec_ln), self._projection)

    @staticmethod
    def reorder(state: DecoderState, indices: np.ndarray) -> None:
        """Keep the cache rows ``indices`` (beam search): row i becomes old row indices[i]."""
        state.keys = state.keys[:, indices]
        state.values = state.values[:, indices]
