"""Process-wide MLX setup for the MLX backends: memory bounds and statistics.

Loading MLX with a fast BLAS and choosing thread counts lives in ``pipeline/mlx_blas.py`` (the
model converter needs it too); its names are re-exported here, so a backend or worker imports
everything MLX from this one module.
"""

from __future__ import annotations

import sys

from pipeline.backends.base import MemoryStats
from pipeline.mlx_blas import (
    BLAS_LIBRARY_ENV,
    BlasSetup,
    blas_setup,
    default_blas_threads,
    import_mlx,
    limit_numpy_blas,
    prepare_blas,
    worker_environment,
)

__all__ = [
    "BLAS_LIBRARY_ENV",
    "BlasSetup",
    "blas_setup",
    "configure_mlx",
    "default_blas_threads",
    "import_mlx",
    "limit_numpy_blas",
    "memory_stats",
    "prepare_blas",
    "release_cache",
    "worker_environment",
]


def configure_mlx(cache_limit_mb: int) -> None:
    """Pin MLX to the CPU on Linux and bound its buffer cache to ``cache_limit_mb``."""
    mx = import_mlx()
    if sys.platform == "linux":
        mx.set_default_device(mx.cpu)
    mx.set_cache_limit(cache_limit_mb * 1024 * 1024)


def release_cache() -> None:
    """Return MLX's cached buffers to the allocator (call between requests if memory matters)."""
    import_mlx().clear_cache()


def memory_stats() -> MemoryStats:
    """MLX's active, cache and peak memory in this process."""
    if "mlx.core" not in sys.modules:
        return MemoryStats()
    mx = sys.modules["mlx.core"]
    return MemoryStats(
        active_bytes=int(mx.get_active_memory()),
        cache_bytes=int(mx.get_cache_memory()),
        peak_bytes=int(mx.get_peak_memory()),
    )
