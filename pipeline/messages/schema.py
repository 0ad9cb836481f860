"""Field validation compiled from dataclass type hints.

``schema_for(cls)`` turns the hints of a dataclass into one converter per field. A converter takes
a decoded msgpack value and returns the typed value (lists become tuples, maps become nested
dataclasses) or raises :class:`FrameRejected`. Supported hints: ``bool``, ``int`` (never a bool),
``float`` (an int is accepted; NaN and infinities are not), ``str``, ``bytes``, ``Literal[...]``,
``X | None``, ``tuple[X, ...]``, ``dict[str, X]``, nested dataclasses (e.g. ``Word``) and
``Annotated[X, Min(..), Max(..), AtLeast(..), Below(..), FreeForm(..)]``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pipeline.messages.constraints import AtLeast, Below, FrameRejected, FreeForm, Max, Min

Converter = Callable[[Any, str], Any]

_MISSING = dataclasses.MISSING


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    convert: Converter
    required: bool  # no default: the field must be present on the wire
    at_least: tuple[str, ...]  # sibling fields this one must be >= to
    below: tuple[str, ...]  # sibling fields this one must be < than


@dataclass(frozen=True, slots=True)
class Schema:
    cls: type
    fields: tuple[FieldSpec, ...]
    names: frozenset[str]

    def convert(self, raw: Any, path: str) -> Any:
        """Build an instance of ``cls`` from a decoded map, checking every field."""
        if not isinstance(raw, dict):
            raise FrameRejected("field_type", f"{path}: expected a map, got {_type_name(raw)}")
        unknown = raw.keys() - self.names
        if unknown:
            names = ", ".join(sorted(map(str, unknown))[:5])
            raise FrameRejected("unknown_field", f"{path}: unknown field(s) {names}")
        values: dict[str, Any] = {}
        for spec in self.fields:
            if spec.name in raw:
                values[spec.name] = spec.convert(raw[spec.name], f"{path}.{spec.name}")
            elif spec.required:
                raise FrameRejected("missing_field", f"{path}: missing field {spec.name!r}")
        for spec in self.fields:
            value = values.get(spec.name)
            if value is None:
                continue
            for other in spec.at_least:
                bound = values.get(other)
                if bound is not None and value < bound:
                    raise FrameRejected(
                        "field_value", f"{path}.{spec.name}={value} is less than {other}={bound}"
                    )
            for other in spec.below:
                bound = values.get(other)
                if bound is not None and value >= bound:
                    raise FrameRejected(
                        "field_value", f"{path}.{spec.name}={value} is not below {other}={bound}"
                    )
        return self.cls(**values)


_SCHEMAS: dict[type, Schema] = {}


def schema_for(cls: type) -> Schema:
    """The (cached) schema of a dataclass; raises TypeError for a hint it cannot validate."""
    schema = _SCHEMAS.get(cls)
    if schema is None:
        schema = _compile_schema(cls)
        _SCHEMAS[cls] = schema
    return schema


def _compile_schema(cls: type) -> Schema:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls, include_extras=True)
    specs = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        hint = hints[f.name]
        metadata = typing.get_args(hint)[1:] if typing.get_origin(hint) is Annotated else ()
        required = f.default is _MISSING and f.default_factory is _MISSING
        specs.append(
            FieldSpec(
                name=f.name,
                convert=_converter(hint, f"{cls.__name__}.{f.name}"),
                required=required,
                at_least=tuple(m.field for m in metadata if isinstance(m, AtLeast)),
                below=tuple(m.field for m in metadata if isinstance(m, Below)),
            )
        )
    names = frozenset(s.name for s in specs)
    for spec in specs:
        for other in spec.at_least + spec.below:
            if other not in names:
                raise TypeError(f"{cls.__name__}.{spec.name} refers to unknown field {other!r}")
    return Schema(cls=cls, fields=tuple(specs), names=names)


def _type_name(value: Any) -> str:
    return type(value).__name__


def _converter(hint: Any, where: str) -> Converter:
    """Compile one hint. ``where`` names the field for errors in the hint itself."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Annotated:
        base, metadata = args[0], args[1:]
        free = next((m for m in metadata if isinstance(m, FreeForm)), None)
        if free is not None:
            return _free_form(free)
        inner = _converter(base, where)
        low = max((m.value for m in metadata if isinstance(m, Min)), default=None)
        high = min((m.value for m in metadata if isinstance(m, Max)), default=None)
        if low is None and high is None:
            return inner
        return _ranged(inner, low, high)
    if hint is bool:
        return _exact(bool)
    if hint is int:
        return _exact(int)
    if hint is str:
        return _exact(str)
    if hint is bytes:
        return _exact(bytes)
    if hint is float:
        return _float
    if origin is Literal:
        return _literal(args)
    if origin in (Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if len(members) != 1 or len(args) != 2:
            raise TypeError(f"{where}: only 'X | None' unions are supported, got {hint!r}")
        return _optional(_converter(members[0], where))
    if origin is tuple:
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"{where}: only tuple[X, ...] is supported, got {hint!r}")
        return _sequence(_converter(args[0], where))
    if origin is dict:
        if args[0] is not str:
            raise TypeError(f"{where}: map keys must be str, got {hint!r}")
        return _mapping(_converter(args[1], where))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return lambda value, path: schema_for(hint).convert(value, path)
    raise TypeError(f"{where}: cannot validate a field of type {hint!r}")


