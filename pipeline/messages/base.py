"""The message base class and the registry (constraints and the rejection error: ``constraints.py``).

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
from types import MappingProxyType
from typing import ClassVar, TypeVar

from pipeline.messages.constraints import (  # re-exported: message modules import them from here
    AtLeast,
    Below,
    Count,
    FrameRejected,
    FreeForm,
    Max,
    Min,
    NonNegFloat,
    Payload,
    Probability,
    SampleIndex,
)
from pipeline.messages.schema import schema_for

SCHEMA_VERSION = 1  # carried in every frame as "v"; a frame of any other version is rejected
DEFAULT_MAX_FRAME_BYTES = 1 << 20  # 1 MiB: larger frames are rejected before unpacking
VERSION_KEY = "v"
KIND_KEY = "kind"
RESERVED_KEYS = frozenset({VERSION_KEY, KIND_KEY})

_KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "REGISTRY",
    "SCHEMA_VERSION",
    "AtLeast",
    "Below",
    "Count",
    "FrameRejected",
    "FreeForm",
    "Max",
    "Message",
    "Min",
    "NonNegFloat",
    "Payload",
    "Probability",
    "SampleIndex",
    "register",
]


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
    schema_for(cls)  # compile now: a bad hint fails at import
    _REGISTRY[kind] = cls
    return cls
