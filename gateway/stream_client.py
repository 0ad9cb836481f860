"""``run.py stream``: send a microphone or a file to the gateway's ``/v1/stream`` and print the
partials and finals with their latency.

The audio is read with the project's own sources (converted to 16 kHz mono) and sent as
``pcm_s16le`` at 16 kHz in 100 ms frames; a file goes at speaking speed (``--pace realtime``)
or as fast as the daemon takes it (``--pace fast``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

import aiohttp
import numpy as np

from pipeline.audio_format import SAMPLE_RATE_HZ

FRAME_SAMPLES = SAMPLE_RATE_HZ // 10  # 100 ms per WebSocket frame
FAST_FRAMES_PER_S = 80.0  # a fast file: 8x realtime, under the gateway's message-rate limit
DEFAULT_URL = "ws://127.0.0.1:8765/v1/stream"


@dataclass
class StreamResult:
    finals: list[dict[str, Any]] = field(default_factory=list)
    partials: int = 0
    close_code: int | None = None
    close_reason: str = ""
    audio_s: float = 0.0


def pcm_frames(source_text: str, pace: str) -> Iterator[bytes]:
    """16 kHz mono s16le frames of ``FRAME_SAMPLES`` from ``mic`` or ``file:PATH``."""
    from pipeline.sources import open_source

    spec = source_text if source_text.startswith(("mic", "file:")) else f"file:{source_text}"
    pending = np.zeros(0, dtype=np.float32)
    with open_source(spec, block_duration_ms=100, pace=pace) as source:
        for block in source.blocks():
            pending = np.concatenate([pending, block])
            while pending.size >= FRAME_SAMPLES:
                frame, pending = pending[:FRAME_SAMPLES], pending[FRAME_SAMPLES:]
                yield to_s16le(frame)
    if pending.size:
        yield to_s16le(pending)


def to_s16le(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


async def stream(
    url: str,
    frames: Iterator[bytes],
    *,
    token: str = "",
    label: str = "run.py stream",
    profile: str = "",
    on_message: Callable[[dict[str, Any]], None] | None = None,
    max_frames_per_s: float = FAST_FRAMES_PER_S,
) -> StreamResult:
    """Stream ``frames`` (16 kHz s16le) to ``url`` and collect what comes back; frames go out
    at most ``max_frames_per_s`` (a paced source is slower by itself)."""
    result = StreamResult()
    headers = {"Authorization": f"Token {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, headers=headers, max_msg_size=0, heartbeat=None) as ws,
    ):
        start = {
            "type": "start",
            "sample_rate": SAMPLE_RATE_HZ,
            "encoding": "pcm_s16le",
            "channels": 1,
            "profile": profile,
            "label": label,
        }
        await ws.send_json(start)

        async def send() -> None:
            loop = asyncio.get_running_loop()
            iterator = iter(frames)
            next_send_s = time.monotonic()
            while True:  # a paced source blocks: read it off the event loop
                frame = await loop.run_in_executor(None, next, iterator, None)
                if frame is None:
                    break
                next_send_s += 1.0 / max_frames_per_s
                await asyncio.sleep(max(0.0, next_send_s - time.monotonic()))
                result.audio_s += len(frame) / 2 / SAMPLE_RATE_HZ
                await ws.send_bytes(frame)
            await ws.send_json({"type": "stop"})

        sender = asyncio.create_task(send())
        while True:
            message = await ws.receive()
            if message.type == aiohttp.WSMsgType.CLOSE:
                result.close_reason = str(message.extra or "")
                await ws.close()
                break
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            body = json.loads(message.data)
            body["received_at"] = time.time()
            if body.get("type") == "final":
                result.finals.append(body)
            elif body.get("type") == "partial":
                result.partials += 1
            if on_message is not None:
                on_message(body)
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        result.close_code = ws.close_code
    return result


def printer(output_format: str, out: TextIO = sys.stdout) -> Callable[[dict[str, Any]], None]:
    """What ``run.py stream`` prints for each message."""

    def show(body: dict[str, Any]) -> None:
        kind = body.get("type")
        if output_format == "json":
            out.write(json.dumps(body) + "\n")
        elif kind == "final":
            gateway_ms = (body["received_at"] - body.get("gateway_at", body["received_at"])) * 1000
            out.write(
                f"[{body['start']:7.2f}-{body['end']:7.2f}] {body['text']}  "
                f"(latency {body['latency_ms']:.0f} ms + gateway {gateway_ms:.0f} ms)\n"
            )
        elif kind == "partial":
            out.write(f"  … {body['stable']} [{body['unstable']}]\n")
        elif kind in ("error", "ready", "closing"):
            out.write(f"# {kind}: {json.dumps({k: v for k, v in body.items() if k != 'type'})}\n")
        out.flush()

    return show
