"""The parakeet-mlx backend: FastConformer TDT/RNNT/CTC models, offline and streaming.

Offline, ``transcribe`` runs the whole window through the encoder with the model's own (full,
relative-position) attention and decodes greedily. Streaming, ``open_stream`` returns a
``ParakeetStreamSession`` (``parakeet_stream.py``) that keeps the encoder's attention and
convolution caches between calls and finalizes audio chunk by chunk.

Words are built from the model's subword pieces: a piece whose text starts with a space (the
SentencePiece "▁" marker, turned into a space by parakeet-mlx) starts a new word; the others
continue the word before. A word's probability is the mean of its pieces' confidences.

Importing this module is light: mlx and parakeet_mlx are imported inside the functions that
need them, after ``mlx_runtime`` has loaded a fast BLAS.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from pipeline.backends import mlx_runtime
from pipeline.backends.base import Backend, Capabilities, MemoryStats
from pipeline.errors import BackendError, ConfigError, ModelError
from pipeline.words import Transcription, Word

if TYPE_CHECKING:
    from config.schema import AsrConfig
    from pipeline.backends.parakeet_stream import ParakeetStreamSession

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # Hz; the rate every backend receives
ATTENTION_MODES = ("local", "full")
DTYPES = ("float32", "bfloat16", "float16")  # float16 works but is slow on CPU
OFFLINE_MAX_WINDOW_S = (
    60.0  # full attention is quadratic in length; longer audio is chunked upstream
)


@dataclass(frozen=True, slots=True)
class StreamContext:
    """A streaming configuration in encoder frames (one frame = subsampling × mel hop)."""

    left_frames: int  # frames of history kept in the attention cache
    chunk_frames: int  # frames finalized per encoder step
    right_frames: int  # lookahead frames, re-encoded at the next step (they make the draft)
    frame_samples: int  # audio samples per encoder frame (1280 = 80 ms for parakeet)

    @property
    def context_size(self) -> tuple[int, int]:
        """parakeet-mlx's ``transcribe_stream(context_size=(left, right))``, in frames."""
        return (self.left_frames, self.right_frames)

    @property
    def step_frames(self) -> int:
        """Frames one encoder step consumes: the chunk plus its lookahead."""
        return self.chunk_frames + self.right_frames

    @property
    def latency_s(self) -> float:
        """Theoretical latency: audio is final once a chunk and its right context have arrived."""
        return self.step_frames * self.frame_samples / SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class ParakeetStreamingOptions:
    """How a parakeet stream trades latency for accuracy. Times in seconds of audio."""

    left_context_s: float = 5.0  # history the encoder attends to
    chunk_s: float = 0.5  # audio finalized per encoder step
    right_context_s: float = 0.5  # lookahead before a chunk is finalized
    attention: str = "local"  # local: each frame sees left/right context only; full: whole window
    dtype: str = "float32"  # weights and activations: float32, bfloat16 (float16: slow on CPU)
    min_confidence: float = 0.0  # pieces with a lower confidence are dropped

    PRESETS: ClassVar[dict[str, tuple[float, float, float]]] = {
        "low-latency": (2.0, 0.25, 0.25),
        "balanced": (5.0, 0.5, 0.5),
        "high-quality": (10.0, 1.0, 1.0),
    }

    def __post_init__(self) -> None:
        checks = (
            ("left_context_s", self.left_context_s >= 0, ">= 0"),
            ("chunk_s", self.chunk_s > 0, "> 0"),
            ("right_context_s", self.right_context_s >= 0, ">= 0"),
            ("attention", self.attention in ATTENTION_MODES, f"one of {ATTENTION_MODES}"),
            ("dtype", self.dtype in DTYPES, f"one of {DTYPES}"),
            ("min_confidence", 0.0 <= self.min_confidence <= 1.0, "in [0, 1]"),
        )
        for key, ok, allowed in checks:
            if not ok:
                raise ConfigError(f"parakeet {key}={getattr(self, key)!r}: must be {allowed}")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ParakeetStreamingOptions:
        """``low-latency`` (2/0.25/0.25 s), ``balanced`` (5/0.5/0.5 s), ``high-quality`` (10/1/1 s)."""
        if name not in cls.PRESETS:
            raise ConfigError(f"parakeet preset {name!r}: must be one of {tuple(cls.PRESETS)}")
        left_s, chunk_s, right_s = cls.PRESETS[name]
        return cls(left_context_s=left_s, chunk_s=chunk_s, right_context_s=right_s, **overrides)

    @classmethod
    def from_config(cls, asr: AsrConfig) -> ParakeetStreamingOptions:
        return cls(
            left_context_s=asr.parakeet_left_context_s,
            chunk_s=asr.parakeet_chunk_s,
            right_context_s=asr.parakeet_right_context_s,
            attention=asr.parakeet_attention,
            dtype=asr.dtype,
            min_confidence=asr.parakeet_min_confidence,
        )

    @property
    def latency_s(self) -> float:
        """Theoretical latency before frame rounding: chunk + right context."""
        return self.chunk_s + self.right_context_s

    def context(self, frame_samples: int) -> StreamContext:
        """These seconds in encoder frames of ``frame_samples`` samples (rounded to nearest)."""
        frame_s = frame_samples / SAMPLE_RATE
        return StreamContext(
            left_frames=_nearest_frames(self.left_context_s, frame_s),
            chunk_frames=max(1, _nearest_frames(self.chunk_s, frame_s)),
            right_frames=_nearest_frames(self.right_context_s, frame_s),
            frame_samples=frame_samples,
        )


