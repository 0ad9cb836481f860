"""``encode`` and ``decode``: messages to and from msgpack frames.

A frame is one msgpack map: ``{"v": SCHEMA_VERSION, "kind": <tag>, <field>: <value>, ...}``.
Nested dataclasses (``Word``) are maps of their fields; tuples are arrays. ``decode`` never
raises anything but :class:`FrameRejected` (a ``MessageError``) whose ``reason`` is one of
``REJECTION_REASONS``.
"""

from __future__ import annotations

from typing import Any

import msgpack

from pipeline.messages.base import (
    DEFAULT_MAX_FRAME_BYTES,
    KIND_KEY,
    REGISTRY,
    SCHEMA_VERSION,
    VERSION_KEY,
    FrameRejected,
    Message,
)
from pipeline.messages.schema import schema_for, to_wire

REJECTION_REASONS = (
    "not_bytes",  # the frame is not a bytes-like object
    "oversize",  # longer than max_frame_bytes
    "garbage",  # not one complete msgpack value (truncated, trailing bytes, bad UTF-8, ext types)
    "not_a_map",  # valid msgpack but not a map
    "version",  # "v" missing, not an int, or not SCHEMA_VERSION
    "unknown_kind",  # "kind" missing, not a str, or not registered
    "missing_field",
    "unknown_field",
    "field_type",  # a field of the wrong type (a bool for an int, a str for a float, ...)
    "field_value",  # the right type but out of range, not an allowed choice, or not finite
    "invalid",  # anything else the message class refused while being built
)


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not allowed")


def encode(message: Message, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> bytes:
    """The msgpack frame of ``message``.

    The message is checked by the same rules ``decode`` applies, so nothing is sent that a
    receiver would reject; raises FrameRejected for an invalid or oversize message.
    """
    cls = type(message)
    if REGISTRY.get(cls.kind) is not cls:
        raise FrameRejected("unknown_kind", f"{cls.__name__} is not a registered message")
    body = to_wire(message)
    _build(cls, dict(body))  # validate the way a receiver will
    frame = msgpack.packb(
        {VERSION_KEY: SCHEMA_VERSION, KIND_KEY: cls.kind, **body}, use_bin_type=True
    )
    if len(frame) > max_frame_bytes:
        raise FrameRejected(
            "oversize", f"{cls.__name__} is {len(frame)} bytes, limit {max_frame_bytes}"
        )
    return frame


def decode(frame: bytes, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Message:
    """The message in ``frame``; raises FrameRejected (a MessageError) with a reason otherwise."""
    if not isinstance(frame, (bytes, bytearray, memoryview)):
        raise FrameRejected("not_bytes", f"expected bytes, got {type(frame).__name__}")
    size = len(frame) if not isinstance(frame, memoryview) else frame.nbytes
    if size > max_frame_bytes:
        raise FrameRejected("oversize", f"frame of {size} bytes, limit {max_frame_bytes}")
    try:
        raw = msgpack.unpackb(
            frame,
            raw=False,
            use_list=True,
            strict_map_key=True,
            max_str_len=max_frame_bytes,
            max_bin_len=max_frame_bytes,
            max_array_len=max_frame_bytes,
            max_map_len=max_frame_bytes,
            max_ext_len=0,
            ext_hook=_no_ext,
            timestamp=0,
        )
    except Exception as e:  # msgpack raises ValueError, UnicodeDecodeError, StackError, ...
        raise FrameRejected("garbage", f"not a msgpack value ({type(e).__name__}: {e})") from e
    if type(raw) is not dict:
        raise FrameRejected("not_a_map", f"top-level {type(raw).__name__}, expected a map")
    version = raw.pop(VERSION_KEY, None)
    if type(version) is not int or version != SCHEMA_VERSION:
        raise FrameRejected("version", f"schema version {version!r}, expected {SCHEMA_VERSION}")
    kind = raw.pop(KIND_KEY, None)
    cls = REGISTRY.get(kind) if type(kind) is str else None
    if cls is None:
        shown = repr(kind[:64]) if type(kind) is str else f"a {type(kind).__name__}"
        raise FrameRejected("unknown_kind", f"unknown message kind {shown}")
    return _build(cls, raw)


def _build(cls: type[Message], body: dict[str, Any]) -> Message:
    try:
        return schema_for(cls).convert(body, cls.__name__)
    except FrameRejected:
        raise
    except Exception as e:  # a __post_init__ check, a recursion limit, ...
        raise FrameRejected("invalid", f"{cls.__name__}: {type(e).__name__}: {e}") from e
