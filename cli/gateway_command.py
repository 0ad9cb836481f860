"""``serve`` (the web gateway in front of a running daemon) and ``stream`` (its command-line
client), registered by ``add_arguments``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys

from cli.options import add_config_options, load_effective_config

TOKEN_ENV = "STREAMSCRIBE_GATEWAY_TOKEN"


def add_arguments(subparsers: argparse._SubParsersAction) -> None:
    """Register ``serve`` and ``stream``."""
    serve = subparsers.add_parser(
        "serve", help="web gateway: the live page, WebSockets, /metrics, /healthz"
    )
    serve.add_argument("--host", default="127.0.0.1", help="other than loopback needs --token")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--token", default="", help=f"required from clients (or ${TOKEN_ENV})")
    serve.add_argument("--tls-cert", default="", help="PEM certificate chain: serve https/wss")
    serve.add_argument("--tls-key", default="", help="PEM private key of --tls-cert")
    serve.add_argument(
        "--allow-origin", action="append", default=[], help="another page origin allowed"
    )
    serve.add_argument("--max-connections", type=int, default=64)
    serve.add_argument(
        "--open-streams",
        action="store_true",
        help="each connection opens its own push stream (stream.open); default: share the "
        "daemon's --source push:... stream, one client at a time",
    )
    serve.add_argument("--instance", default="default", help="the daemon to front")
    add_config_options(serve)
    serve.set_defaults(handler=cmd_serve)

    stream = subparsers.add_parser("stream", help="stream a mic or file to the gateway")
    stream.add_argument("--url", default="ws://127.0.0.1:8765/v1/stream")
    stream.add_argument("--source", default="mic", help="mic, mic:DEVICE or file:PATH")
    stream.add_argument("--pace", choices=("realtime", "fast"), default="realtime")
    stream.add_argument("--format", choices=("text", "json"), default="text")
    stream.add_argument("--token", default="", help=f"the gateway's token (or ${TOKEN_ENV})")
    stream.add_argument("--profile", default="")
    stream.add_argument("--label", default="run.py stream")
    stream.set_defaults(handler=cmd_stream)


def cmd_serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from gateway.app import serve
    from gateway.options import GatewayOptions, Limits
    from pipeline.bus import endpoints_from_outputs

    config = load_effective_config(args).config
    endpoints = endpoints_from_outputs(config.outputs, args.instance)
    if endpoints.curve:
        print(
            "error: the gateway reaches the daemon over ipc only (not CURVE tcp)", file=sys.stderr
        )
        return 2
    options = GatewayOptions(
        host=args.host,
        port=args.port,
        token=args.token or os.environ.get(TOKEN_ENV, ""),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        allowed_origins=tuple(args.allow_origin),
        control_endpoint=endpoints.control,
        transcript_endpoint=endpoints.transcript,
        limits=replace(Limits(), max_connections=args.max_connections),
        open_streams=args.open_streams,
    )
    scheme = "https" if options.tls_cert else "http"
    print(f"streamscribe gateway on {scheme}://{args.host}:{args.port}/", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(options))
    return 0


def cmd_stream(args: argparse.Namespace) -> int:
    import aiohttp

    from gateway.stream_client import pcm_frames, printer, stream

    frames = pcm_frames(args.source, args.pace)
    try:
        result = asyncio.run(
            stream(
                args.url,
                frames,
                token=args.token or os.environ.get(TOKEN_ENV, ""),
                label=args.label,
                profile=args.profile,
                on_message=printer(args.format),
            )
        )
    except (aiohttp.ClientError, OSError) as e:
        print(f"error: {args.url}: {e}", file=sys.stderr)
        return 1
    if result.close_code not in (1000, None):
        print(f"error: closed {result.close_code}: {result.close_reason}", file=sys.stderr)
        return 1
    return 0
