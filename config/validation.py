"""Turning raw values (TOML, environment strings, command-line strings) into checked typed values.

Every failure is a ``ConfigError`` naming the dotted key, the offending value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import typing
from functools import cache
from typing import Any

from pipeline.errors import ConfigError

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})


@cache
def field_types(section_class: type) -> dict[str, Any]:
    """Resolved type hints of a config dataclass (the schema uses postponed annotations)."""
    return typing.get_type_hints(section_class)


def fields_by_name(section_class: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(section_class)}


def describe_allowed(field: dataclasses.Field, field_type: Any) -> str:
    """Human text of what a field accepts, e.g. ``an integer in [1, 16]``."""
    meta = field.metadata
    if "choices" in meta:
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    kind = _type_word(field_type)
    low, high = meta.get("min"), meta.get("max")
    if low is not None and high is not None:
        return f"{kind} in [{low}, {high}]"
    if low is not None:
        return f"{kind} >= {low}"
    if high is not None:
        return f"{kind} <= {high}"
    return kind


def _type_word(field_type: Any) -> str:
    if field_type is bool:
        return "a boolean (true/false)"
    if field_type is int:
        return "an integer"
    if field_type is float:
        return "a number"
    if field_type is str:
        return "a string"
    if typing.get_origin(field_type) is tuple:
        return "a list of numbers"
    return str(field_type)


def coerce_value(key: str, field: dataclasses.Field, field_type: Any, raw: Any) -> Any:
    """Convert ``raw`` to ``field_type`` and check its constraint; raise ``ConfigError`` if not."""
    allowed = describe_allowed(field, field_type)
    try:
        value = _convert(field_type, raw)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{key} = {raw!r} is not valid: expected {allowed}") from e
    _check_constraint(key, field, value, raw, allowed)
    return value


def _convert(field_type: Any, raw: Any) -> Any:
    if field_type is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
            return raw.strip().lower() in _TRUE_WORDS
        raise TypeError("not a boolean")
    if field_type is int:
        if isinstance(raw, bool):
            raise TypeError("a boolean is not an integer")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, str):
            return int(raw.strip())
        raise TypeError("not an integer")
    if field_type is float:
        if isinstance(raw, bool):
            raise TypeError("a boolean is not a number")
        if isinstance(raw, (int, float)):
            return float(raw)
        if isinstance(raw, str):
            return float(raw.strip())
        raise TypeError("not a number")
    if field_type is str:
        if isinstance(raw, str):
            return raw
        raise TypeError("not a string")
    if typing.get_origin(field_type) is tuple:
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)) or not items:
            raise TypeError("not a non-empty list")
        return tuple(_convert(float, item) for item in items)
    raise TypeError(f"unsupported field type {field_type!r}")


def _check_constraint(
    key: str, field: dataclasses.Field, value: Any, raw: Any, allowed: str
) -> None:
    meta = field.metadata
    values = value if isinstance(value, tuple) else (value,)
    for item in values:
        if "choices" in meta and item not in meta["choices"]:
            raise ConfigError(f"{key} = {raw!r} is not allowed: expected {allowed}")
        if item != item:  # NaN passes every comparison below
            raise ConfigError(f"{key} = {raw!r} is not allowed: expected {allowed}")
        if "min" in meta and item < meta["min"]:
            raise ConfigError(f"{key} = {raw!r} is out of range: expected {allowed}")
        if "max" in meta and item > meta["max"]:
            raise ConfigError(f"{key} = {raw!r} is out of range: expected {allowed}")


def check_cross_field(config: Any) -> None:
    """Rules that involve more than one key."""
    asr = config.asr
    if asr.overlap_duration_s >= asr.chunk_duration_s:
        raise ConfigError(
            f"asr.overlap_duration_s = {asr.overlap_duration_s} must be less than "
            f"asr.chunk_duration_s = {asr.chunk_duration_s}"
        )
    supervisor = config.supervisor
    if supervisor.heartbeat_timeout_s <= supervisor.heartbeat_interval_s:
        raise ConfigError(
            f"supervisor.heartbeat_timeout_s = {supervisor.heartbeat_timeout_s} must be greater "
            f"than supervisor.heartbeat_interval_s = {supervisor.heartbeat_interval_s}"
        )
    capture = config.capture
    if capture.device_retry_max_s < capture.device_retry_initial_s:
        raise ConfigError(
            f"capture.device_retry_max_s = {capture.device_retry_max_s} must be at least "
            f"capture.device_retry_initial_s = {capture.device_retry_initial_s}"
        )
    if config.vad.max_segment_s * 1000 <= config.vad.hangover_ms + config.vad.min_speech_ms:
        raise ConfigError(
            f"vad.max_segment_s = {config.vad.max_segment_s} must exceed "
            "vad.min_speech_ms + vad.hangover_ms"
        )
    if config.vad.max_segment_s >= config.ring.capacity_s / 2:
        raise ConfigError(
            f"vad.max_segment_s = {config.vad.max_segment_s} must be less than half of "
            f"ring.capacity_s = {config.ring.capacity_s}, so a segment's audio is still in the "
            "ring when it is transcribed"
        )
