"""A reader for CTranslate2's binary model format (``model.bin``), without ctranslate2.

Layout (little-endian, written by ``ctranslate2/specs/model_spec.py``):

    u32 binary version (<= 6)
    str spec name (``WhisperSpec``)             str = u16 length incl. NUL, utf-8 bytes, NUL
    u32 spec revision                           (binary version >= 2)
    u32 variable count
    per variable: str name, u8 rank, u32 dims[rank], u8 dtype id, u32 byte count, raw bytes
    u32 alias count                             (binary version >= 3)
    per alias: str alias, str target name
"""

from __future__ import annotations

import logging
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import ModelError

logger = logging.getLogger(__name__)

MAX_BINARY_VERSION = 6  # newest layout this reader understands
# dtype ids in CTranslate2's DataType enum order; bfloat16 is read as raw uint16 and widened.
_DTYPES: tuple[str, ...] = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


@dataclass(frozen=True, slots=True)
class Ct2Model:
    """The variables of one CTranslate2 model, aliases resolved."""

    spec_name: str
    revision: int
    variables: dict[str, np.ndarray]  # name -> array (bfloat16 widened to float32)


class _Cursor:
    """Sequential little-endian reads over a buffer, with the file named in every error."""

    def __init__(self, buffer: bytes | mmap.mmap, path: Path) -> None:
        self._buffer = buffer
        self._offset = 0
        self._path = path

    def take(self, byte_count: int) -> memoryview:
        end = self._offset + byte_count
        if byte_count < 0 or end > len(self._buffer):
            raise ModelError(
                f"{self._path}: truncated CTranslate2 model (wanted {byte_count} bytes at offset "
                f"{self._offset}, file has {len(self._buffer)})"
            )
        view = memoryview(self._buffer)[self._offset : end]
        self._offset = end
        return view

    def unpack(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        return struct.unpack("<" + fmt, self.take(size))[0]

    def string(self) -> str:
        length = self.unpack("H")
        raw = bytes(self.take(length))
        if not raw.endswith(b"\0"):
            raise ModelError(f"{self._path}: corrupt string at offset {self._offset - length}")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as e:
            raise ModelError(f"{self._path}: corrupt string ({e})") from e


def _read_variable(cursor: _Cursor, path: Path) -> tuple[str, np.ndarray]:
    name = cursor.string()
    rank = cursor.unpack("B")
    shape = tuple(cursor.unpack("I") for _ in range(rank))
    dtype_id = cursor.unpack("B")
    byte_count = cursor.unpack("I")
    if dtype_id >= len(_DTYPES):
        raise ModelError(f"{path}: variable {name!r} has unknown dtype id {dtype_id}")
    dtype_name = _DTYPES[dtype_id]
    raw = cursor.take(byte_count)
    storage = np.uint16 if dtype_name == "bfloat16" else np.dtype(dtype_name)
    expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(storage).itemsize
    if expected != byte_count:
        raise ModelError(
            f"{path}: variable {name!r} of shape {shape} {dtype_name} has {byte_count} bytes, "
            f"expected {expected}"
        )
    array = np.frombuffer(raw, dtype=storage).reshape(shape).copy()
    if dtype_name == "bfloat16":
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return name, array


def read_ct2_model(path: Path) -> Ct2Model:
    """Read every variable of ``path`` (a ``model.bin``); raise ``ModelError`` naming the file."""
    path = Path(path)
    try:
        with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse(_Cursor(buf, path), path)
    except FileNotFoundError as e:
        raise ModelError(f"{path}: CTranslate2 model file not found") from e
    except (OSError, ValueError) as e:  # empty file (mmap of length 0), unreadable, ...
        raise ModelError(f"{path}: cannot read CTranslate2 model ({e})") from e


def _parse(cursor: _Cursor, path: Path) -> Ct2Model:
    version = cursor.unpack("I")
    if not 1 <= version <= MAX_BINARY_VERSION:
        raise ModelError(f"{path}: not a CTranslate2 model (binary version {version})")
    spec_name = cursor.string()
    revision = cursor.unpack("I") if version >= 2 else 1
    variables: dict[str, np.ndarray] = {}
    for _ in range(cursor.unpack("I")):
        name, array = _read_variable(cursor, path)
        variables[name] = array
    if version >= 3:
        for _ in range(cursor.unpack("I")):
            alias, target = cursor.string(), cursor.string()
            if target not in variables:
                raise ModelError(f"{path}: alias {alias!r} names missing variable {target!r}")
            variables[alias] = variables[target]
    logger.debug("read %s: %s rev %d, %d variables", path, spec_name, revision, len(variables))
    return Ct2Model(spec_name=spec_name, revision=revision, variables=variables)
