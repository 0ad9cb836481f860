"""What token search and word alignment need from a Whisper engine: the common interface.

Two engines implement it over the same MLX model directory:

- ``CpuWhisperEngine`` (``cpu_engine.py``): numpy + BLAS, the fast engine on x86/Linux CPUs;
- ``MlxWhisperEngine`` (``mlx_engine.py``): MLX arrays, Metal on Apple Silicon.

An engine encodes a window into an opaque *audio context*, opens a *decoder state* (the
self-attention cache of a batch of hypotheses) over it, and feeds tokens into that state.
Everything crossing this interface is host numpy, so ``decoding.py`` and ``alignment.py`` work
with either engine; the greedy loop is an engine method so a device engine can keep the token
feedback on the device and read back one token and one log-probability per step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from pipeline.backends.whisper.weights import Dims


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log-softmax over the last axis, float64 for stable sums."""
    logits = logits.astype(np.float64)
    peak = logits.max(-1, keepdims=True)
    return logits - peak - np.log(np.exp(logits - peak).sum(-1, keepdims=True))


def argmax_pick(logits: np.ndarray) -> tuple[int, float]:
    """The most likely token of ``logits`` (V,) and its log-probability."""
    token = int(np.argmax(logits))
    return token, float(log_softmax(logits)[token])


def row_starts(states: Sequence[Any], tokens: np.ndarray, dims: Dims) -> list[int]:
    """The cache lengths of ``decode_rows``'s states (one token each to come), or a ValueError
    naming what is wrong: a token count that is not the state count, or a full text context."""
    starts = [state.length for state in states]
    if len(starts) != len(tokens):
        raise ValueError(f"{len(starts)} decoder states but {len(tokens)} tokens")
    if starts and max(starts) >= dims.n_text_ctx:
        raise ValueError(f"text context full ({max(starts) + 1} > {dims.n_text_ctx})")
    return starts


def check_mel_frames(mel: np.ndarray, dims: Dims) -> int:
    """The encoder frames of ``mel`` (n_mels, 2 F): F, or a ValueError naming what is wrong."""
    if mel.ndim != 2 or mel.shape[0] != dims.n_mels:
        raise ValueError(f"mel must be ({dims.n_mels}, frames), got {mel.shape}")
    frames, odd = divmod(mel.shape[1], 2)  # the second convolution has stride 2
    if odd or not 0 < frames <= dims.n_audio_ctx:
        raise ValueError(
            f"mel frames must be even and in 2..{2 * dims.n_audio_ctx}, got {mel.shape[1]}"
        )
    return frames


def check_projection_bits(bits: int) -> None:
    """A ValueError unless ``bits`` is a width the vocabulary projection comes in: 32 (float32)
    or 8 (int8, ``int8_projection.py``)."""
    if bits not in (32, 8):
        raise ValueError(f"projection_bits must be 32 or 8, got {bits!r}")


def choosable_tokens(dims: Dims) -> int:
    """The vocabulary's tokens before its timestamps (one per 20 ms of the 30 s window, 1501,
    at the end of every Whisper vocabulary): what a search without timestamps may choose."""
    return dims.n_vocab - (dims.n_audio_ctx + 1)


class WhisperEngine(ABC):
    """Encoder and incremental decoder of one Whisper model."""

    name: ClassVar[str]  # "numpy" or "mlx": logged, and reported as ``WhisperBackend.engine_name``
    dims: Dims

    @abstractmethod
    def encode(self, mel: np.ndarray) -> Any:
        """Encode one window: mel (n_mels, 2 F) float32 -> this engine's audio context of F
        frames (F = n_audio_ctx for a full 30 s window; fewer for the window's first 2 F frames)."""

    @abstractmethod
    def new_state(self, audio: Any, batch: int) -> Any:
        """An empty decoder state (self-attention cache) of ``batch`` hypotheses over ``audio``."""

    @abstractmethod
    def decode(
        self,
        state: Any,
        tokens: np.ndarray,
        capture_heads: np.ndarray | None = None,
        positions: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Feed tokens (B, T) after the cached ones; float32 logits (B, P, V) of the next token.

        ``positions`` picks the P of the T positions whose logits are wanted (all when None;
        ``[]`` for none, which skips the vocabulary projection). With ``capture_heads`` ((n, 2)
        of layer, head) also the raw cross-attention scores of those heads, each
        (B, T, n_audio_ctx) float32, for word alignment.
        """

    @abstractmethod
    def reorder(self, state: Any, indices: np.ndarray) -> None:
        """Keep the cache rows ``indices`` (beam search): row i becomes old row indices[i]."""

    def decode_rows(self, states: Sequence[Any], tokens: np.ndarray) -> np.ndarray:
        """One token for each of several windows' decoders: ``states`` (batch 1 each, own audio
        context and cache length), ``tokens`` (R,) -> float32 logits (R, V) of each next token.

        Engines override it to run the per-row linear layers (qkv, attention outputs, MLP, the
        vocabulary projection) once over all rows stacked (``batch_decoder.py``); this default
        decodes row by row."""
        rows = [self.decode(state, np.array([[int(token)]]))[0][0, -1]
                for state, token in zip(states, tokens, strict=True)]  # fmt: skip
        return np.stack(rows).astype(np.float32, copy=False)

    def greedy(
        self, state: Any, logits: np.ndarray, mask: np.ndarray, max_tokens: int
    ) -> Iterator[tuple[int, float]]:
        """Argmax decoding from ``logits`` (V,) (the masked logits after the prompt).

        Yields (token, log-probability) up to ``max_tokens`` times; each next token is decoded
        (with ``mask`` (V,) added to its logits) only when the caller asks for it, so stopping
        at end-of-text costs no extra step. ``state`` has batch 1 and is consumed.
        """
        for index in range(max_tokens):
            token, logprob = argmax_pick(logits)
            yield token, logprob
            if index + 1 < max_tokens:
                step, _ = self.decode(state, np.array([[token]]))
                logits = step[0, -1] + mask

    def end_window(self) -> None:  # noqa: B027 — optional hook, nothing to do by default
        """Called after each window: release per-window buffers if the engine keeps any."""