def _nearest_frames(seconds: float, frame_s: float) -> int:
    return math.floor(seconds / frame_s + 0.5 + 1e-9)


@dataclass(frozen=True, slots=True)
class Piece:
    """One decoded subword piece; times in seconds from the start of the audio (or stream)."""

    start_s: float
    end_s: float
    text: str  # " word" starts a word, "ing" continues one
    confidence: float  # parakeet-mlx's entropy-based confidence in [0, 1]

    @property
    def starts_word(self) -> bool:
        return self.text.startswith(" ")


def pieces_from_tokens(tokens: Iterable[Any], offset_s: float = 0.0) -> list[Piece]:
    """parakeet-mlx ``AlignedToken``s (start, end, text, confidence) shifted by ``offset_s``."""
    return [
        Piece(
            start_s=offset_s + float(t.start),
            end_s=offset_s + float(t.end),
            text=t.text,
            confidence=min(1.0, max(0.0, float(t.confidence))),
        )
        for t in tokens
    ]


def group_words(pieces: Sequence[Piece]) -> list[list[Piece]]:
    """Split pieces into words: a new word at every piece that starts with a space."""
    groups: list[list[Piece]] = []
    for piece in pieces:
        if piece.starts_word or not groups:
            groups.append([piece])
        else:
            groups[-1].append(piece)
    return groups


def word_from_pieces(pieces: Sequence[Piece], min_confidence: float = 0.0) -> Word | None:
    """One word from its pieces, without those under ``min_confidence``; None if none is left."""
    kept = [p for p in pieces if p.confidence >= min_confidence]
    if not kept:
        return None
    text = "".join(p.text for p in kept)
    if pieces[0].starts_word and not text.startswith(" "):
        text = " " + text
    return Word(
        start_s=kept[0].start_s,
        end_s=max(p.end_s for p in kept),
        text=text,
        probability=float(np.mean([p.confidence for p in kept])),
    )


def words_from_pieces(pieces: Sequence[Piece], min_confidence: float = 0.0) -> list[Word]:
    words = (word_from_pieces(g, min_confidence) for g in group_words(pieces))
    return [w for w in words if w is not None]


def transcription_from_words(words: Sequence[Word], duration_s: float) -> Transcription:
    return Transcription(
        text="".join(w.text for w in words).strip(), words=tuple(words), duration_s=duration_s
    )


