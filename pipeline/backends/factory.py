"""Building the configured backend in a worker process (heavy imports happen here, lazily)."""

from __future__ import annotations

from pipeline.backends.base import Backend
from pipeline.errors import BackendError

# A model spec that builds parakeet's tiny randomly initialised test model (no weights needed).
RANDOM_PARAKEET_SPEC = "random:parakeet-tiny"


def build_backend(asr, model_path: str) -> Backend:
    """The backend of ``asr.backend`` loaded from ``model_path`` (already resolved by the parent).

    ``asr`` is an ``AsrConfig``. For Whisper, ``model_path`` is an MLX directory; for parakeet,
    a parakeet-mlx directory or ``RANDOM_PARAKEET_SPEC``.
    """
    if asr.backend == "whisper":
        from dataclasses import replace

        from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

        options = replace(WhisperOptions.from_config(asr), blas_threads=_blas_threads(asr))
        return WhisperBackend(model_path, options, quantization="none")  # quantized when resolved
    if asr.backend == "parakeet":
        from pipeline.backends.parakeet import ParakeetBackend, ParakeetStreamingOptions
        from pipeline.backends.parakeet_testing import tiny_parakeet_config

        options = ParakeetStreamingOptions.from_config(asr)
        if model_path == RANDOM_PARAKEET_SPEC:
            return ParakeetBackend.from_config(
                tiny_parakeet_config("tdt"),
                seed=1,
                options=options,
                cache_limit_mb=asr.mlx_cache_limit_mb,
            )
        return ParakeetBackend.load(
            model_path, options=options, cache_limit_mb=asr.mlx_cache_limit_mb
        )
    raise BackendError(f"unknown backend {asr.backend!r}: expected whisper or parakeet")


def _blas_threads(asr) -> int:
    """This worker's BLAS threads: configured, or what the parent put in OPENBLAS_NUM_THREADS."""
    import os

    return asr.blas_threads or int(os.environ.get("OPENBLAS_NUM_THREADS", "0") or 0)


def resolve_model_path(asr) -> str:
    """What a worker loads for ``asr`` (run once in the parent, so N workers don't all convert)."""
    if asr.backend == "whisper":
        from pipeline.models import resolve_model

        return str(resolve_model(asr.model, quantization=asr.quantization))
    if not asr.model:
        raise BackendError(
            "the parakeet backend needs asr.model: a local parakeet-mlx directory "
            f"(or {RANDOM_PARAKEET_SPEC!r}, a random-weight test model)"
        )
    return asr.model
