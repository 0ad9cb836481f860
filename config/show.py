"""Rendering the effective configuration with the source of every value (``run.py config show``)."""

from __future__ import annotations

import json
from typing import Any

from config.loader import LoadedConfig, as_tree


def render_text(loaded: LoadedConfig) -> str:
    """TOML-like text: one ``key = value  # source`` line per key, grouped by section."""
    tree = as_tree(loaded.config)
    lines = [f"profile = {_toml_value(tree.pop('profile'))}  # {loaded.sources['profile']}"]
    for section, entries in tree.items():
        lines.append("")
        lines.append(f"[{section}]")
        for key, value in entries.items():
            source = loaded.sources.get(f"{section}.{key}", "default")
            lines.append(f"{key} = {_toml_value(value)}  # {source}")
    return "\n".join(lines)


def render_json(loaded: LoadedConfig) -> str:
    tree = as_tree(loaded.config)
    return json.dumps({"config": tree, "sources": dict(loaded.sources)}, indent=2)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)
