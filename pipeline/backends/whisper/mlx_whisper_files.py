"""mlx-whisper's tokenizer and assets, without running the package's ``__init__``.

``import mlx_whisper.tokenizer`` first runs ``mlx_whisper/__init__.py``, which imports its
transcription module and, through it, scipy.signal: about 1–3 s of a worker's start-up for code
we never call. The tokenizer module itself needs only tiktoken, so it is loaded from its file,
and the assets are found on disk.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from pipeline.errors import ModelError

_TOKENIZER_MODULE = "streamscribe_mlx_whisper_tokenizer"


@cache
def package_dir() -> Path:
    """The installed mlx_whisper package directory (found, not imported)."""
    spec = importlib.util.find_spec("mlx_whisper")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the mlx-whisper package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def asset_path(name: str) -> Path:
    """A file from mlx_whisper's ``assets`` folder (mel filters, tiktoken vocabularies)."""
    path = package_dir() / "assets" / name
    if not path.exists():
        raise ModelError(f"mlx-whisper asset {path} is missing")
    return path


@cache
def tokenizer_module() -> ModuleType:
    """``mlx_whisper/tokenizer.py`` loaded on its own (it imports only tiktoken and stdlib)."""
    if "mlx_whisper.tokenizer" in sys.modules:  # the package is loaded anyway: reuse it
        return sys.modules["mlx_whisper.tokenizer"]
    path = package_dir() / "tokenizer.py"
    spec = importlib.util.spec_from_file_location(_TOKENIZER_MODULE, path)
    if spec is None or spec.loader is None:
        raise ModelError(f"cannot load the mlx-whisper tokenizer from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_TOKENIZER_MODULE] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module
