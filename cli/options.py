"""Configuration flags read from the schema, and the overrides they make.

A flag bound to a configuration key (``--backend`` -> ``asr.backend``) takes its choices, type
and help from ``config.schema``, so the command line never lists choices of its own. Every
command loads the configuration the same way: file, environment, ``--profile``, ``--set``, then
its own key flags (highest precedence).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from config.loader import LoadedConfig, load_config, parse_assignments
from config.schema import Config

KEY_PREFIX = "config_key:"  # argparse dest of a flag bound to a configuration key
SCALAR_TYPES = {"bool": bool, "int": int, "float": float, "str": str}  # schema hints (strings)


def schema_choices(dotted: str) -> tuple[Any, ...] | None:
    """The values the schema allows for ``dotted`` (None: any value of its type)."""
    return schema_key(dotted).metadata.get("choices")


def schema_key(dotted: str) -> dataclasses.Field:
    """The schema field of ``section.key`` (or of a top-level key such as ``profile``)."""
    section, _, key = dotted.rpartition(".")
    fields = {f.name: f for f in dataclasses.fields(Config)}
    if section:
        factory = fields[section].default_factory
        fields = {f.name: f for f in dataclasses.fields(factory())}  # type: ignore[misc]
    return fields[key]


def add_key_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    flag: str,
    dotted: str,
    help: str | None = None,
) -> None:
    """``flag`` sets configuration key ``dotted``; choices, type and help come from the schema."""
    key = schema_key(dotted)
    choices = key.metadata.get("choices")
    text = help or key.metadata.get("help", "")
    value_type = SCALAR_TYPES[str(key.type)]
    kwargs: dict[str, Any] = {"dest": KEY_PREFIX + dotted, "default": None}
    if value_type is bool:
        kwargs.update(action="store_const", const=True)
    else:
        kwargs.update(choices=choices, type=value_type)
        if choices is None:
            kwargs["metavar"] = dotted.rpartition(".")[2].upper()
    parser.add_argument(flag, help=f"{text} ({dotted})", **kwargs)


def add_config_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("configuration")
    group.add_argument("--config", metavar="TOML", help="configuration file")
    add_key_option(group, "--profile", "profile", "named set of defaults (default: balanced)")
    group.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one configuration key (repeatable)",
    )


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """The dotted-key overrides these arguments make: ``--set``, then the key flags."""
    overrides: dict[str, Any] = dict(parse_assignments(getattr(args, "assignments", [])))
    for dest, value in vars(args).items():
        if dest.startswith(KEY_PREFIX) and value is not None:
            overrides[dest[len(KEY_PREFIX) :]] = value
    return overrides


def load_effective_config(
    args: argparse.Namespace, overrides: dict[str, Any] | None = None
) -> LoadedConfig:
    """The configuration from file, environment and these arguments (highest precedence).

    ``overrides``: ``overrides_from(args)`` when the caller already has them.
    """
    if overrides is None:
        overrides = overrides_from(args)
    return load_config(getattr(args, "config", None), cli_overrides=overrides)
