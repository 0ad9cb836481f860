#!/usr/bin/env python3
"""streamscribe command line: parses arguments, loads the configuration, hands over.

run.py config show             effective configuration and where each value came from
run.py transcribe FILE         transcribe a file in parallel overlapping chunks
run.py models list|convert     the local model cache
run.py devices                 audio input devices
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline.errors import StreamscribeError

logger = logging.getLogger("streamscribe")

EXIT_USAGE = 2  # bad input: config, arguments, files


def add_config_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("configuration")
    group.add_argument("--config", metavar="TOML", help="configuration file")
    group.add_argument(
        "--profile",
        choices=("balanced", "low-latency", "power-saving", "high-accuracy"),
        help="named set of defaults (default: balanced)",
    )
    group.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one configuration key (repeatable)",
    )


def load_effective_config(args: argparse.Namespace, extra: dict[str, object] | None = None):
    """The configuration from file, environment and these arguments (highest precedence)."""
    from config.loader import load_config, parse_assignments

    overrides: dict[str, object] = parse_assignments(args.assignments)
    if args.profile:
        overrides["profile"] = args.profile
    overrides.update(extra or {})
    return load_config(args.config, cli_overrides=overrides)


def cmd_config_show(args: argparse.Namespace) -> int:
    from config.show import render_json, render_text

    loaded = load_effective_config(args)
    print(render_json(loaded) if args.json else render_text(loaded))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run.py", description="streamscribe speech-to-text")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING, ERROR")
    commands = parser.add_subparsers(dest="command", required=True)

    config_parser = commands.add_parser("config", help="show the effective configuration")
    config_commands = config_parser.add_subparsers(dest="config_command", required=True)
    show = config_commands.add_parser("show", help="print every key, its value and its source")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    add_config_options(show)
    show.set_defaults(handler=cmd_config_show)

    for register in COMMAND_REGISTRARS:
        register(commands)
    return parser


# Further sub-commands register themselves here (see the functions below).
COMMAND_REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = []


def registrar(function: Callable[[argparse._SubParsersAction], None]):
    COMMAND_REGISTRARS.append(function)
    return function


def cmd_models_list(args: argparse.Namespace) -> int:
    from pipeline.models import cache_root, list_cached_models

    models = list_cached_models()
    if args.json:
        import json

        print(
            json.dumps(
                [
                    {
                        "name": m.name,
                        "path": str(m.path),
                        "source": m.source,
                        "size_bytes": m.size_bytes,
                        "quantization": m.quantization,
                    }
                    for m in models
                ],
                indent=2,
            )
        )
        return 0
    print(f"model cache: {cache_root()}")
    if not models:
        print(
            "(empty: the embedded model is converted on first use, or run `run.py models convert`)"
        )
    for model in models:
        print(
            f"{model.name:32s} {model.quantization:5s} {model.size_bytes / 1e6:8.1f} MB  {model.path}"
        )
        print(f"{'':32s} from {model.source}")
    return 0


def cmd_models_convert(args: argparse.Namespace) -> int:
    from pipeline.models import resolve_model

    path = resolve_model(args.source, quantization=args.quantization)
    print(path)
    return 0


@registrar
def register_models(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser("models", help="the local model cache")
    sub = models.add_subparsers(dest="models_command", required=True)
    listing = sub.add_parser("list", help="show converted models in the cache")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_models_list)
    convert = sub.add_parser(
        "convert", help="convert a model into the cache (prints its MLX directory)"
    )
    convert.add_argument(
        "source",
        nargs="?",
        default="",
        help="CTranslate2 Whisper dir, MLX dir or HF repo id (default: the embedded tiny.en)",
    )
    convert.add_argument("--quantization", choices=("none", "8bit", "4bit"), default="none")
    convert.set_defaults(handler=cmd_models_convert)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(processName)s[%(process)d] %(name)s: %(message)s",
    )
    try:
        return args.handler(args)
    except StreamscribeError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
