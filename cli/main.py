"""``streamscribe`` / ``run.py``: the argument parser and the one ``main`` both run.

streamscribe daemon            run the streaming daemon (capture, VAD, workers, publish)
streamscribe subscribe         print a running daemon's transcripts
streamscribe status            ask a running daemon for its status
streamscribe streams open|list|close   a running daemon's streams
streamscribe transcribe FILE   transcribe a file in parallel overlapping chunks
streamscribe config show       effective configuration and where each value came from
streamscribe models list|convert, devices, keys generate
streamscribe serve             web gateway (page, WebSockets, /metrics); stream: its client
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from cli import commands, gateway_command, service_command, streams_command
from cli.options import add_config_options, add_key_option, schema_choices
from pipeline.errors import StreamscribeError
from pipeline.transcript_formats import FORMATS

EXIT_USAGE = 2  # bad input: config, arguments, files


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="streamscribe speech-to-text")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING, ERROR")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_daemon(sub)
    _add_clients(sub)
    _add_transcribe(sub)
    _add_config(sub)
    _add_models(sub)
    devices = sub.add_parser("devices", help="list audio input devices (* = default)")
    devices.add_argument("--json", action="store_true")
    devices.set_defaults(handler=commands.cmd_devices)
    keys = sub.add_parser("keys", help="CURVE keys for TCP endpoints")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    generate = keys_sub.add_parser("generate", help="create a server and a client key pair")
    generate.add_argument("directory")
    generate.add_argument("--overwrite", action="store_true")
    generate.set_defaults(handler=commands.cmd_keys_generate)
    streams_command.add_arguments(sub)
    service_command.add_arguments(sub)
    gateway_command.add_arguments(sub)
    return parser


def _add_daemon(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("daemon", help="run the streaming daemon")
    add_key_option(
        parser, "--source", "capture.source", "mic, mic:DEVICE, file:PATH, stdin:... or push:..."
    )
    add_key_option(parser, "--pace", "capture.pace", "file sources")
    add_key_option(parser, "--loop", "capture.loop", "file sources: start again at the end")
    _add_asr_options(parser)
    add_key_option(
        parser,
        "--http",
        "outputs.http",
        "HOST:PORT: also run the web gateway there as a supervised child (e.g. 127.0.0.1:8765)",
    )
    parser.add_argument(
        "--instance", default="default", help="name of this daemon (several may run)"
    )
    parser.add_argument(
        "--keep-running", action="store_true", help="stay up after a finite source ends"
    )
    parser.add_argument(
        "--print",
        dest="print_transcripts",
        action="store_true",
        help="also start a subscriber that prints the finals",
    )
    add_config_options(parser)
    parser.set_defaults(handler=commands.cmd_daemon)


def _add_asr_options(parser: argparse.ArgumentParser) -> None:
    add_key_option(parser, "--workers", "asr.workers", "inference worker processes")
    add_key_option(parser, "--backend", "asr.backend")
    add_key_option(parser, "--model", "asr.model", "default: the embedded Whisper tiny.en")


def _add_clients(sub: argparse._SubParsersAction) -> None:
    status = sub.add_parser("status", help="ask a running daemon for its status")
    status.add_argument("--instance", default="default")
    status.add_argument("--json", action="store_true")
    status.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer")
    add_config_options(status)
    status.set_defaults(handler=commands.cmd_status)

    subscribe = sub.add_parser("subscribe", help="print a running daemon's transcripts")
    subscribe.add_argument("--format", choices=FORMATS, default="text")
    subscribe.add_argument("--partials", action="store_true", help="also show partial transcripts")
    subscribe.add_argument("--from-seq", type=int, help="first replay every final from this seq on")
    subscribe.add_argument("--instance", default="default")
    subscribe.add_argument(
        "--stream", default="", help="only this stream's transcripts (stream id)"
    )
    add_config_options(subscribe)
    subscribe.set_defaults(handler=commands.cmd_subscribe)


def _add_transcribe(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("transcribe", help="transcribe a file in parallel overlapping chunks")
    parser.add_argument("file", help="any audio file soundfile reads (wav, flac, ogg, ...)")
    _add_asr_options(parser)
    add_key_option(
        parser, "--chunk-s", "asr.chunk_duration_s", "longest chunk (balanced over the workers)"
    )
    add_key_option(parser, "--overlap-s", "asr.overlap_duration_s")
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument(
        "--compare", action="store_true", help="also run one sequential pass and compare"
    )
    parser.add_argument(
        "--metrics-json", metavar="PATH", help="write the performance metrics as JSON"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--no-pause-cuts",
        action="store_true",
        help="chunks always overlap (default: they meet in a pause near each seam where one is)",
    )
    add_config_options(parser)
    parser.set_defaults(handler=commands.cmd_transcribe)


def _add_config(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("config", help="show the effective configuration")
    config_sub = parser.add_subparsers(dest="config_command", required=True)
    show = config_sub.add_parser("show", help="print every key, its value and its source")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    add_config_options(show)
    show.set_defaults(handler=commands.cmd_config_show)


def _add_models(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="the local model cache")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    listing = models_sub.add_parser("list", help="show converted models in the cache")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=commands.cmd_models_list)
    convert = models_sub.add_parser(
        "convert", help="convert a model into the cache (prints its MLX directory)"
    )
    convert.add_argument(
        "source",
        nargs="?",
        default="",
        help="CTranslate2 Whisper dir, MLX dir or HF repo id (default: the embedded tiny.en)",
    )
    convert.add_argument(
        "--quantization", choices=schema_choices("asr.quantization"), default="none"
    )
    convert.set_defaults(handler=commands.cmd_models_convert)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit status."""
    args = build_parser(prog or Path(sys.argv[0]).name).parse_args(argv)
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
