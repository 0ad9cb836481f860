"""Models: find, convert (CTranslate2 → MLX), quantize and cache Whisper models.

Public API, used by the CLI (``run.py models``) and the asr worker:

- ``resolve_model(spec, quantization) -> Path``: an MLX directory ready to load.
- ``convert_ctranslate2(src, quantization) -> Path``: convert a faster-whisper directory once.
- ``list_cached_models() -> list[CachedModel]``: what the local cache holds.

Nothing here imports mlx at module import; conversion imports it when it runs.
"""

from pipeline.models.convert import convert_ctranslate2
from pipeline.models.resolve import EMBEDDED_NAME, embedded_model_dir, resolve_model
from pipeline.models.store import CachedModel, cache_root, list_cached_models

__all__ = [
    "EMBEDDED_NAME",
    "CachedModel",
    "cache_root",
    "convert_ctranslate2",
    "embedded_model_dir",
    "list_cached_models",
    "resolve_model",
]