def _exact(expected: type) -> Converter:
    def convert(value: Any, path: str) -> Any:
        if type(value) is not expected:  # exact: a bool is not an int
            raise FrameRejected(
                "field_type", f"{path}: expected {expected.__name__}, got {_type_name(value)}"
            )
        return value

    return convert


def _float(value: Any, path: str) -> float:
    if type(value) is not float and type(value) is not int:
        raise FrameRejected("field_type", f"{path}: expected float, got {_type_name(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise FrameRejected("field_value", f"{path}: {number} is not a finite number")
    return number


def _ranged(inner: Converter, low: float | None, high: float | None) -> Converter:
    def convert(value: Any, path: str) -> Any:
        value = inner(value, path)
        if (low is not None and value < low) or (high is not None and value > high):
            raise FrameRejected("field_value", f"{path}={value} is outside [{low}, {high}]")
        return value

    return convert


def _literal(choices: tuple[Any, ...]) -> Converter:
    allowed = frozenset((type(c), c) for c in choices)
    types_allowed = frozenset(type(c) for c in choices)

    def convert(value: Any, path: str) -> Any:
        if type(value) not in types_allowed:
            expected = " or ".join(sorted(t.__name__ for t in types_allowed))
            raise FrameRejected(
                "field_type", f"{path}: expected {expected}, got {_type_name(value)}"
            )
        if (type(value), value) not in allowed:
            raise FrameRejected(
                "field_value", f"{path}={value!r} is not one of {', '.join(map(repr, choices))}"
            )
        return value

    return convert


def _optional(inner: Converter) -> Converter:
    return lambda value, path: None if value is None else inner(value, path)


def _sequence(inner: Converter) -> Converter:
    def convert(value: Any, path: str) -> tuple[Any, ...]:
        if type(value) is not list and type(value) is not tuple:
            raise FrameRejected("field_type", f"{path}: expected an array, got {_type_name(value)}")
        return tuple(inner(item, f"{path}[{i}]") for i, item in enumerate(value))

    return convert


def _mapping(inner: Converter) -> Converter:
    def convert(value: Any, path: str) -> dict[str, Any]:
        if type(value) is not dict:
            raise FrameRejected("field_type", f"{path}: expected a map, got {_type_name(value)}")
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise FrameRejected("field_type", f"{path}: map key {key!r} is not a str")
            out[key] = inner(item, f"{path}[{key!r}]")
        return out

    return convert


_SCALARS = (type(None), bool, int, float, str, bytes)


def _free_form(limits: FreeForm) -> Converter:
    def convert(value: Any, path: str) -> dict[str, Any]:
        if type(value) is not dict:
            raise FrameRejected("field_type", f"{path}: expected a map, got {_type_name(value)}")
        budget = [limits.max_items]

        def walk(item: Any, depth: int, where: str) -> Any:
            budget[0] -= 1
            if budget[0] < 0:
                raise FrameRejected("field_value", f"{path}: more than {limits.max_items} values")
            kind = type(item)
            if kind in _SCALARS:
                return item
            if depth >= limits.max_depth:
                raise FrameRejected(
                    "field_value", f"{where}: nested deeper than {limits.max_depth}"
                )
            if kind is list or kind is tuple:
                return [walk(x, depth + 1, f"{where}[{i}]") for i, x in enumerate(item)]
            if kind is dict:
                out = {}
                for key, x in item.items():
                    if type(key) is not str:
                        raise FrameRejected("field_type", f"{where}: map key {key!r} is not a str")
                    out[key] = walk(x, depth + 1, f"{where}[{key!r}]")
                return out
            raise FrameRejected("field_type", f"{where}: {_type_name(item)} is not msgpack-native")

        return walk(value, 0, path)

    return convert


def to_wire(value: Any) -> Any:
    """A message (or any field value) as msgpack-native data: dataclasses become maps."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_wire(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if type(value) is tuple or type(value) is list:
        return [to_wire(v) for v in value]
    if type(value) is dict:
        return {k: to_wire(v) for k, v in value.items()}
    return value
