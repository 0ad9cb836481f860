"""Field constraints for message type hints, the common field types, and the rejection error.

Constraints ride along in ``typing.Annotated`` metadata and are checked by ``schema.py`` on
decode; ``base.py`` re-exports everything here, so message modules import from one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pipeline.errors import MessageError


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
