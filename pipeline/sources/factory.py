"""Open the source a ``CaptureConfig`` (or a source string) names."""

from __future__ import annotations

from typing import Any, BinaryIO

from pipeline.errors import AudioSourceError
from pipeline.sources.base import AudioSource
from pipeline.sources.source_spec import SourceSpec, parse_source_spec


def open_source(
    spec: SourceSpec | str,
    block_duration_ms: int = 20,
    pace: str = "realtime",
    loop: bool = False,
    remove_dc: bool = True,
    device_retry_initial_s: float = 0.5,
    device_retry_max_s: float = 10.0,
    stdin_stream: BinaryIO | None = None,
    start_sample: int = 0,
    push_endpoint: str = "",
    stream_id: str = "main",
    **mic_options: Any,
) -> AudioSource:
    """Open ``spec`` (a ``SourceSpec`` or a source string); ``AudioSourceError`` if it cannot be.

    ``pace`` and ``loop`` apply to files, the retry waits to microphones, ``stdin_stream`` to
    stdin sources (default ``sys.stdin.buffer``); ``mic_options`` go to ``MicSource``.
    ``start_sample`` resumes a file that far into its converted stream (a restarted capture);
    live sources (stdin, microphone) just continue and ignore it (a push source counts its ring
    positions from it). ``push_endpoint`` is where a push source of ``stream_id`` binds.
    """
    if isinstance(spec, str):
        spec = parse_source_spec(spec)
    if spec.kind == "file":
        from pipeline.sources.file_source import FileSource

        assert spec.path is not None
        return FileSource(spec.path, block_duration_ms, pace, loop, remove_dc, start_sample)
    if spec.kind == "stdin":
        from pipeline.sources.stdin_source import StdinSource

        assert spec.sample_format is not None and spec.rate_hz is not None
        return StdinSource(
            spec.sample_format,
            spec.rate_hz,
            spec.channels,
            block_duration_ms,
            remove_dc,
            stream=stdin_stream,
        )
    if spec.kind == "push":
        from pipeline.sources.push_source import PushSource

        assert spec.sample_format is not None and spec.rate_hz is not None
        if not push_endpoint:
            raise AudioSourceError(f"{spec.describe()} needs a push endpoint to bind")
        return PushSource(
            stream_id,
            push_endpoint,
            spec.sample_format,
            spec.rate_hz,
            spec.channels,
            block_duration_ms,
            remove_dc,
            start_sample=start_sample,
            **mic_options,
        )
    from pipeline.sources.mic_source import MicSource

    return MicSource(
        spec.device,
        block_duration_ms,
        remove_dc,
        retry_initial_s=device_retry_initial_s,
        retry_max_s=device_retry_max_s,
        **mic_options,
    )


def open_capture_source(capture: Any, **options: Any) -> AudioSource:
    """Open the source of a ``config.schema.CaptureConfig`` with all its settings."""
    return open_source(
        capture.source,
        block_duration_ms=capture.block_duration_ms,
        pace=capture.pace,
        loop=capture.loop,
        remove_dc=capture.remove_dc,
        device_retry_initial_s=capture.device_retry_initial_s,
        device_retry_max_s=capture.device_retry_max_s,
        **options,
    )
