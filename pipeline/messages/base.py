"""The message base class, field constraints, the registry and the rejection error.

Every inter-process message is a frozen dataclass that subclasses :class:`Message`, carries a
class-level ``kind`` tag and is added to the registry with :func:`register`. Its fields are
validated on decode from their type hints alone (see ``schema.py``); constraints that a type
cannot say (``>= 0``, ``end >= start``) ride along in ``typing.Annotated`` metadata, so a new
message needs no validation code of its own.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, TypeVar

from pipeline.errors import MessageError

SCHEMA_VERSION = 1  # carried in every frame as "v"; a frame of any other version is rejected
DEFAULT_MAX_FRAME_BYTES = 1 << 20  # 1 MiB: larger frames are rejected before unpacking
VERSION_KEY = "v"
KIND_KEY = "kind"
RESERVED_KEYS = frozenset({VERSION_KEY, KIND_KEY})

_KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


class FrameRejected(MessageError):
    """A frame that failed to decode; ``reason`` is a short code for counting, the text explains."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# --- constraints, used as typing.Annotated metadata ------------------------------------------


@dataclass(frozen=True, slots=True)
class Min:
    """The value (int or float) must be >= ``value``."""

    value: float


@dataclass(frozen=True, slots=True)
class Max:
    """The value (int or float) must be <= ``value``."""

    value: float


@dataclass(frozen=True, slots=True)
class AtLeast:
    """The value must be >= the value of the sibling field ``field`` (e.g. end >= start)."""

    field: str


@dataclass(frozen=True, slots=True)
class Below:
    """The value must be < the value of the sibling field ``field`` (e.g. index < count)."""

    field: str


@dataclass(frozen=True, slots=True)
class FreeForm:
    """A map of msgpack-native values (None, bool, int, float, str, bytes, lists, str-keyed maps)
    nested at most ``max_depth`` deep and holding at most ``max_items`` values in all."""

    max_depth: int = 8
    max_items: int = 10_000


# Common field types. Indices are absolute ring sample indices (uint64 in the ring header).
SampleIndex = Annotated[int, Min(0), Max(2**64 - 1)]
Count = Annotated[int, Min(0)]
NonNegFloat = Annotated[float, Min(0.0)]  # seconds, milliseconds, ...: the field name says
Probability = Annotated[float, Min(0.0), Max(1.0)]
Payload = Annotated[dict[str, Any], FreeForm()]


# --- the base class and the registry --------------------------------------------------------


class Message:
    """Base of every message. Subclasses are frozen dataclasses with a class-level ``kind``."""

    __slots__ = ()
    kind: ClassVar[str] = ""


M = TypeVar("M", bound=type[Message])

_REGISTRY: dict[str, type[Message]] = {}
REGISTRY: Mapping[str, type[Message]] = MappingProxyType(_REGISTRY)  # kind -> class, read-only


def register(cls: M) -> M:
    """Class decorator: add a frozen ``Message`` dataclass to the registry under its ``kind``."""
    if not (isinstance(cls, type) and issubclass(cls, Message)):
        raise TypeError(f"{cls!r} is not a Message subclass")
    if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__} must be a frozen dataclass")
    kind = cls.__dict__.get("kind", "")
    if not isinstance(kind, str) or not _KIND_PATTERN.match(kind):
        raise TypeError(f"{cls.__name__}.kind must be a dotted lower-case tag, got {kind!r}")
    if kind in _REGISTRY and _REGISTRY[kind] is not cls:
        raise TypeError(f"kind {kind!r} of {cls.__name__} is already {_REGISTRY[kind].__name__}")
    clash = RESERVED_KEYS & {f.name for f in dataclasses.fields(cls)}
    if clash:
        raise TypeError(f"{cls.__name__} uses reserved field names {sorted(clash)}")
    from pipeline.messages.schema import schema_for  # compile now: a bad hint fails at import

    schema_for(cls)
    _REGISTRY[kind] = cls
    return cls
