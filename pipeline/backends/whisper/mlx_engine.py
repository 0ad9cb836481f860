"""Whisper's forward pass in MLX arrays: the engine for Apple Silicon (Metal), also runs on CPU.

The weights are the CPU engine's packed layouts (``cpu_engine.pack_block``) moved into MLX once:
projections transposed and contiguous (``x @ w_t``), the query scale folded into the weights, q/k/v
one fused matmul, and the logits projection kept as a contiguous (d, V) copy of the embedding, so
no step pays for a transpose of the 51864 × 384 matrix. Cross-attention keys and values are
computed once per window, keys already transposed.

The one-token decoder step is a compiled function of fixed shapes: the self-attention cache is
preallocated for the whole text context (n_text_ctx) and written with ``slice_update`` at a
position held in a device array, attention runs over the whole cache with a mask, so the graph
is the same at every step and ``mx.compile`` traces it once per batch size. Greedy decoding
feeds the argmax token back on the device and evaluates step t + 1 asynchronously while the host
reads token t: one scalar read per step, and the host's bookkeeping overlaps the device's work.

Prompts (any length) and alignment passes run uncompiled, so the compile cache stays bounded.
``dtype`` is the weights' precision; on the GPU the engine also computes in it, on the CPU in
float32 over the rounded weights, because MLX's CPU kernels are slow in half types (measured here:
a bfloat16 encoder pass 8-14 s against 1.1 s in float32). Logits come back as float32.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.backends.mlx_runtime import import_mlx
from pipeline.backends.whisper.cpu_engine import pack_block, sinusoids
from pipeline.backends.whisper.engine_base import (
    WhisperEngine,
    argmax_pick,
    check_mel_frames,
    check_projection_bits,
    choosable_tokens,
    row_starts,
)
from pipeline.backends.whisper.int8_projection import RESCORED
from pipeline.backends.whisper.weights import Dims

logger = logging.getLogger(__name__)

_LN_EPS = 1e-5
_DTYPES = ("float32", "bfloat16", "float16")
_PROJECTION_GROUP = 32  # weights sharing a scale in the 8-bit vocabulary projection


@dataclass(slots=True)
class MlxAudioContext:
    """One encoded window: per decoder layer, cross-attention keys and values (mx.array)."""

    keys: list[Any]  # per layer (H, hd, n_audio_ctx)
    values: list[Any]  # per layer (H, n_audio_ctx, hd)


@dataclass(slots=True)
class MlxDecoderState:
    """Self-attention cache of a batch of hypotheses over one window (mx.array)."""

    audio: MlxAudioContext
    keys: list[Any]  # per layer (B, H, n_text_ctx, hd)
    values: list[Any]  # per layer (B, H, n_text_ctx, hd)
    length: int = 0  # tokens already in the cache (known on the host: no read-back)


class MlxWhisperEngine(WhisperEngine):
    """Encoder and incremental decoder of one Whisper model in MLX."""

    name = "mlx"

    def __init__(self, dims: Dims, weights: dict[str, np.ndarray], dtype: str = "float32",
                 compute_dtype: str | None = None, compile: bool = True,
                 projection_bits: int = 32) -> None:  # fmt: skip
        """``weights`` as ``load_numpy_weights(model_dir, dtype)`` returns them (float32 numbers
        already rounded to ``dtype``); ``compute_dtype`` None = ``dtype`` on a GPU, float32 on
        a CPU; ``projection_bits`` 8: the vocabulary projection quantized to 8 bits (MLX's
        affine quantization in groups of 32; ``int8_projection.py`` says why)."""
        check_projection_bits(projection_bits)
        mx = self._mx = import_mlx()
        on_gpu = mx.default_device() == mx.gpu
        compute_dtype = compute_dtype or (dtype if on_gpu else "float32")
        for value in (dtype, compute_dtype):
            if value not in _DTYPES:
                raise ValueError(f"dtype {value!r}: expected one of {_DTYPES}")
        if compute_dtype != dtype:
            logger.info("MLX on the CPU: %s weights computed in %s", dtype, compute_dtype)
        self.dims = dims
        self.dtype = getattr(mx, compute_dtype)  # arrays and activations
        self._enc_heads, self._dec_heads = dims.n_audio_head, dims.n_text_head
        enc_scale = (dims.n_audio_state // dims.n_audio_head) ** -0.5
        dec_scale = (dims.n_text_state // dims.n_text_head) ** -0.5

        def to_mx(value):
            if isinstance(value, tuple):
                return tuple(to_mx(v) for v in value)
            return None if value is None else mx.array(value).astype(self.dtype)

        def blocks(prefix: str, count: int, scale: float, cross: bool) -> list[dict[str, Any]]:
            packed = [pack_block(weights, f"{prefix}.{i}", scale, cross) for i in range(count)]
            return [{name: to_mx(getattr(b, name)) for name in b.__slots__} for b in packed]

        # conv weights (C_out, K, C_in) -> im2col matmul layout (K * C_in, C_out)
        def conv(name: str) -> tuple[Any, Any]:
            w = weights[f"encoder.{name}.weight"]
            return to_mx(np.ascontiguousarray(w.reshape(w.shape[0], -1).T)), to_mx(
                weights[f"encoder.{name}.bias"]
            )

        self._conv1, self._conv2 = conv("conv1"), conv("conv2")
        self._enc_pos = to_mx(sinusoids(dims.n_audio_ctx, dims.n_audio_state))
        self._enc_blocks = blocks("encoder.blocks", dims.n_audio_layer, enc_scale, cross=False)
        self._enc_ln = to_mx((weights["encoder.ln_post.weight"], weights["encoder.ln_post.bias"]))
        embedding = weights["decoder.token_embedding.weight"]  # (V, d)
        self._embedding = to_mx(embedding)
        self._projection = to_mx(np.ascontiguousarray(embedding.T))  # (d, V), never transposed
        self._quantized_projection = None  # (codes, scales, biases) of the (V, d) embedding
        self._choosable = choosable_tokens(dims)
        if projection_bits == 8:
            self._quantized_projection = mx.quantize(
                self._embedding, group_size=_PROJECTION_GROUP, bits=8
            )
            self._projection = None
        self._dec_pos = to_mx(weights["decoder.positional_embedding"])
        self._dec_blocks = blocks("decoder.blocks", dims.n_text_layer, dec_scale, cross=True)
        self._dec_ln = to_mx((weights["decoder.ln.weight"], weights["decoder.ln.bias"]))
        self._positions = mx.arange(dims.n_text_ctx)
        mx.eval(self._parameters())
        self._mask: tuple[np.ndarray, Any] | None = None  # last greedy mask, host and device
        wrap = mx.compile if compile else (lambda f: f)
        self._encode_fn = wrap(self._encoder)
        self._step_fn = wrap(self._step)
        self._pick_fn = wrap(self._pick)

    def _parameters(self) -> list[Any]:
        arrays = [*self._conv1, *self._conv2, self._enc_pos, *self._enc_ln, self._embedding,
                  self._projection, *(self._quantized_projection or ()), self._dec_pos,
                  *self._dec_ln]  # fmt: skip
        for block in [*self._enc_blocks, *self._dec_blocks]:
            for value in block.values():
                arrays.extend(value if isinstance(value, tuple) else [value])
        return [a for a in arrays if a is not None]

    # -- layers --------------------------------------------------------------------------------

    def _ln(self, x, params):
        return self._mx.fast.layer_norm(x, params[0], params[1], _LN_EPS)

    def _gelu(self, x):
        mx = self._mx
        return x * (1.0 + mx.erf(x * 0.7071067811865476)) * 0.5

    def _heads(self, x, n_head: int):
        """(..., T, d) -> (..., H, T, d/H)."""
        *lead, length, d = x.shape
        return x.reshape(*lead, length, n_head, d // n_head).swapaxes(-2, -3)

    @staticmethod
    def _merge(x):
        """(..., H, T, hd) -> (..., T, H*hd)."""
        x = x.swapaxes(-2, -3)
        return x.reshape(*x.shape[:-2], -1)

    def _conv(self, x, params, stride: int):
        """Conv1d (kernel 3, padding 1) as one matmul: x (T, C_in) -> (T // stride, C_out)."""
        mx = self._mx
        padded = mx.pad(x, [(1, 1), (0, 0)])
        out_len = (x.shape[0] - 1) // stride + 1
        cols = mx.concatenate(
            [padded[k : k + stride * (out_len - 1) + 1 : stride] for k in range(3)], axis=1
        )
        return cols @ params[0] + params[1]

    def _mlp(self, x, block):
        hidden = self._gelu(self._ln(x, block["mlp_ln"]) @ block["mlp1_w"] + block["mlp1_b"])
        return x + hidden @ block["mlp2_w"] + block["mlp2_b"]

    # -- encoder -------------------------------------------------------------------------------

    def _encoder(self, mel):
        """mel (2 F, n_mels) -> per decoder layer cross keys (H, hd, F) and values (H, F, hd).

        Compiled once per F: callers round F to a few values (``audio_context.py``)."""
        mx = self._mx
        x = self._gelu(self._conv(mel.astype(self.dtype), self._conv1, stride=1))
        x = self._gelu(self._conv(x, self._conv2, stride=2))
        x = x + self._enc_pos[: x.shape[0]]  # a shortened window: its first positions
        for block in self._enc_blocks:
            qkv = self._ln(x, block["attn_ln"]) @ block["qkv_w"] + block["qkv_b"]
            q, k, v = (self._heads(part, self._enc_heads) for part in mx.split(qkv, 3, axis=-1))
            attended = mx.fast.scaled_dot_product_attention(q[None], k[None], v[None], scale=1.0)
            x = x + self._merge(attended[0]) @ block["out_w"] + block["out_b"]
            x = self._mlp(x, block)
        features = self._ln(x, self._enc_ln)
        keys, values = [], []
        for block in self._dec_blocks:
            k, v = mx.split(features @ block["cross_kv_w"] + block["cross_kv_b"], 2, axis=-1)
            keys.append(self._heads(k, self._dec_heads).swapaxes(-1, -2))
            values.append(self._heads(v, self._dec_heads))
        return keys, values

    def encode(self, mel: np.ndarray) -> MlxAudioContext:
        mx = self._mx
        check_mel_frames(mel, self.dims)
        keys, values = self._encode_fn(mx.array(np.ascontiguousarray(mel.T)))
        # contiguous copies: every decoder step reads them
        keys = [mx.contiguous(k) for k in keys]
        values = [mx.contiguous(v) for v in values]
        mx.eval(keys, values)
        return MlxAudioContext(keys=keys, values=values)

    # -- decoder -------------------------------------------------------------------------------

    def new_state(self, audio: MlxAudioContext, batch: int) -> MlxDecoderState:
        mx = self._mx
        d, heads = self.dims.n_text_state, self._dec_heads
        shape = (batch, heads, self.dims.n_text_ctx, d // heads)
        layers = self.dims.n_text_layer
        keys = [mx.zeros(shape, self.dtype) for _ in range(layers)]
        values = [mx.zeros(shape, self.dtype) for _ in range(layers)]
        return MlxDecoderState(audio, keys, values)

    def _cross(self, x, block, layer_keys, layer_values):
        """Cross-attention of x (B, T, d); returns (x + attended, raw scores (B, H, T, F))."""
        mx = self._mx
        q = self._ln(x, block["cross_ln"]) @ block["cross_q_w"] + block["cross_q_b"]
        scores = self._heads(q, self._dec_heads) @ layer_keys
        weights = mx.softmax(scores.astype(mx.float32), axis=-1).astype(self.dtype)
        x = x + self._merge(weights @ layer_values) @ block["cross_out_w"] + block["cross_out_b"]
        return x, scores

    def _step(self, tokens, offset, keys, values, cross_keys, cross_values):
        """One token per hypothesis: tokens (B, 1) int32 at ``offset`` (1,) int32.

        Returns float32 logits (B, V) and the updated caches. Fixed shapes (compiled once).
        """
        mx = self._mx
        x = self._embedding[tokens] + mx.take(self._dec_pos, offset, axis=0)  # (B, 1, d)
        visible = (self._positions <= offset)[None, None, None]  # (1, 1, 1, n_text_ctx)
        new_keys, new_values = [], []
        for layer, block in enumerate(self._dec_blocks):
            qkv = self._ln(x, block["attn_ln"]) @ block["qkv_w"] + block["qkv_b"]
            q, k, v = (self._heads(part, self._dec_heads) for part in mx.split(qkv, 3, axis=-1))
            layer_keys = mx.slice_update(keys[layer], k, offset, axes=(2,))
            layer_values = mx.slice_update(values[layer], v, offset, axes=(2,))
            new_keys.append(layer_keys)
            new_values.append(layer_values)
            scores = (q @ layer_keys.swapaxes(-1, -2)).astype(mx.float32)
            scores = mx.where(visible, scores, -mx.inf)
            weights = mx.softmax(scores, axis=-1).astype(self.dtype)
            x = x + self._merge(weights @ layer_values) @ block["out_w"] + block["out_b"]
            x, _ = self._cross(x, block, cross_keys[layer], cross_values[layer])
            x = self._mlp(x, block)
        logits = self._logits(self._ln(x[:, -1], self._dec_ln))
        return logits, new_keys, new_values

    def _logits(self, x):
        """float32 logits (..., V) of decoder outputs ``x`` (..., d) after the final norm."""
        mx = self._mx
        if self._quantized_projection is None:
            return (x @ self._projection).astype(mx.float32)
        codes, scales, biases = self._quantized_projection
        logits = mx.quantized_matmul(x, codes, scales, biases, transpose=True,
                                     group_size=_PROJECTION_GROUP, bits=8).astype(mx.float32)  # fmt: skip
        # the best columns again in full precision, as int8_projection.py does and says why
        choosable = logits[..., : self._choosable]
        best = mx.argpartition(choosable, kth=-RESCORED, axis=-1)[..., -RESCORED:]
        exact = (self._embedding[best] @ x[..., None])[..., 0].astype(mx.float32)
        return mx.put_along_axis(logits, best, exact, axis=-1)

    def _pick(self, logits, mask):
        """Device argmax of logits (1, V) + mask: token (1, 1) int32 and its log-probability."""
        mx = self._mx
        masked = logits + mask
        token = mx.argmax(masked, axis=-1, keepdims=True).astype(mx.int32)
        logprob = mx.take_along_axis(masked, token, axis=-1) - mx.logsumexp(masked, -1, True)
        return token, logprob

    def _run_step(self, state: MlxDecoderState, tokens):
        mx = self._mx
        offset = mx.array([state.length], dtype=mx.int32)
        logits, state.keys, state.values = self._step_fn(
            tokens, offset, state.keys, state.values, state.audio.keys, state.audio.values
        )
        state.length += 1
        return logits

    def decode(
        self,
        state: MlxDecoderState,
        tokens: np.ndarray,
        capture_heads: np.ndarray | None = None,
        positions: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        mx = self._mx
        batch, count = tokens.shape
        start, end = state.length, state.length + count
        if end > self.dims.n_text_ctx:
            raise ValueError(f"text context full ({end} > {self.dims.n_text_ctx} tokens)")
        device_tokens = mx.array(np.asarray(tokens, dtype=np.int32))
        if count == 1 and capture_heads is None and positions in (None, [0], [-1]):
            logits = self._run_step(state, device_tokens)
            return np.array(logits)[:, None], []
        x = self._embedding[device_tokens] + self._dec_pos[start:end]  # (B, T, d)
        causal = mx.triu(mx.full((count, end), -mx.inf, mx.float32), k=start + 1)
        captured = []
        for layer, block in enumerate(self._dec_blocks):
            qkv = self._ln(x, block["attn_ln"]) @ block["qkv_w"] + block["qkv_b"]
            q, k, v = (self._heads(part, self._dec_heads) for part in mx.split(qkv, 3, axis=-1))
            state.keys[layer][:, :, start:end] = k
            state.values[layer][:, :, start:end] = v
            scores = (q @ state.keys[layer][:, :, :end].swapaxes(-1, -2)).astype(mx.float32)
            weights = mx.softmax(scores + causal, axis=-1).astype(self.dtype)
            attended = weights @ state.values[layer][:, :, :end]
            x = x + self._merge(attended) @ block["out_w"] + block["out_b"]
            x, scores = self._cross(x, block, state.audio.keys[layer], state.audio.values[layer])
            if capture_heads is not None:
                captured.extend(scores[:, h].astype(mx.float32)
                                for l_, h in capture_heads if l_ == layer)  # fmt: skip
            x = self._mlp(x, block)
        state.length = end
        if positions is not None:
            x = x[:, mx.array(np.asarray(positions, dtype=np.int32) % count)]
        if x.shape[1]:
            logits = self._logits(self._ln(x, self._dec_ln))
        else:
            logits = mx.zeros((batch, 0, self.dims.n_vocab), mx.float32)
        mx.eval(logits, captured, state.keys, state.values)
        return np.array(logits), [np.array(c) for c in captured]

    def decode_rows(self, states: Sequence[MlxDecoderState], tokens: np.ndarray) -> np.ndarray:
        """One token for each of several windows (``states`` of batch 1, each its own audio
        context and cache length): the per-row layers run once over the R rows stacked, self-
        and cross-attention per row as ``_step`` computes them (over the whole preallocated
        cache, masked after the row's position). Uncompiled: R and the windows' lengths vary
        from step to step. Returns float32 logits (R, V)."""
        mx = self._mx
        rows = len(states)
        starts = row_starts(states, tokens, self.dims)
        heads = self._dec_heads
        device_tokens = mx.array(np.asarray(tokens, dtype=np.int32))
        offsets = [mx.array([start], dtype=mx.int32) for start in starts]
        visible = [(self._positions <= start)[None, None, None] for start in starts]
        x = self._embedding[device_tokens] + mx.take(self._dec_pos, mx.array(starts), axis=0)
        for layer, block in enumerate(self._dec_blocks):
            qkv = self._ln(x, block["attn_ln"]) @ block["qkv_w"] + block["qkv_b"]  # (R, 3d)
            per_head = qkv.reshape(rows, 3, heads, 1, -1)  # q, k, v of each row: (H, 1, hd)
            attended = []
            for row, (state, offset) in enumerate(zip(states, offsets, strict=True)):
                keys = mx.slice_update(state.keys[layer], per_head[row : row + 1, 1], offset,
                                       axes=(2,))  # fmt: skip
                values = mx.slice_update(state.values[layer], per_head[row : row + 1, 2], offset,
                                         axes=(2,))  # fmt: skip
                state.keys[layer], state.values[layer] = keys, values
                scores = (per_head[row : row + 1, 0] @ keys.swapaxes(-1, -2)).astype(mx.float32)
                scores = mx.where(visible[row], scores, -mx.inf)
                weights = mx.softmax(scores, axis=-1).astype(self.dtype)
                attended.append((weights @ values).reshape(1, -1))  # (1, d)
            x = x + mx.concatenate(attended) @ block["out_w"] + block["out_b"]

            q = self._ln(x, block["cross_ln"]) @ block["cross_q_w"] + block["cross_q_b"]
            per_head = q.reshape(rows, heads, 1, -1)
            attended = []
            for row, state in enumerate(states):  # each window its own frames
                scores = per_head[row] @ state.audio.keys[layer]  # (H, 1, F_row)
                weights = mx.softmax(scores.astype(mx.float32), axis=-1).astype(self.dtype)
                attended.append((weights @ state.audio.values[layer]).reshape(1, -1))
            x = x + mx.concatenate(attended) @ block["cross_out_w"] + block["cross_out_b"]
            x = self._mlp(x, block)
        logits = self._logits(self._ln(x, self._dec_ln))
        mx.eval(logits, [state.keys for state in states], [state.values for state in states])
        for state in states:
            state.length += 1
        return np.array(logits)

    def reorder(self, state: MlxDecoderState, indices: np.ndarray) -> None:
        mx = self._mx
        rows = mx.array(np.asarray(indices, dtype=np.int32))
        state.keys = [k[rows] for k in state.keys]
        state.values = [v[rows] for v in state.values]

    def greedy(
        self, state: MlxDecoderState, logits: np.ndarray, mask: np.ndarray, max_tokens: int
    ) -> Iterator[tuple[int, float]]:
        mx = self._mx
        if self._mask is None or self._mask[0] is not mask:
            self._mask = (mask, mx.array(mask.astype(np.float32))[None])
        device_mask = self._mask[1]
        token, logprob = argmax_pick(logits)
        device_token = mx.array([[token]], dtype=mx.int32)
        for index in range(max_tokens):
            if index + 1 < max_tokens:  # step t + 1 runs while the host hands out token t
                next_token, next_logprob = self._pick_fn(
                    self._run_step(state, device_token), device_mask
                )
                mx.async_eval(next_token, next_logprob, state.keys, state.values)
            yield token, logprob
            if index + 1 < max_tokens:
                device_token = next_token
                token, logprob = int(next_token.item()), float(next_logprob.item())

    def end_window(self) -> None:
        """Nothing to do: buffers of the previous window go back to MLX's bounded cache."""
