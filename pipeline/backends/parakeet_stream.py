"""One parakeet stream: cache-aware chunked encoding with finalized words and a draft tail.

Geometry (all in encoder frames; one frame = subsampling factor × mel hop = 80 ms for parakeet):

    ... left context (cached K/V) | chunk (finalized this step) | right context (lookahead) |

Each step encodes ``chunk + right`` new frames against at most ``left`` cached frames per layer.
The chunk's keys/values and convolution tails enter the caches and its tokens are decoded with
the carried decoder state: they are final. The right-context frames are not cached; they are
encoded again at the next step, when they have their own lookahead. This is parakeet-mlx's
``transcribe_stream(context_size=(left, right), depth=1)`` scheme, except that the chunk is fixed
here (parakeet-mlx finalizes whatever was fed), and three details are our own:

- The caches (``_WindowCache``) report the history they really hold as ``offset``, so the
  relative positional encoding lines up with the keys (parakeet-mlx's rotating cache reports
  every frame ever cached, which misplaces positions once it wraps and grows the encoding table).
  The convolution cache keeps the frames before the lookahead, not the lookahead itself.
- ``local`` attention (each frame sees ``left`` frames back and ``right`` ahead, parakeet-mlx's
  ``rel_pos_local_attn``) is the model's relative-position attention with a band mask. The
  library's local attention runs custom Metal kernels, which do not exist on the CPU build.
- Timestamps count samples fed since the session opened or was last reset, not chunk offsets.

After the finalizing steps of a ``feed``, the frames not yet final are encoded without touching
the caches and decoded from a copy of the decoder state: that is the draft. A word is emitted as
final only when the next word has begun, so a word split across a chunk edge stays in the draft.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import Any, Protocol

import numpy as np

from pipeline.backends import mlx_runtime
from pipeline.backends.base import StreamSession, StreamUpdate
from pipeline.backends.parakeet_words import (
    SAMPLE_RATE,
    ParakeetStreamingOptions,
    Piece,
    clamp_pieces,
    group_words,
    pieces_from_tokens,
    transcription_from_words,
    word_from_pieces,
    words_from_pieces,
)
from pipeline.errors import BackendError
from pipeline.words import Transcription, Word


class ParakeetModelHost(Protocol):
    """What a session needs of the backend that loaded the model (``ParakeetBackend``)."""

    model: Any  # a parakeet-mlx model (TDT, RNNT or CTC)
    frame_samples: int  # audio samples per encoder frame
    subsampling_factor: int  # mel frames per encoder frame

    def log_mel(self, samples: np.ndarray) -> Any: ...


logger = logging.getLogger(__name__)

MAX_OPEN_WORD_PIECES = 64  # a "word" longer than this is emitted anyway (bounds held tokens)
MAX_SEGMENT_WORDS = 20_000  # words finish() can return; older ones are dropped beyond this


class _WindowCache:
    """One encoder layer's streaming cache: the last ``capacity_frames`` keys/values and conv tail.

    Implements the two calls parakeet-mlx's attention and convolution make on a cache. The last
    ``drop_frames`` frames of each input are the lookahead: used now, never cached.
    """

    def __init__(self, capacity_frames: int) -> None:
        self.capacity_frames = capacity_frames
        self.drop_frames = 0
        self.keys: Any = None  # (batch, heads, ≤ capacity, head_dim)
        self.values: Any = None
        self.conv: Any = None  # (batch, kernel padding, channels)
        self.offset = 0  # frames of history held; read by the positional encoding

    def arrays(self) -> list[Any]:
        return [a for a in (self.keys, self.values, self.conv) if a is not None]

    def update_and_fetch_kv(self, keys: Any, values: Any) -> tuple[Any, Any]:
        mx = mlx_runtime.import_mlx()
        if self.keys is None:
            k_out, v_out = keys, values
        else:
            k_out = mx.concatenate([self.keys, keys], axis=2)
            v_out = mx.concatenate([self.values, values], axis=2)
        keep = keys.shape[2] - self.drop_frames
        if self.capacity_frames > 0 and keep > 0:
            stop = k_out.shape[2] - self.drop_frames
            start = max(0, stop - self.capacity_frames)
            self.keys = k_out[:, :, start:stop]
            self.values = v_out[:, :, start:stop]
            self.offset = stop - start
        return k_out, v_out

    def update_and_fetch_conv(self, x: Any, padding: int = 0) -> Any:
        """``x`` (batch, frames, channels) with the cached left tail prepended, right zero-padded."""
        if padding == 0:
            return x
        mx = mlx_runtime.import_mlx()
        if self.conv is None:
            self.conv = mx.zeros((x.shape[0], padding, x.shape[2]), x.dtype)
        joined = mx.concatenate([self.conv, x], axis=1)
        keep = x.shape[1] - self.drop_frames
        if keep > 0:
            stop = padding + keep
            self.conv = joined[:, stop - padding : stop]
        return mx.pad(joined, [(0, 0), (0, padding), (0, 0)])


class ParakeetStreamSession(StreamSession):
    """A parakeet stream owned by one worker; feed audio as it arrives, ``finish`` at segment end."""

    def __init__(self, backend: ParakeetModelHost, options: ParakeetStreamingOptions) -> None:
        from parakeet_mlx.attention import LocalRelPositionalEncoding, RelPositionalEncoding
        from parakeet_mlx.parakeet import ParakeetCTC, ParakeetRNNT, ParakeetTDT

        self._backend = backend
        self._model = backend.model
        self.options = options
        self.context = options.context(backend.frame_samples)
        pos_enc = self._model.encoder.pos_enc
        if not isinstance(pos_enc, RelPositionalEncoding) or isinstance(
            pos_enc, LocalRelPositionalEncoding
        ):
            raise BackendError("parakeet streaming needs an encoder with rel_pos attention")
        if isinstance(self._model, (ParakeetTDT, ParakeetRNNT)):
            self._transducer = True
        elif isinstance(self._model, ParakeetCTC):
            self._transducer = False
        else:
            raise BackendError(f"{type(self._model).__name__} does not support streaming")
        self._n_heads = self._model.encoder_config.n_heads
        self._masks: dict[tuple[int, int], Any] = {}
        self._frame_s = backend.frame_samples / SAMPLE_RATE
        self.reset()
        logger.debug(
            "parakeet stream: %d/%d/%d frames left/chunk/right, %s attention",
            self.context.left_frames,
            self.context.chunk_frames,
            self.context.right_frames,
            options.attention,
        )

    # StreamSession --------------------------------------------------------------------------------

    def feed(self, audio: np.ndarray) -> StreamUpdate:
        """Append ``audio`` (float32, shape (n,)); finalize every complete chunk; redo the draft."""
        samples = np.asarray(audio, dtype=np.float32).reshape(-1)
        if samples.size:
            self._audio = np.concatenate([self._audio, samples])
            self._samples_fed += samples.size
        pieces: list[Piece] = []
        frame_samples = self.context.frame_samples
        while self._pending_frames() >= self.context.step_frames:
            pieces += self._step(self.context.step_frames, self.context.chunk_frames)
        finalized = self._accept(pieces, flush=False)
        pending = self._pending_frames()
        if pending != self._draft_frames:
            self._draft_pieces = self._draft(pending)
            self._draft_frames = pending
        draft = words_from_pieces(
            self._open_pieces + self._draft_pieces, self.options.min_confidence
        )
        final_count = self._encoded_frames * frame_samples
        if self._open_pieces:
            final_count = min(final_count, int(self._open_pieces[0].start_s * SAMPLE_RATE))
        self._final_sample_count = max(
            self._final_sample_count, min(final_count, self._samples_fed)
        )
        return StreamUpdate(
            finalized=tuple(finalized),
            draft=tuple(draft),
            finalized_sample_count=self._final_sample_count,
        )

    def finish(self) -> Transcription:
        """Encode the rest (zero-padded to a whole frame), finalize every word, return the segment."""
        remaining = self._samples_fed - self._encoded_frames * self.context.frame_samples
        pieces: list[Piece] = []
        if remaining > 0:
            frames = math.ceil(remaining / self.context.frame_samples)
            pieces = self._step(frames, frames)
        self._accept(pieces, flush=True)
        result = transcription_from_words(
            list(self._segment_words), self._samples_fed / SAMPLE_RATE
        )
        self.reset()
        return result

    def reset(self) -> None:
        """Drop audio, caches, decoder state and words; times count from zero again."""
        layers = len(self._model.encoder.layers)
        self._caches = [_WindowCache(self.context.left_frames) for _ in range(layers)]
        self._decoder_state: tuple[int | None, Any] = (None, None)  # last token, LSTM (h, c)
        self._audio = np.zeros(0, dtype=np.float32)
        self._audio_start = 0  # absolute sample index of self._audio[0]
        self._samples_fed = 0
        self._encoded_frames = 0  # frames finalized (their K/V are in the caches)
        self._open_pieces: list[Piece] = []  # final pieces of the word that may go on
        self._draft_pieces: list[Piece] = []
        self._draft_frames = 0  # pending frames the current draft covers
        self._final_sample_count = 0
        self._last_final_start_s = 0.0
        self._segment_words: deque[Word] = deque(maxlen=MAX_SEGMENT_WORDS)
        mlx_runtime.release_cache()

    # internals ------------------------------------------------------------------------------------

    @property
    def samples_fed(self) -> int:
        return self._samples_fed

    @property
    def encoded_frames(self) -> int:
        return self._encoded_frames

    def _pending_frames(self) -> int:
        """Whole frames fed but not yet final."""
        return (
            self._samples_fed - self._encoded_frames * self.context.frame_samples
        ) // self.context.frame_samples

    def _step(self, frames: int, final_frames: int) -> list[Piece]:
        """Encode the next ``frames`` frames, finalize the first ``final_frames``: their pieces."""
        first = self._encoded_frames
        features = self._encode(first, frames, cache_frames=final_frames)
        tokens, self._decoder_state = self._decode(features, final_frames, self._decoder_state)
        self._encoded_frames += final_frames
        keep_from = (
            max(0, self._encoded_frames - self.context.left_frames) * self.context.frame_samples
        )
        if keep_from > self._audio_start:  # audio older than the left context is never read again
            self._audio = self._audio[keep_from - self._audio_start :].copy()
            self._audio_start = keep_from
        return clamp_pieces(
            pieces_from_tokens(tokens, offset_s=first * self._frame_s),
            end_s=self._samples_fed / SAMPLE_RATE,
            start_s=self._last_final_start_s,
        )

    def _draft(self, frames: int) -> list[Piece]:
        """Decode the ``frames`` pending frames without changing caches or decoder state."""
        if frames <= 0:
            return []
        first = self._encoded_frames
        features = self._encode(first, frames, cache_frames=0)
        tokens, _ = self._decode(features, frames, self._decoder_state)
        return clamp_pieces(
            pieces_from_tokens(tokens, offset_s=first * self._frame_s),
            end_s=self._samples_fed / SAMPLE_RATE,
            start_s=self._last_final_start_s,
        )

    def _accept(self, pieces: list[Piece], *, flush: bool) -> list[Word]:
        """Add final pieces; return the words now complete (all of them when ``flush``)."""
        if pieces:
            self._last_final_start_s = pieces[-1].start_s
        groups = group_words(self._open_pieces + pieces)
        self._open_pieces = []
        if groups and not flush and len(groups[-1]) < MAX_OPEN_WORD_PIECES:
            self._open_pieces = groups.pop()
        words = [w for w in (word_from_pieces(g, self.options.min_confidence) for g in groups) if w]
        self._segment_words.extend(words)
        return words

    def _encode(self, first_frame: int, frames: int, *, cache_frames: int) -> Any:
        """Encoder output (1, frames, d_model) for frames [first, first + frames).

        The log-mel is computed over the left context too, so its per-feature normalisation
        sees more than one chunk; only the new frames go through the encoder.
        """
        mx = mlx_runtime.import_mlx()
        sub = self._backend.subsampling_factor
        frame_samples = self.context.frame_samples
        context_first = max(0, first_frame - self.context.left_frames)
        start = context_first * frame_samples - self._audio_start
        stop = (first_frame + frames) * frame_samples - self._audio_start
        window = self._audio[start:stop]
        if window.size < stop - start:  # finish(): zero-pad the last partial frame
            window = np.pad(window, (0, stop - start - window.size))
        mel_first = (first_frame - context_first) * sub
        mel = self._backend.log_mel(window)[:, mel_first : mel_first + frames * sub]

        for cache in self._caches:
            cache.drop_frames = frames - cache_frames
        encoder = self._model.encoder
        try:
            x, _ = encoder.pre_encode(mel, mx.array([mel.shape[1]]))
            history = self._caches[0].offset
            x, pos_emb = encoder.pos_enc(x, offset=history)
            mask = (
                self._band_mask(history, x.shape[1]) if self.options.attention == "local" else None
            )
            for layer, cache in zip(encoder.layers, self._caches, strict=True):
                x = layer(x, pos_emb=pos_emb, mask=mask, cache=cache)
            mx.eval(x, [cache.arrays() for cache in self._caches])
        except (RuntimeError, ValueError) as e:
            raise BackendError(f"parakeet streaming encoder failed: {e}") from e
        return x

    def _band_mask(self, history: int, frames: int) -> Any:
        """(heads, frames, history + frames) bool, True where a key is outside the local window."""
        key = (history, frames)
        if key not in self._masks:
            mx = mlx_runtime.import_mlx()
            query_pos = history + np.arange(frames)[:, None]
            key_pos = np.arange(history + frames)[None, :]
            outside = (key_pos < query_pos - self.context.left_frames) | (
                key_pos > query_pos + self.context.right_frames
            )
            self._masks[key] = mx.broadcast_to(mx.array(outside), (self._n_heads, *outside.shape))
        return self._masks[key]

    def _decode(
        self, features: Any, frames: int, state: tuple[int | None, Any]
    ) -> tuple[list[Any], Any]:
        """Greedy-decode the first ``frames`` frames from ``state``: (tokens, new state)."""
        mx = mlx_runtime.import_mlx()
        lengths = mx.array([frames])
        if not self._transducer:  # CTC: stateless (a token across a chunk edge may repeat)
            return self._model.decode(features[:, :frames], lengths)[0], state
        last_token, hidden = state
        tokens, hiddens = self._model.decode(features, lengths, [last_token], [hidden])
        tokens = tokens[0]
        return tokens, (tokens[-1].id if tokens else last_token, hiddens[0])
