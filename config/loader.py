"""Loading the configuration from its five sources, in order of precedence.

built-in defaults < profile < config file (TOML) < environment (``STREAMSCRIBE_SECTION__KEY``)
< command line (``section.key=value``). The profile is chosen by the highest source that names
one. Each effective value remembers where it came from, for ``run.py config show``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from config.profiles import PROFILES
from config.schema import SECTIONS, Config
from config.validation import check_cross_field, coerce_value, field_types, fields_by_name
from pipeline.errors import ConfigError

logger = logging.getLogger(__name__)

ENV_PREFIX = "STREAMSCRIBE_"
ENV_SEPARATOR = "__"  # STREAMSCRIBE_ASR__WORKERS=2 sets asr.workers
DEFAULT_SOURCE = "default"


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    # dotted key -> where its value came from: default, profile:NAME, file:PATH, env:VAR, cli
    sources: Mapping[str, str]


def section_classes() -> dict[str, type]:
    hints = field_types(Config)
    return {name: hints[name] for name in SECTIONS}


def load_config(
    config_path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    cli_overrides: Mapping[str, Any] | None = None,
    overrides_source: str = "cli",
) -> LoadedConfig:
    """Build the effective configuration; raise ``ConfigError`` naming any bad key or value.

    ``cli_overrides`` maps dotted keys (``asr.workers``, or ``profile``) to raw values;
    ``overrides_source`` names them in errors and in each value's source (``stream.open`` for a
    stream's own overrides).
    """
    environ = os.environ if environ is None else environ
    layers: list[tuple[str, dict[str, Any]]] = []
    if config_path is not None:
        layers.append((f"file:{config_path}", _read_toml(Path(config_path))))
    layers.extend(_from_environment(environ))
    named = "command line" if overrides_source == "cli" else overrides_source
    layers.append((overrides_source, _from_dotted(dict(cli_overrides or {}), named)))

    profile = "balanced"
    for _, tree in layers:
        profile = tree.get("profile", profile)
    profile_value = coerce_value("profile", fields_by_name(Config)["profile"], str, profile)

    values: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    sources: dict[str, str] = {}
    _apply(values, sources, PROFILES[profile_value], f"profile:{profile_value}")
    for source, tree in layers:
        _apply(values, sources, {k: v for k, v in tree.items() if k != "profile"}, source)
    for source, tree in reversed(layers):
        if "profile" in tree:
            sources["profile"] = source
            break

    classes = section_classes()
    config = Config(
        profile=profile_value,
        **{name: classes[name](**values[name]) for name in SECTIONS},
    )
    check_cross_field(config)
    for name, cls in classes.items():
        for field_name in fields_by_name(cls):
            sources.setdefault(f"{name}.{field_name}", DEFAULT_SOURCE)
    sources.setdefault("profile", DEFAULT_SOURCE)
    return LoadedConfig(config=config, sources=sources)


def _apply(
    values: dict[str, dict[str, Any]],
    sources: dict[str, str],
    tree: Mapping[str, Any],
    source: str,
) -> None:
    """Validate a partial tree from one source and lay it over ``values``."""
    classes = section_classes()
    for section, entries in tree.items():
        if section not in classes:
            raise ConfigError(
                f"unknown section {section!r} in {source}: expected one of {', '.join(SECTIONS)}"
            )
        if not isinstance(entries, Mapping):
            raise ConfigError(f"{section} in {source} must be a table of keys, not {entries!r}")
        cls = classes[section]
        fields = fields_by_name(cls)
        hints = field_types(cls)
        for key, raw in entries.items():
            dotted = f"{section}.{key}"
            if key not in fields:
                raise ConfigError(
                    f"unknown key {dotted!r} in {source}: {section} has "
                    + ", ".join(sorted(fields))
                )
            try:
                values[section][key] = coerce_value(dotted, fields[key], hints[key], raw)
            except ConfigError as e:
                raise ConfigError(f"{e} (from {source})") from e
            sources[dotted] = source


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as e:
        raise ConfigError(f"config file {path} does not exist") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from e
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read: {e}") from e


def _from_environment(environ: Mapping[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """One layer per ``STREAMSCRIBE_SECTION__KEY`` variable (and ``STREAMSCRIBE_PROFILE``).

    Each layer's source names its variable, so errors and ``config show`` point at it. Other
    ``STREAMSCRIBE_`` variables without the separator (e.g. ``STREAMSCRIBE_CACHE_DIR``) are not
    configuration keys and are left alone.
    """
    layers: list[tuple[str, dict[str, Any]]] = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :]
        raw = environ[name]
        if rest == "PROFILE":
            layers.append((f"env:{name}", {"profile": raw}))
        elif ENV_SEPARATOR in rest:
            section, _, key = rest.partition(ENV_SEPARATOR)
            layers.append((f"env:{name}", {section.lower(): {key.lower(): raw}}))
    return layers


def _from_dotted(overrides: dict[str, Any], source: str) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for dotted, raw in overrides.items():
        if dotted == "profile":
            tree["profile"] = raw
            continue
        section, dot, key = dotted.partition(".")
        if not dot or not key:
            raise ConfigError(f"{source} key {dotted!r} must look like section.key")
        tree.setdefault(section, {})[key] = raw
    return tree


def parse_assignments(assignments: list[str]) -> dict[str, str]:
    """``["asr.workers=2", ...]`` from ``--set`` flags into a dotted-key mapping."""
    result: dict[str, str] = {}
    for item in assignments:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--set {item!r} must look like section.key=value")
        result[key.strip()] = value.strip()
    return result


def as_tree(config: Config) -> dict[str, Any]:
    """The configuration as a plain nested dict (for printing and for sending to children)."""
    return dataclasses.asdict(config)


def from_tree(tree: Mapping[str, Any]) -> Config:
    """Rebuild a ``Config`` from ``as_tree`` output, validating every value again."""
    values: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    sources: dict[str, str] = {}
    _apply(values, sources, {k: v for k, v in tree.items() if k != "profile"}, "tree")
    classes = section_classes()
    config = Config(
        profile=tree.get("profile", "balanced"),
        **{name: classes[name](**values[name]) for name in SECTIONS},
    )
    check_cross_field(config)
    return config
