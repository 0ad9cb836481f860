"""On-disk cache of a model's numpy weights: one flat file, memory-mapped read-only on reuse.

Converting an MLX directory into numpy (``weights.convert_numpy_weights``: MLX load, dequantize,
round, copy out) is paid by every worker start. The converted arrays are written once into
``<model cache>/numpy-weights/<model>-<dtype>-<key>/``: ``arrays.bin`` (each array's raw bytes,
64-byte aligned) and ``index.json`` (name, dtype, shape, offset; the source it came from). The
key hashes the weights file's resolved path, size and modification time (and ``config.json``'s),
the dtype and ``CACHE_VERSION``: a changed source gets a new entry, and the entries of the same
source's older versions are removed. Entries are installed atomically (``store.install``), so a
crash or two workers converting at once never leave half a file under a final name; an entry
that does not read back (truncated, unparsable) is removed and converted again.

The arrays come back as read-only views of one ``numpy.memmap``: nothing is read until used, and
workers on the same model share the pages. Both engines take them as they are (the numpy engine
packs copies from them; MLX copies them into its own arrays).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline.errors import ModelError
from pipeline.models import store

logger = logging.getLogger(__name__)

CACHE_VERSION = "1"  # part of the key: bump when the converted numbers change
CACHE_SUBDIR = "numpy-weights"
DATA_FILE = "arrays.bin"
INDEX_FILE = "index.json"
_ALIGN_BYTES = 64


def entry_dir(model_dir: Path, weights_path: Path, dtype: str) -> Path:
    """The cache entry of ``model_dir``'s current weights (the file ``weights_path``) converted
    to ``dtype``."""
    digest = hashlib.sha256(f"{CACHE_VERSION}\0{dtype}".encode())
    for path in (weights_path, model_dir / "config.json"):
        try:
            stat = path.stat()
        except OSError as e:
            raise ModelError(f"{path}: cannot read the model ({e})") from e
        digest.update(f"\0{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return (
        store.cache_root() / CACHE_SUBDIR / f"{_prefix(model_dir, dtype)}{digest.hexdigest()[:16]}"
    )


def _prefix(model_dir: Path, dtype: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", model_dir.name).strip("-.") or "model"
    return f"{safe}-{dtype}-"


def load_or_convert(
    model_dir: Path,
    weights_path: Path,
    dtype: str,
    convert: Callable[[], dict[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """The cached arrays of ``model_dir`` (its weights file ``weights_path``) in ``dtype``;
    ``convert()`` and cache them if absent."""
    entry = entry_dir(model_dir, weights_path, dtype)
    cached = read_entry(entry)
    if cached is not None:
        logger.debug("numpy weights of %s from the cache %s", model_dir, entry)
        return cached
    weights = convert()
    source = str(model_dir.resolve())
    try:
        store.install(entry, lambda tmp: write_entry(tmp, weights, source))
    except (ModelError, OSError) as e:
        logger.warning("numpy weights of %s not cached: %s", model_dir, e)
        return weights
    _remove_older(entry, model_dir, dtype, source)
    return weights


def write_entry(directory: Path, weights: dict[str, np.ndarray], source: str) -> None:
    """``arrays.bin`` and ``index.json`` of ``weights`` in ``directory``."""
    index: dict[str, dict[str, object]] = {}
    offset = 0
    with (directory / DATA_FILE).open("wb") as data:
        for name, value in weights.items():
            array = np.ascontiguousarray(value)
            padding = -offset % _ALIGN_BYTES
            data.write(b"\0" * padding)
            offset += padding
            index[name] = {"dtype": array.dtype.str, "shape": list(array.shape), "offset": offset}
            data.write(array.tobytes())
            offset += array.nbytes
    meta = {"version": CACHE_VERSION, "source": source, "bytes": offset, "arrays": index}
    (directory / INDEX_FILE).write_text(json.dumps(meta), encoding="utf-8")


def read_entry(directory: Path) -> dict[str, np.ndarray] | None:
    """The arrays of an entry as read-only memory-mapped views; None when absent. An entry that
    does not read back is removed (the caller converts again)."""
    if not directory.is_dir():
        return None
    try:
        meta = json.loads((directory / INDEX_FILE).read_text(encoding="utf-8"))
        data_path = directory / DATA_FILE
        size = data_path.stat().st_size
        if meta.get("version") != CACHE_VERSION or size != meta["bytes"]:
            raise ValueError(f"{data_path} holds {size} bytes, the index says {meta.get('bytes')}")
        buffer = np.memmap(data_path, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
        arrays: dict[str, np.ndarray] = {}
        for name, spec in meta["arrays"].items():
            dtype = np.dtype(spec["dtype"])
            shape = tuple(int(n) for n in spec["shape"])
            count = int(np.prod(shape, dtype=np.int64))
            arrays[name] = np.frombuffer(
                buffer, dtype=dtype, count=count, offset=int(spec["offset"])
            ).reshape(shape)
        return arrays
    except (OSError, ValueError, KeyError, TypeError) as e:
        logger.warning("numpy weight cache %s unreadable (%s); converting again", directory, e)
        shutil.rmtree(directory, ignore_errors=True)
        return None


def _remove_older(entry: Path, model_dir: Path, dtype: str, source: str) -> None:
    """Entries of older versions of the same source (same path, other size or mtime)."""
    for other in entry.parent.glob(f"{_prefix(model_dir, dtype)}*"):
        if other == entry or not other.is_dir():
            continue
        try:
            meta = json.loads((other / INDEX_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if meta.get("source") == source:
            logger.info("removing the outdated numpy weight cache %s", other)
            shutil.rmtree(other, ignore_errors=True)
