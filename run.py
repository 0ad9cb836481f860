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


def cmd_transcribe(args: argparse.Namespace) -> int:
    import json

    from pipeline.text_metrics import word_error_rate
    from pipeline.transcript_formats import TimedText, render
    from workers.transcribe_file import transcribe_file

    extra: dict[str, object] = {}
    for key, value in (
        ("asr.backend", args.backend),
        ("asr.model", args.model),
        ("asr.workers", args.workers),
        ("asr.chunk_duration_s", args.chunk_s),
        ("asr.overlap_duration_s", args.overlap_s),
    ):
        if value is not None:
            extra[key] = value
    config = load_effective_config(args, extra).config
    audio_s, parallel, sequential = transcribe_file(
        args.file,
        config,
        config.asr.workers,
        compare=args.compare,
        log_level=args.log_level,
        progress=not args.no_progress,
    )
    items = [TimedText(w.start_s, w.end_s, w.text, (w,)) for w in parallel.words]
    if args.format == "text":
        print(parallel.text)
    else:
        print(render(_sentences(items) if items else [], args.format))
    metrics = _metrics(audio_s, parallel, sequential, word_error_rate)
    _print_metrics(metrics)
    if args.metrics_json:
        Path(args.metrics_json).write_text(json.dumps(metrics, indent=2))
    return 0


def _sentences(items):
    """Group word items into caption-sized segments (sentence ends or pauses over 1 s)."""
    from pipeline.transcript_formats import TimedText

    groups, current = [], []
    for item in items:
        if current and (item.start_s - current[-1].end_s > 1.0):
            groups.append(current)
            current = []
        current.append(item)
        if item.text.rstrip().endswith((".", "?", "!")):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return [
        TimedText(
            g[0].start_s,
            g[-1].end_s,
            "".join(i.text for i in g).strip(),
            tuple(w for i in g for w in i.words),
        )
        for g in groups
    ]


