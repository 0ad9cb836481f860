"""The local model cache: content-keyed directories, installed atomically, listed for the CLI.

A converted model lives in ``<cache>/<name>-<source hash[:12]>[-q8|-q4]``. It is written into a
hidden temporary directory next to it and renamed into place, so a crash or two workers converting
at once never leave half a model: a directory with a final name is complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ModelError

logger = logging.getLogger(__name__)

CACHE_DIR_ENV = "STREAMSCRIBE_CACHE_DIR"
METADATA_FILE = "streamscribe.json"  # written last into every converted model directory
QUANTIZATIONS: dict[str, int | None] = {"none": None, "8bit": 8, "4bit": 4}  # name -> bits
_STALE_TMP_S = 3600.0  # temporary directories older than this are leftovers of a crash
_HASH_BLOCK_BYTES = 1 << 20
HASH_MEMO_FILE = ".hashes.json"  # content hashes by (path, size, mtime): content_hash_memo
_HASH_MEMO_MAX = 64  # entries kept in the memo (the newest)


@dataclass(frozen=True, slots=True)
class CachedModel:
    """One converted model in the cache."""

    name: str  # e.g. "whisper-tiny.en"
    path: Path  # the MLX model directory
    source: str  # what it was converted from (a path or repo id)
    size_bytes: int
    quantization: str  # "none", "8bit" or "4bit"


def cache_root() -> Path:
    """``$STREAMSCRIBE_CACHE_DIR`` or ``~/.cache/streamscribe/models``."""
    override = os.environ.get(CACHE_DIR_ENV, "").strip()
    return Path(override).expanduser() if override else Path.home() / ".cache/streamscribe/models"


def check_quantization(quantization: str) -> int | None:
    """The bit width of ``quantization`` (None for "none"); ``ModelError`` if unknown."""
    if quantization not in QUANTIZATIONS:
        allowed = ", ".join(QUANTIZATIONS)
        raise ModelError(f"unknown quantization {quantization!r}; allowed: {allowed}")
    return QUANTIZATIONS[quantization]


def content_hash(files: Iterable[Path], salt: str = "") -> str:
    """Hex sha256 over ``salt`` and the names and bytes of ``files`` (missing ones skipped)."""
    digest = hashlib.sha256(salt.encode())
    for path in files:
        if not path.is_file():
            continue
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as file:
            while block := file.read(_HASH_BLOCK_BYTES):
                digest.update(block)
    return digest.hexdigest()


def content_hash_memo(files: Iterable[Path], salt: str = "") -> str:
    """``content_hash``, remembered in ``<cache>/.hashes.json`` under the files' resolved paths,
    sizes and modification times: an unchanged source is not read again at every worker start
    (75 MB for tiny.en, ~60 ms of CPU); a changed one (size or mtime) is hashed afresh."""
    files = list(files)
    key_parts = [salt]
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue  # missing files are skipped by content_hash too
        key_parts.append(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    key = hashlib.sha256("\0".join(key_parts).encode()).hexdigest()
    memo_path = cache_root() / HASH_MEMO_FILE
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    if isinstance(memo, dict) and isinstance(memo.get(key), str):
        return memo[key]
    digest = content_hash(files, salt)
    memo = memo if isinstance(memo, dict) else {}
    memo = dict(list(memo.items())[-(_HASH_MEMO_MAX - 1) :]) if memo else {}
    memo[key] = digest
    try:
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo_path.with_name(f"{HASH_MEMO_FILE}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        tmp.write_text(json.dumps(memo), encoding="utf-8")
        os.replace(tmp, memo_path)  # atomic: a concurrent reader sees the old or the new memo
    except OSError as e:
        logger.debug("hash memo %s not written: %s", memo_path, e)
    return digest


def entry_name(name: str, source_hash: str, quantization: str) -> str:
    """``<name>-<hash[:12]>[-q8|-q4]`` with ``name`` made filesystem-safe."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"
    bits = check_quantization(quantization)
    return f"{safe}-{source_hash[:12]}" + (f"-q{bits}" if bits else "")


def install(final: Path, write: Callable[[Path], None]) -> Path:
    """Make ``final`` by calling ``write(tmp_dir)`` and renaming; reuse it if it already exists."""
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(final.parent)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        write(tmp)
        os.rename(tmp, final)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if final.is_dir():  # another process finished the same conversion first
            logger.info("%s was installed concurrently; using it", final)
            return final
        raise ModelError(f"cannot install model into {final}: {e}") from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("installed model %s", final)
    return final


def _remove_stale_tmp(root: Path) -> None:
    now = time.time()
    for leftover in root.glob(".tmp-*"):
        try:
            if now - leftover.stat().st_mtime > _STALE_TMP_S:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue


def write_metadata(model_dir: Path, metadata: dict[str, object]) -> None:
    (model_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=1), encoding="utf-8")


def read_metadata(model_dir: Path) -> dict[str, object]:
    """The ``streamscribe.json`` of a converted model ({} when absent or unreadable)."""
    try:
        return json.loads((model_dir / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _size_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def list_cached_models(root: Path | None = None) -> list[CachedModel]:
    """Every complete converted model in the cache, sorted by directory name."""
    root = root or cache_root()
    if not root.is_dir():
        return []
    models = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        metadata = read_metadata(entry)
        if not metadata:
            continue
        models.append(
            CachedModel(
                name=str(metadata.get("name", entry.name)),
                path=entry,
                source=str(metadata.get("source", "")),
                size_bytes=_size_bytes(entry),
                quantization=str(metadata.get("quantization", "none")),
            )
        )
    return models
