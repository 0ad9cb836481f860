"""Each command's hand-over: load the configuration, call the code that does the work, print.

Rendering lives with the data: ``config.show`` (configuration), ``workers.daemon_status``
(status), ``workers.transcribe_report`` (transcribe figures), ``pipeline.transcript_formats`` and
``pipeline.transcript_lines`` (transcripts). Heavy imports stay inside the commands, so
``--help`` and light commands start fast.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cli.options import load_effective_config, overrides_from

PRINTER_WAIT_S = 3.0  # at daemon exit, the --print subscriber gets this long to print the last


def cmd_config_show(args: argparse.Namespace) -> int:
    from config.show import render_json, render_text

    loaded = load_effective_config(args)
    print(render_json(loaded) if args.json else render_text(loaded))
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from pipeline.models import cache_root, list_cached_models

    models = list_cached_models()
    if args.json:
        rows = [
            {
                "name": m.name,
                "path": str(m.path),
                "source": m.source,
                "size_bytes": m.size_bytes,
                "quantization": m.quantization,
            }
            for m in models
        ]
        print(json.dumps(rows, indent=2))
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

    print(resolve_model(args.source, quantization=args.quantization))
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from pipeline.transcript_formats import TimedText, render
    from pipeline.transcript_lines import sentences
    from workers.transcribe_file import transcribe_file
    from workers.transcribe_report import render_metrics, transcribe_metrics

    config = load_effective_config(args).config
    audio_s, parallel, sequential = transcribe_file(
        args.file,
        config,
        config.asr.workers,
        compare=args.compare,
        log_level=args.log_level,
        progress=not args.no_progress,
        pause_cuts=not args.no_pause_cuts,
    )
    items = [TimedText(w.start_s, w.end_s, w.text, (w,)) for w in parallel.words]
    if args.format == "text":
        print(parallel.text)
    else:
        print(render(sentences(items) if items else [], args.format))
    metrics = transcribe_metrics(audio_s, parallel, sequential)
    print(render_metrics(metrics), file=sys.stderr)
    if args.metrics_json:
        Path(args.metrics_json).write_text(json.dumps(metrics, indent=2))
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from pipeline.sources.mic_source import list_input_devices

    devices = list_input_devices()
    if args.json:
        import dataclasses

        print(json.dumps([dataclasses.asdict(d) for d in devices], indent=2))
        return 0
    if not devices:
        print("no audio input devices found")
    for device in devices:
        marker = "*" if device.is_default else " "
        print(
            f"{marker} {device.index:3d}  {device.name}  ({device.hostapi}, "
            f"{device.default_rate_hz} Hz, {device.max_input_channels} ch)"
        )
    return 0


def cmd_daemon(args: argparse.Namespace) -> int:
    from workers.supervisor import DaemonOptions, peek_next_seq, run_daemon

    overrides = overrides_from(args)  # parsed once: the daemon reloads with them (set_profile)
    config = load_effective_config(args, overrides).config
    options = DaemonOptions(
        instance=args.instance,
        log_level=args.log_level,
        exit_at_end=not args.keep_running,
        config_path=args.config,
        overrides=overrides,
    )
    printer = None
    if args.print_transcripts:  # a real subscriber process, as a user's program would be
        printer = _start_printer(args, peek_next_seq(config, args.instance))
    try:
        return run_daemon(config, options)
    finally:
        if printer is not None:
            try:
                printer.wait(timeout=PRINTER_WAIT_S)
            except subprocess.TimeoutExpired:
                printer.terminate()
                printer.wait(timeout=5.0)


def _start_printer(args: argparse.Namespace, from_seq: int) -> subprocess.Popen:
    """``subscribe --format text`` of this daemon, run as ``python -m cli`` (checkout or install)."""
    command = [sys.executable, "-m", "cli", "--log-level", "ERROR", "subscribe"]
    command += ["--instance", args.instance, "--format", "text", "--from-seq", str(from_seq)]
    if args.config:
        command += ["--config", args.config]
    for assignment in args.assignments:
        command += ["--set", assignment]
    root = str(Path(__file__).resolve().parent.parent)  # where the cli package is importable
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.Popen(command, env={**os.environ, "PYTHONPATH": path})


def control_endpoint(args: argparse.Namespace):
    """The control endpoint of ``--instance`` and the client keys it needs (or None)."""
    from pipeline.bus import endpoints_from_outputs, load_client_keys

    config = load_effective_config(args).config
    endpoints = endpoints_from_outputs(config.outputs, args.instance)
    keys = load_client_keys(endpoints.curve_keys_dir) if endpoints.curve else None
    return endpoints, keys


def cmd_status(args: argparse.Namespace) -> int:
    from pipeline.control_client import ask_once
    from pipeline.messages import StatusReply, StatusRequest
    from workers.daemon_status import render_status_text

    endpoints, keys = control_endpoint(args)
    reply = ask_once(endpoints.control, StatusRequest(), args.timeout, curve_client=keys)
    if not isinstance(reply, StatusReply):
        print(f"error: the daemon answered {reply}", file=sys.stderr)
        return 1
    status = dict(reply.status)
    print(json.dumps(status, indent=2) if args.json else render_status_text(status))
    return 0


def cmd_keys_generate(args: argparse.Namespace) -> int:
    from pipeline.bus import generate_keys

    for path in generate_keys(args.directory, overwrite=args.overwrite):
        print(path)
    print(f"set outputs.curve_keys_dir = {str(Path(args.directory).resolve())!r} to use them")
    return 0


def cmd_subscribe(args: argparse.Namespace) -> int:
    from pipeline.subscriber import TranscriptSubscriber
    from pipeline.transcript_lines import LiveFormat

    endpoints, keys = control_endpoint(args)
    if args.stream:
        _warn_if_not_open(endpoints.control, args.stream, keys)
    live = LiveFormat(args.format, partials=args.partials)
    _write(live.header())
    with TranscriptSubscriber(
        endpoints.transcript,
        endpoints.control,
        partials=args.partials,
        from_seq=args.from_seq,
        curve_client=keys,
        speech_events=args.format == "json",
    ) as subscriber:
        for message in subscriber:
            # --stream: one stream's messages (the subscriber still follows the daemon's one
            # gap-free seq over every stream, so nothing is reported lost in between)
            if args.stream and getattr(message, "stream_id", args.stream) != args.stream:
                continue
            _write(live.render(message))
    return 0


def _warn_if_not_open(control: str, stream_id: str, keys: Any) -> None:
    """A ``--stream`` id that is not open now (a typo, or a stream already gone) is said on
    stderr; the subscriber still waits, since a later ``stream.open`` may give that id."""
    from pipeline.control_client import ask_once
    from pipeline.errors import BusError
    from pipeline.messages import StreamListReply, StreamListRequest

    try:
        reply = ask_once(control, StreamListRequest(), 2.0, curve_client=keys)
    except BusError:
        return  # the subscriber reports a daemon that does not answer itself
    if not isinstance(reply, StreamListReply):
        return
    ids = [row["stream_id"] for row in reply.streams if row.get("state") != "closed"]
    if stream_id not in ids:
        print(
            f"warning: no open stream {stream_id!r} (open: {', '.join(ids) or 'none'});"
            " waiting for it",
            file=sys.stderr,
            flush=True,
        )


def _write(text: str) -> None:
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()
