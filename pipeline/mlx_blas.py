"""Loading MLX in any process: a fast BLAS before the first ``import mlx``, and thread counts.

On Linux the ``mlx[cpu]`` wheel links a bundled reference BLAS (about 5 GFLOP/s for the encoder's
matmuls). Loading the system OpenBLAS with ``RTLD_GLOBAL`` *before* ``mlx.core`` is first imported
makes the dynamic linker bind libmlx's ``cblas_sgemm`` to OpenBLAS (about 40× faster here); no
``LD_PRELOAD`` is needed. So a process that runs MLX inference must:

1. call ``prepare_blas(threads)`` before anything imports ``mlx`` (the asr worker does it first
   thing; ``import_mlx()`` does it with default threads for code that forgets), and
2. give each of N workers about ``cores // N`` BLAS threads so they don't oversubscribe the cores:
   ``worker_environment(blas_threads, workers)`` returns the variables for a spawned child.

On macOS MLX uses Accelerate and Metal; nothing is loaded there. If no OpenBLAS is found a warning
is logged and MLX runs on its bundled BLAS (correct, slow). ``STREAMSCRIBE_BLAS_LIBRARY`` names a
library to load instead, or ``none`` to disable the preload.

Both the backends (``pipeline/backends/mlx_runtime.py`` adds memory bounds and statistics) and
the model converter (``pipeline/models/convert.py``) import MLX through ``import_mlx`` here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

logger = logging.getLogger(__name__)

BLAS_LIBRARY_ENV = "STREAMSCRIBE_BLAS_LIBRARY"  # path of a cblas library, or "none"
_THREAD_ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


def _openblas_candidates() -> list[Path]:
    """Where distributions install a pthreads OpenBLAS that exports ``cblas_sgemm``."""
    arch = platform.machine()
    names = [
        f"/usr/lib/{arch}-linux-gnu/openblas-pthread/libopenblas.so.0",  # Debian, Ubuntu
        f"/usr/lib/{arch}-linux-gnu/openblas-openmp/libopenblas.so.0",
        f"/usr/lib/{arch}-linux-gnu/libopenblas.so.0",
        "/usr/lib64/libopenblasp.so.0",  # Fedora, RHEL (pthreads build)
        "/usr/lib64/libopenblas.so.0",
        "/usr/lib/libopenblas.so.0",  # Arch, Alpine
        "/usr/local/lib/libopenblas.so.0",
    ]
    found = ctypes.util.find_library("openblas")
    if found:
        names.append(found)
    return [Path(name) for name in names]


@dataclass(frozen=True, slots=True)
class BlasSetup:
    """What ``prepare_blas`` did in this process."""

    library: str | None  # the OpenBLAS loaded globally, None when MLX uses its bundled BLAS
    threads: int  # BLAS threads of this process
    note: str  # why, in words (for logs and ``status``)


_setup: BlasSetup | None = None


def default_blas_threads(workers: int = 1) -> int:
    """BLAS threads per worker: the cores divided among the workers, at least 1."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def worker_environment(blas_threads: int = 0, workers: int = 1) -> dict[str, str]:
    """Environment variables a spawned MLX worker needs (merge into ``os.environ`` before spawn).

    ``blas_threads`` 0 means ``cores // workers``. The worker still calls ``prepare_blas``.
    """
    threads = blas_threads or default_blas_threads(workers)
    return {name: str(threads) for name in _THREAD_ENV_VARS}


def _find_openblas() -> Path | None:
    override = os.environ.get(BLAS_LIBRARY_ENV, "").strip()
    if override:
        return None if override.lower() == "none" else Path(override)
    for candidate in _openblas_candidates():
        if candidate.is_absolute() and candidate.exists():
            return candidate
        if not candidate.is_absolute():  # a bare soname from find_library
            return candidate
    return None


def prepare_blas(threads: int = 0) -> BlasSetup:
    """Load OpenBLAS globally so MLX uses it; call before the first ``import mlx``. Idempotent.

    ``threads`` 0 keeps ``OPENBLAS_NUM_THREADS`` if set, else uses every core.
    """
    global _setup
    if _setup is not None:
        return _setup
    env_threads = os.environ.get("OPENBLAS_NUM_THREADS", "")
    thread_count = threads or (int(env_threads) if env_threads.isdigit() else 0)
    thread_count = thread_count or default_blas_threads(1)
    if sys.platform != "linux":
        _setup = BlasSetup(None, thread_count, f"{sys.platform}: MLX uses the platform BLAS")
        return _setup
    if "mlx.core" in sys.modules:
        _setup = BlasSetup(None, thread_count, "mlx was imported before prepare_blas: too late")
        logger.warning("mlx.core already imported; MLX keeps its bundled (slow) BLAS")
        return _setup
    for name in _THREAD_ENV_VARS:  # read by OpenBLAS when it initialises
        os.environ[name] = str(thread_count)
    library = _find_openblas()
    if library is None:
        _setup = BlasSetup(None, thread_count, "no OpenBLAS found (install libopenblas0-pthread)")
        logger.warning("no system OpenBLAS found; MLX matmuls on CPU will be ~40x slower")
        return _setup
    try:
        handle = ctypes.CDLL(str(library), mode=ctypes.RTLD_GLOBAL)
    except OSError as e:
        _setup = BlasSetup(None, thread_count, f"cannot load {library}: {e}")
        logger.warning("cannot load %s (%s); MLX keeps its bundled BLAS", library, e)
        return _setup
    set_threads = getattr(handle, "openblas_set_num_threads", None)
    if set_threads is not None:
        set_threads(ctypes.c_int(thread_count))
    _setup = BlasSetup(str(library), thread_count, "OpenBLAS loaded before mlx")
    logger.info("BLAS for MLX: %s, %d threads", library, thread_count)
    return _setup


def limit_numpy_blas(threads: int = 0) -> bool:
    """Limit numpy's own BLAS (used by the CPU engines) to ``threads``; False if not possible.

    numpy reads ``OPENBLAS_NUM_THREADS`` when it is imported, so a spawned worker gets the right
    count from ``worker_environment``; this adjusts a process that imported numpy earlier.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return False
    threadpool_limits(limits=threads or default_blas_threads(1), user_api="blas")
    return True


def blas_setup() -> BlasSetup | None:
    """What ``prepare_blas`` did, or None if it has not run."""
    return _setup


def import_mlx() -> ModuleType:
    """``mlx.core``, imported after ``prepare_blas`` (with default threads if nobody called it)."""
    prepare_blas()
    import mlx.core as mx

    return mx