class ParakeetBackend(Backend):
    """A parakeet-mlx model loaded once; offline transcription and streaming sessions."""

    name = "parakeet"

    def __init__(
        self,
        model: Any,
        *,
        model_name: str,
        options: ParakeetStreamingOptions | None = None,
        cache_limit_mb: int | None = None,
    ) -> None:
        """Wrap a parakeet-mlx model (``BaseParakeet``); its weights are cast to ``options.dtype``."""
        mx = mlx_runtime.import_mlx()
        from mlx.utils import tree_flatten, tree_unflatten

        self._options = options or ParakeetStreamingOptions()
        self._model_name = model_name
        if cache_limit_mb is not None:
            mlx_runtime.configure_mlx(cache_limit_mb)
        self.dtype = getattr(mx, self._options.dtype)
        params = [(k, v.astype(self.dtype)) for k, v in tree_flatten(model.parameters())]
        model.update(tree_unflatten(params))
        mx.eval(model.parameters())
        self.model = model
        pre = model.preprocessor_config
        if pre.sample_rate != SAMPLE_RATE:
            raise ModelError(
                f"parakeet model expects {pre.sample_rate} Hz audio, not {SAMPLE_RATE}"
            )
        self.hop_samples: int = pre.hop_length  # mel frame step (160 = 10 ms)
        self.subsampling_factor: int = model.encoder_config.subsampling_factor
        self.frame_samples: int = self.hop_samples * self.subsampling_factor  # one encoder frame
        logger.info(
            "parakeet model %s ready (%s, %d encoder layers, %d ms frames)",
            model_name,
            self._options.dtype,
            len(model.encoder.layers),
            1000 * self.frame_samples // SAMPLE_RATE,
        )

    # construction ------------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        *,
        options: ParakeetStreamingOptions | None = None,
        cache_limit_mb: int | None = None,
    ) -> ParakeetBackend:
        """Load a local parakeet-mlx directory (``config.json`` + ``model.safetensors``); no network."""
        path = Path(model_dir)
        config_path, weights_path = path / "config.json", path / "model.safetensors"
        for required in (config_path, weights_path):
            if not required.is_file():
                raise ModelError(f"parakeet model directory {path} lacks {required.name}")
        try:
            config = json.loads(config_path.read_text())
            model = _model_from_config(config)
            model.load_weights(str(weights_path))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ModelError(f"cannot load parakeet model from {path}: {e}") from e
        return cls(model, model_name=path.name, options=options, cache_limit_mb=cache_limit_mb)

    @classmethod
    def from_config(
        cls,
        config: dict[str, Any],
        *,
        seed: int = 0,
        model_name: str = "parakeet-random",
        options: ParakeetStreamingOptions | None = None,
        cache_limit_mb: int | None = None,
    ) -> ParakeetBackend:
        """A model of this config with random weights (seeded): for tests and benches."""
        mx = mlx_runtime.import_mlx()
        mx.random.seed(seed)
        model = _model_from_config(config)
        return cls(model, model_name=model_name, options=options, cache_limit_mb=cache_limit_mb)

    @classmethod
    def from_asr_config(cls, asr: AsrConfig) -> ParakeetBackend:
        """The model directory ``asr.model`` with the streaming options and cache bound of ``asr``."""
        if not asr.model:
            raise ModelError("the parakeet backend needs asr.model: a local parakeet-mlx directory")
        return cls.load(
            asr.model,
            options=ParakeetStreamingOptions.from_config(asr),
            cache_limit_mb=asr.mlx_cache_limit_mb,
        )

    # Backend -----------------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def options(self) -> ParakeetStreamingOptions:
        return self._options

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(offline=True, streaming=True, max_window_s=OFFLINE_MAX_WINDOW_S)

    def transcribe(self, audio: np.ndarray, prompt: str | None = None) -> Transcription:
        """Transcribe ``audio`` (float32, shape (n,)); ``prompt`` is ignored (parakeet has none)."""
        samples = np.asarray(audio, dtype=np.float32).reshape(-1)
        duration_s = samples.size / SAMPLE_RATE
        if samples.size < self.frame_samples:  # less than one encoder frame: nothing to hear
            return Transcription(text="", duration_s=duration_s)
        try:
            mel = self.log_mel(samples)
            tokens = self.model.generate(mel)[0].tokens
        except (RuntimeError, ValueError) as e:
            raise BackendError(f"parakeet transcription failed: {e}") from e
        words = words_from_pieces(
            clamp_pieces(pieces_from_tokens(tokens), end_s=duration_s), self._options.min_confidence
        )
        return transcription_from_words(words, duration_s)

    def open_stream(self, options: ParakeetStreamingOptions | None = None) -> ParakeetStreamSession:
        """A new streaming session; ``options`` defaults to the backend's and must share its dtype."""
        from pipeline.backends.parakeet_stream import ParakeetStreamSession

        options = options or self._options
        if options.dtype != self._options.dtype:
            raise BackendError(
                f"stream dtype {options.dtype} differs from the loaded weights' {self._options.dtype};"
                " load the backend with that dtype"
            )
        return ParakeetStreamSession(self, options)

    def memory_stats(self) -> MemoryStats:
        return mlx_runtime.memory_stats()

    def close(self) -> None:
        self.model = None
        mlx_runtime.release_cache()

    # helpers shared with the stream session ------------------------------------------------------

    def log_mel(self, samples: np.ndarray) -> Any:
        """Normalised log-mel features, shape (1, frames, mel bins), in the model's dtype.

        Computed in float32 (bfloat16 spectra lose too much), then cast.
        """
        mx = mlx_runtime.import_mlx()
        from parakeet_mlx.audio import get_logmel

        mel = get_logmel(mx.array(samples, dtype=mx.float32), self.model.preprocessor_config)
        return mel.astype(self.dtype)


def _model_from_config(config: dict[str, Any]) -> Any:
    mlx_runtime.import_mlx()
    from dacite import DaciteError
    from parakeet_mlx.utils import from_config

    try:
        return from_config(config)
    except (DaciteError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"unsupported parakeet model config: {e}") from e


def clamp_pieces(pieces: Sequence[Piece], end_s: float, start_s: float = 0.0) -> list[Piece]:
    """Pieces with times inside [start_s, end_s] and starts non-decreasing (decoders may overshoot)."""
    out: list[Piece] = []
    floor_s = start_s
    for p in pieces:
        piece_start_s = min(max(p.start_s, floor_s), end_s)
        piece_end_s = min(max(p.end_s, piece_start_s), end_s)
        out.append(Piece(piece_start_s, piece_end_s, p.text, p.confidence))
        floor_s = piece_start_s
    return out