def _metrics(audio_s, parallel, sequential, word_error_rate) -> dict:
    def pass_metrics(report) -> dict:
        engine_ms = sorted(c.engine_ms for c in report.chunks)
        return {
            "workers": report.workers,
            "wall_s": round(report.wall_s, 3),
            "load_s": round(report.load_s, 3),
            "real_time_factor": round(report.wall_s / audio_s, 4),
            "chunks": [
                {
                    "index": c.index,
                    "start_s": round(c.start_s, 3),
                    "end_s": round(c.end_s, 3),
                    "engine_ms": round(c.engine_ms, 1),
                    "worker": c.worker,
                }
                for c in report.chunks
            ],
            "engine_ms_p50": engine_ms[len(engine_ms) // 2] if engine_ms else 0.0,
            "peak_rss_mb": {role: round(mb, 1) for role, mb in report.peak_rss_mb.items()},
            "restarts": report.restarts,
            "text": report.text,
        }

    metrics: dict = {"audio_s": round(audio_s, 3), "parallel": pass_metrics(parallel)}
    if sequential is not None:
        metrics["sequential"] = pass_metrics(sequential)
        metrics["speedup"] = round(sequential.wall_s / max(parallel.wall_s, 1e-9), 3)
        metrics["word_difference"] = round(word_error_rate(sequential.text, parallel.text), 4)
    return metrics


def _print_metrics(metrics: dict) -> None:
    out = sys.stderr
    for name in ("parallel", "sequential"):
        report = metrics.get(name)
        if not report:
            continue
        rss = ", ".join(f"{role} {mb:.0f} MB" for role, mb in report["peak_rss_mb"].items())
        print(
            f"{name}: {metrics['audio_s']:.1f} s of audio in {report['wall_s']:.2f} s "
            f"(real-time factor {report['real_time_factor']:.3f}, {report['workers']} worker(s), "
            f"{len(report['chunks'])} chunks, engine p50 {report['engine_ms_p50']:.0f} ms/chunk, "
            f"model load {report['load_s']:.2f} s; peak memory {rss})",
            file=out,
        )
    if "speedup" in metrics:
        print(
            f"speed-up of parallel over sequential: {metrics['speedup']:.2f}x; "
            f"word difference between them: {metrics['word_difference']:.3f}",
            file=out,
        )


@registrar
def register_transcribe(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "transcribe", help="transcribe a file in parallel overlapping chunks"
    )
    parser.add_argument("file", help="any audio file soundfile reads (wav, flac, ogg, ...)")
    parser.add_argument("--workers", type=int, help="worker processes (asr.workers)")
    parser.add_argument("--backend", choices=("whisper", "parakeet"), help="asr.backend")
    parser.add_argument("--model", help="asr.model (default: the embedded Whisper tiny.en)")
    parser.add_argument(
        "--chunk-s",
        type=float,
        help="asr.chunk_duration_s: longest chunk (chunks are balanced over the workers)",
    )
    parser.add_argument("--overlap-s", type=float, help="asr.overlap_duration_s")
    parser.add_argument("--format", choices=("text", "json", "srt", "vtt"), default="text")
    parser.add_argument(
        "--compare", action="store_true", help="also run one sequential pass and compare"
    )
    parser.add_argument(
        "--metrics-json", metavar="PATH", help="write the performance metrics as JSON"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_options(parser)
    parser.set_defaults(handler=cmd_transcribe)


def cmd_devices(args: argparse.Namespace) -> int:
    from pipeline.sources.mic_source import list_input_devices

    devices = list_input_devices()
    if args.json:
        import dataclasses
        import json

        print(json.dumps([dataclasses.asdict(d) for d in devices], indent=2))
        return 0
    if not devices:
        print("no audio input devices found")
    for device in devices:
        marker = "*" if device.is_default else " "
        print(
            f"{marker} {device.index:3d}  {device.name}  ({device.hostapi}, {device.default_rate_hz} Hz, "
            f"{device.max_input_channels} ch)"
        )
    return 0


@registrar
def register_devices(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("devices", help="list audio input devices (* = default)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=cmd_devices)


def cmd_daemon(args: argparse.Namespace) -> int:
    import subprocess

    from workers.supervisor import DaemonOptions, run_daemon

    extra: dict[str, object] = {}
    for key, value in (
        ("asr.backend", args.backend),
        ("asr.model", args.model),
        ("asr.workers", args.workers),
        ("capture.source", args.source),
        ("capture.pace", args.pace),
    ):
        if value is not None:
            extra[key] = value
    if args.loop:
        extra["capture.loop"] = True
    config = load_effective_config(args, extra).config
    overrides = {**parse_set(args), **extra}
    if args.profile:
        overrides["profile"] = args.profile
    options = DaemonOptions(
        instance=args.instance,
        log_level=args.log_level,
        exit_at_end=not args.keep_running,
        config_path=args.config,
        overrides=overrides,
    )
    printer = None
    if args.print_transcripts:
        # a real subscriber process, as a user's program would be
        from workers.supervisor import peek_next_seq

        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--log-level",
            "ERROR",
            "subscribe",
            "--instance",
            args.instance,
            "--format",
            "text",
            "--from-seq",
            str(peek_next_seq(config, args.instance)),
        ]

        if args.config:
            command += ["--config", args.config]
        for assignment in args.assignments:
            command += ["--set", assignment]
        printer = subprocess.Popen(command)
    try:
        return run_daemon(config, options)
    finally:
        if printer is not None:
            try:
                printer.wait(timeout=3.0)
            except subprocess.TimeoutExpired:
                printer.terminate()
                printer.wait(timeout=5.0)


def parse_set(args: argparse.Namespace) -> dict[str, object]:
    from config.loader import parse_assignments

    return dict(parse_assignments(args.assignments))


def control_request(args: argparse.Namespace, request, timeout_s: float = 5.0):
    """Send one control request to the running daemon and return its reply."""
    import zmq

    from pipeline.bus import (
        endpoints_from_outputs,
        new_context,
        open_socket,
        receive_message,
        send_message,
    )
    from pipeline.errors import BusError

    config = load_effective_config(args).config
    endpoints = endpoints_from_outputs(config.outputs, args.instance)
    options = None
    if endpoints.curve:
        from pipeline.bus import SocketOptions, load_client_keys

        options = SocketOptions(curve_client=load_client_keys(endpoints.curve_keys_dir))
    context = new_context()
    socket = open_socket(context, zmq.REQ, endpoints.control, bind=False, options=options)
    try:
        send_message(socket, request)
        received = receive_message(socket, timeout_ms=int(timeout_s * 1000))
        if received is None:
            raise BusError(
                f"no answer from the daemon at {endpoints.control} within {timeout_s} s (is it running?)"
            )
        return received.message
    finally:
        socket.close(linger=0)
        context.term()


def cmd_status(args: argparse.Namespace) -> int:
    import json

    from pipeline.messages import StatusRequest

    reply = control_request(args, StatusRequest(), timeout_s=args.timeout)
    status = dict(reply.status)
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    metrics = status.get("metrics", {})
    print(
        f"daemon {status.get('instance')} ({status.get('profile')}, {status.get('backend')}, source {status.get('source')})"
    )
    print(
        f"  uptime {metrics.get('uptime_s', 0):.0f} s, finals {metrics.get('finals', 0)}, last seq {metrics.get('last_seq', 0)}, "
        f"latency p50 {metrics.get('latency_p50_ms', 0):.0f} ms / p95 {metrics.get('latency_p95_ms', 0):.0f} ms"
    )
    print(f"  queue {metrics.get('queue', {})}")
    ring = status.get("ring", {})
    print(
        f"  ring {ring.get('capacity_s')} s, written {ring.get('write_s')} s, held back {ring.get('held_back_s')} s "
        f"(fill {ring.get('fill', 0):.1%})"
    )
    print(f"  vad {status.get('vad', {})}")
    print("  processes:")
    for row in status.get("processes", []):
        print(
            f"    {row['role']:10s} pid {row.get('pid')!s:>7s}  {row['state']:9s} up {row['uptime_s']:>8.1f} s  "
            f"restarts {row['restarts']}  rss {row['rss_mb']:.0f} MB"
        )
    return 0


def cmd_keys_generate(args: argparse.Namespace) -> int:
    from pipeline.bus import generate_keys

    for path in generate_keys(args.directory, overwrite=args.overwrite):
        print(path)
    print(f"set outputs.curve_keys_dir = {str(Path(args.directory).resolve())!r} to use them")
    return 0


@registrar
def register_daemon(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("daemon", help="run the streaming daemon")
    parser.add_argument(
        "--source", help="mic, mic:DEVICE, file:PATH or stdin:FORMAT:RATE[:CHANNELS]"
    )
    parser.add_argument("--pace", choices=("realtime", "fast"), help="file sources: capture.pace")
    parser.add_argument("--loop", action="store_true", help="file sources: start again at the end")
    parser.add_argument("--workers", type=int, help="inference worker processes (asr.workers)")
    parser.add_argument("--backend", choices=("whisper", "parakeet"), help="asr.backend")
    parser.add_argument("--model", help="asr.model (default: the embedded Whisper tiny.en)")
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
    parser.set_defaults(handler=cmd_daemon)

    status = commands.add_parser("status", help="ask a running daemon for its status")
    status.add_argument("--instance", default="default")
    status.add_argument("--json", action="store_true")
    status.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer")
    add_config_options(status)
    status.set_defaults(handler=cmd_status)

    keys = commands.add_parser("keys", help="CURVE keys for TCP endpoints")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    generate = keys_commands.add_parser("generate", help="create a server and a client key pair")
    generate.add_argument("directory")
    generate.add_argument("--overwrite", action="store_true")
    generate.set_defaults(handler=cmd_keys_generate)


def cmd_subscribe(args: argparse.Namespace) -> int:
    import json

    from pipeline.bus import endpoints_from_outputs, load_client_keys
    from pipeline.messages import Metrics, SpeechEvent, TranscriptFinal, TranscriptPartial
    from pipeline.subscriber import TranscriptSubscriber
    from pipeline.transcript_formats import TimedText, render_json_lines, render_srt, render_vtt

    config = load_effective_config(args).config
    endpoints = endpoints_from_outputs(config.outputs, args.instance)
    keys = load_client_keys(endpoints.curve_keys_dir) if endpoints.curve else None
    caption_number = 1
    if args.format == "vtt":
        print("WEBVTT\n", flush=True)
    with TranscriptSubscriber(
        endpoints.transcript,
        endpoints.control,
        partials=args.partials,
        from_seq=args.from_seq,
        curve_client=keys,
        speech_events=args.format == "json",
    ) as subscriber:
        for message in subscriber:
            if isinstance(message, TranscriptFinal):
                if args.partials and args.format == "text":
                    print("\r\033[K", end="")
                item = TimedText(message.start_s, message.end_s, message.text, tuple(message.words))
                if args.format == "text":
                    if message.text:
                        print(message.text, flush=True)
                elif args.format == "json":
                    record = json.loads(render_json_lines([item]))
                    record.update(
                        seq=message.seq,
                        segment_id=message.segment_id,
                        stream_id=message.stream_id,
                        latency_ms=round(message.latency_ms, 1),
                        kind=message.kind,
                    )
                    print(json.dumps(record, ensure_ascii=False), flush=True)
                elif args.format == "srt" and message.text:
                    text = render_srt([item], first_number=caption_number)
                    caption_number += text.count(" --> ")
                    print(text, flush=True)
                elif args.format == "vtt" and message.text:
                    print(render_vtt([item], header=False), flush=True)
            elif isinstance(message, TranscriptPartial) and args.format == "text":
                print(
                    f"\r\033[K{message.stable} \033[2m{message.unstable}\033[0m", end="", flush=True
                )
            elif isinstance(message, TranscriptPartial) and args.format == "json":
                print(
                    json.dumps(
                        {
                            "kind": message.kind,
                            "segment_id": message.segment_id,
                            "revision": message.revision,
                            "stable": message.stable,
                            "unstable": message.unstable,
                        }
                    ),
                    flush=True,
                )
            elif isinstance(message, (SpeechEvent, Metrics)):
                continue
    return 0


@registrar
def register_subscribe(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("subscribe", help="print a running daemon's transcripts")
    parser.add_argument("--format", choices=("text", "json", "srt", "vtt"), default="text")
    parser.add_argument("--partials", action="store_true", help="also show partial transcripts")
    parser.add_argument("--from-seq", type=int, help="first replay every final from this seq on")
    parser.add_argument("--instance", default="default")
    add_config_options(parser)
    parser.set_defaults(handler=cmd_subscribe)


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
