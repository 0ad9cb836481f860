"""The parakeet-mlx backend: FastConformer TDT/RNNT/CTC models, offline and streaming.

Offline, ``transcribe`` runs the whole window through the encoder with the model's own (full,
relative-position) attention and decodes greedily. Streaming, ``open_stream`` returns a
``ParakeetStreamSession`` (``parakeet_stream.py``) that keeps the encoder's attention and
convolution caches between calls and finalizes audio chunk by chunk.

Words are built from the model's subword pieces (``parakeet_words.py``, with the options).

Importing this module is light: mlx and parakeet_mlx are imported inside the functions that
need them, after ``mlx_runtime`` has loaded a fast BLAS.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.backends import mlx_runtime
from pipeline.backends.base import Backend, Capabilities, MemoryStats
from pipeline.backends.parakeet_stream import ParakeetStreamSession
from pipeline.backends.parakeet_words import (  # re-exported: the backend's public names
    ATTENTION_MODES,
    DTYPES,
    OFFLINE_MAX_WINDOW_S,
    SAMPLE_RATE,
    ParakeetStreamingOptions,
    Piece,
    StreamContext,
    clamp_pieces,
    group_words,
    pieces_from_tokens,
    transcription_from_words,
    word_from_pieces,
    words_from_pieces,
)
from pipeline.errors import BackendError, ModelError
from pipeline.words import Transcription

if TYPE_CHECKING:
    from config.schema import AsrConfig

logger = logging.getLogger(__name__)

__all__ = [
    "ATTENTION_MODES",
    "DTYPES",
    "OFFLINE_MAX_WINDOW_S",
    "SAMPLE_RATE",
    "ParakeetBackend",
    "ParakeetStreamingOptions",
    "Piece",
    "StreamContext",
    "clamp_pieces",
    "group_words",
    "pieces_from_tokens",
    "transcription_from_words",
    "word_from_pieces",
    "words_from_pieces",
]


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
