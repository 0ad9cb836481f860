"""Helpers for tests of runtime streams: open/close/list over the real control socket, feed a
push stream over its real DEALER socket, and read a stream's finals from the journal."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import zmq

from pipeline.messages import (
    ControlError,
    PushAudio,
    PushEnd,
    StreamCloseRequest,
    StreamListRequest,
    StreamOpenReply,
    StreamOpenRequest,
    encode,
)
from pipeline.text_metrics import word_error_rate
from tests.daemon_harness import DaemonRun

FRAME_S = 0.1  # audio per pushed frame


def open_stream(run: DaemonRun, source: str, **fields: Any) -> StreamOpenReply:
    reply = run.request(StreamOpenRequest(source=source, **fields), timeout_s=10.0)
    assert isinstance(reply, StreamOpenReply), reply
    return reply


def open_refused(run: DaemonRun, source: str, **fields: Any) -> ControlError:
    reply = run.request(StreamOpenRequest(source=source, **fields), timeout_s=10.0)
    assert isinstance(reply, ControlError), reply
    return reply


def close_stream(run: DaemonRun, stream_id: str) -> Any:
    return run.request(StreamCloseRequest(stream_id=stream_id), timeout_s=10.0)


def list_streams(run: DaemonRun) -> list[dict[str, Any]]:
    reply = run.request(StreamListRequest(), timeout_s=10.0)
    return [dict(row) for row in reply.streams]  # type: ignore[union-attr]


def stream_row(run: DaemonRun, stream_id: str) -> dict[str, Any] | None:
    return next((row for row in list_streams(run) if row["stream_id"] == stream_id), None)


def wait_closed(run: DaemonRun, stream_ids: list[str], timeout_s: float) -> None:
    run.wait_for(
        lambda s: all(
            any(r["stream_id"] == i and r["state"] == "closed" for r in s["streams"])
            for i in stream_ids
        ),
        timeout_s,
        f"streams {stream_ids} closed",
    )


def pcm_s16(path: Path) -> tuple[bytes, int]:
    """The file as mono s16le bytes at its own rate."""
    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    return (np.clip(mono, -1, 1) * 32767).astype("<i2").tobytes(), int(rate)


def push_file(
    endpoint: str,
    stream_id: str,
    path: Path,
    *,
    realtime: bool = False,
    client: str = "t1",
    stop: threading.Event | None = None,
) -> None:
    """Send ``path`` to a ``push:s16le:RATE`` stream as numbered frames, then ``PushEnd``
    (``stop`` set: stop sending at once)."""
    pcm, rate = pcm_s16(path)
    frame_bytes = int(rate * FRAME_S) * 2
    context = zmq.Context.instance()
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.SNDHWM, 64)
    socket.setsockopt(zmq.LINGER, 2000)
    socket.connect(endpoint)
    try:
        started_s = time.monotonic()
        for seq, offset in enumerate(range(0, len(pcm), frame_bytes)):
            if stop is not None and stop.is_set():
                return
            header = PushAudio(stream_id, client, seq, "s16le", rate, 1, time.time())
            _send(socket, [encode(header), pcm[offset : offset + frame_bytes]])
            if realtime:
                time.sleep(max(0.0, started_s + (seq + 1) * FRAME_S - time.monotonic()))
        end_seq = (len(pcm) + frame_bytes - 1) // frame_bytes
        _send(socket, [encode(PushEnd(stream_id, client, end_seq))])
    finally:
        socket.close()


def _send(socket: zmq.Socket, parts: list[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.send_multipart(parts, flags=zmq.NOBLOCK)
            return
        except zmq.Again:
            if time.monotonic() > deadline:
                raise AssertionError("the push stream took no audio for 60 s") from None
            time.sleep(0.005)


def finals_of(run: DaemonRun, stream_id: str) -> list[dict[str, Any]]:
    return [f for f in run.journal() if f["stream_id"] == stream_id]


def text_of(finals: list[dict[str, Any]]) -> str:
    return " ".join(f["text"] for f in finals if f["text"])


def segment_count(finals: list[dict[str, Any]]) -> int:
    """Segments with words (a committed prefix and its segment's rest count once)."""
    return len({f["segment_id"] for f in finals if f["text"]})


def wer(reference: list[dict[str, Any]], hypothesis: list[dict[str, Any]]) -> float:
    return word_error_rate(text_of(reference), text_of(hypothesis))
