"""``streams open|list|close``: a running daemon's streams from the shell, registered by
``add_arguments``.

Each is one control request (``control.stream_open``, ``stream_list``, ``stream_close``) on a
fresh connection, the way ``status`` asks. ``open`` prints the new stream's id (and, for a push
stream, the endpoint its client connects to); a refusal prints the daemon's reason and its
details (``capacity: ...`` names the measured load) and exits 1. A relative ``file:`` path is
made absolute here, since the daemon reads it from its own working directory.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cli.options import add_config_options

EXIT_REFUSED = 1  # the daemon answered with an error (or something else than the reply)


def add_arguments(subparsers: argparse._SubParsersAction) -> None:
    """Register ``streams`` and its three commands."""
    streams = subparsers.add_parser(
        "streams", help="open, list and close a running daemon's streams"
    )
    commands = streams.add_subparsers(dest="streams_command", required=True)

    opening = commands.add_parser(
        "open", help="open a stream (prints its id)", description=_OPEN_DESCRIPTION
    )
    opening.add_argument("source", help="mic, mic:DEVICE, file:PATH or push:FORMAT:RATE[:CHANNELS]")
    opening.add_argument("--label", default="", help="shown in status and streams list")
    opening.add_argument(
        "--pace",
        choices=("realtime", "fast"),
        default="",
        help="file sources (default: the daemon's)",
    )
    opening.add_argument("--loop", action="store_true", help="file sources: start again at the end")
    opening.add_argument(
        "--profile", default="", help="this stream's profile (default: the daemon's)"
    )
    opening.add_argument(
        "--set",
        dest="stream_overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="this stream's own value of a capture or vad key (repeatable)",
    )
    opening.add_argument(
        "--keep-open",
        action="store_true",
        help="push sources: stay open when the client ends or goes silent",
    )
    _add_daemon_options(opening, with_config=False)
    opening.set_defaults(handler=cmd_streams_open)

    listing = commands.add_parser("list", help="every stream: source, state, lag, segments")
    listing.add_argument("--json", action="store_true")
    _add_daemon_options(listing)
    listing.set_defaults(handler=cmd_streams_list)

    closing = commands.add_parser(
        "close", help="close a stream: the words being spoken get their final"
    )
    closing.add_argument("stream_id")
    _add_daemon_options(closing)
    closing.set_defaults(handler=cmd_streams_close)


_OPEN_DESCRIPTION = (
    "Open a stream on a running daemon. --profile and --set are the stream's own (as in "
    "control.stream_open); the daemon is found by --instance and --config."
)


def _add_daemon_options(parser: argparse.ArgumentParser, *, with_config: bool = True) -> None:
    parser.add_argument("--instance", default="default", help="the daemon to ask")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the answer"
    )
    if with_config:
        add_config_options(parser)
    else:  # --profile and --set belong to the stream here
        parser.add_argument("--config", metavar="TOML", help="the daemon's configuration file")


def stream_overrides(assignments: list[str]) -> dict[str, str]:
    """``SECTION.KEY=VALUE`` strings as ``stream_open``'s ``overrides`` map (the daemon checks
    the keys and the values)."""
    overrides: dict[str, str] = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or "." not in key.strip():
            raise ValueError(f"--set {assignment!r}: expected SECTION.KEY=VALUE")
        overrides[key.strip()] = value.strip()
    return overrides


def absolute_source(source: str, cwd: Path) -> str:
    """``source`` with a relative ``file:`` path made absolute against ``cwd``."""
    kind, sep, rest = source.partition(":")
    if kind != "file" or not sep or not rest or Path(rest).is_absolute():
        return source
    return f"file:{(cwd / rest).resolve()}"


def cmd_streams_open(args: argparse.Namespace) -> int:
    from pipeline.messages import StreamOpenReply, StreamOpenRequest

    try:
        overrides = stream_overrides(args.stream_overrides)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    request = StreamOpenRequest(
        source=absolute_source(args.source, Path.cwd()),
        pace=args.pace,
        loop=args.loop,
        label=args.label,
        profile=args.profile,
        overrides=overrides,
        close_when_idle=not args.keep_open,
    )
    reply = _ask(args, request)
    if not isinstance(reply, StreamOpenReply):
        return _refused(reply)
    print(reply.stream_id)
    if reply.push_endpoint:
        print(f"push endpoint {reply.push_endpoint}")
    return 0


def cmd_streams_list(args: argparse.Namespace) -> int:
    from pipeline.messages import StreamListReply, StreamListRequest
    from workers.daemon_status import render_stream_row

    reply = _ask(args, StreamListRequest())
    if not isinstance(reply, StreamListReply):
        return _refused(reply)
    rows = [dict(row) for row in reply.streams]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(render_stream_row(row))
    return 0


def cmd_streams_close(args: argparse.Namespace) -> int:
    from pipeline.messages import StreamCloseReply, StreamCloseRequest

    reply = _ask(args, StreamCloseRequest(stream_id=args.stream_id))
    if not isinstance(reply, StreamCloseReply):
        return _refused(reply)
    print(f"{reply.stream_id} {reply.state}")
    return 0


def _ask(args: argparse.Namespace, request: Any) -> Any:
    from cli.commands import control_endpoint
    from pipeline.control_client import ask_once

    endpoints, keys = control_endpoint(args)
    return ask_once(endpoints.control, request, args.timeout, curve_client=keys)


def _refused(reply: Any) -> int:
    """Print why the daemon did not do it; the exit status of a refusal."""
    from pipeline.messages import ControlError

    if isinstance(reply, ControlError):
        print(f"error: {reply.message}", file=sys.stderr)
        for key, value in sorted(reply.details.items()):
            print(f"  {key}: {value}", file=sys.stderr)
    else:
        print(f"error: the daemon answered {reply.kind}", file=sys.stderr)
    return EXIT_REFUSED
