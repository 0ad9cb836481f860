"""``config/default.toml``: every key with its default, help and allowed values, made from the
schema so the two cannot drift apart (``tests/test_config.py`` compares them).

Regenerate after changing the schema: ``.venv/bin/python -m config.default_toml``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from config.loader import section_classes
from config.schema import Config
from config.show import _toml_value
from config.validation import describe_allowed, field_types

PATH = Path(__file__).with_name("default.toml")
HEADER = (
    "# streamscribe configuration: every key with its built-in default.",
    "# Precedence: defaults < profile < this file < STREAMSCRIBE_SECTION__KEY < command line.",
    "# Copy the keys you change into your own file and pass it with --config.",
)


def render() -> str:
    profile = dataclasses.fields(Config)[0]
    lines = [
        *HEADER,
        "",
        f"# {profile.metadata['help']}; {describe_allowed(profile, str)}",
        'profile = "balanced"',
    ]
    for name, cls in section_classes().items():
        lines += ["", f"[{name}]"]
        hints = field_types(cls)
        defaults = cls()
        for field in dataclasses.fields(cls):
            lines.append(
                f"# {field.metadata['help']}; {describe_allowed(field, hints[field.name])}"
            )
            lines.append(f"{field.name} = {_toml_value(getattr(defaults, field.name))}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    PATH.write_text(render())
    print(f"wrote {PATH}")
