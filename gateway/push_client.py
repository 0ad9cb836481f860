"""An asyncio client of a daemon push stream: numbered PCM frames out, ``PushReply`` back.

The DEALER is a plain (non-asyncio) socket used without blocking: a send that would block
(the daemon applies back-pressure) is retried after a short sleep, and replies are polled.
One socket both waiting to send and to receive through pyzmq's asyncio wrapper shares one
edge-triggered descriptor between the two waiters; polling keeps either from missing a wake-up.
"""

from __future__ import annotations

import asyncio
import logging
import time

import zmq
import zmq.asyncio

from pipeline.messages import (
    FrameRejected,
    PushAudio,
    PushEnd,
    PushFinalize,
    PushReply,
    decode,
    encode,
)
from pipeline.sources.source_spec import SourceSpec

logger = logging.getLogger(__name__)

SEND_HWM_FRAMES = 64  # frames queued towards the daemon before ``send`` waits (back-pressure)
RETRY_S = 0.005  # wait before retrying a send the daemon is not ready for
REPLY_POLL_S = 0.02  # how often replies are looked for


class PushClient:
    """Sends one client's audio to the push stream ``stream_id`` at ``endpoint``."""

    def __init__(
        self,
        context: zmq.asyncio.Context,
        endpoint: str,
        stream_id: str,
        spec: SourceSpec,
        client_id: str,
    ) -> None:
        assert spec.sample_format is not None and spec.rate_hz is not None
        self.stream_id = stream_id
        self.spec = spec
        self.client_id = client_id
        self.seq = 0
        self.replies: asyncio.Queue[PushReply] = asyncio.Queue()
        self._socket = zmq.Context.shadow(context.underlying).socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 1000)  # the last frames and the end still go out
        self._socket.setsockopt(zmq.SNDHWM, SEND_HWM_FRAMES)
        self._socket.connect(endpoint)
        self._reader = asyncio.create_task(self._read(), name=f"push-replies-{client_id}")

    async def send(self, pcm: bytes) -> None:
        """One frame of interleaved PCM in the stream's format (waits when the daemon lags)."""
        header = PushAudio(
            self.stream_id,
            self.client_id,
            self.seq,
            self.spec.sample_format,  # type: ignore[arg-type]
            self.spec.rate_hz or 0,
            self.spec.channels,
            time.time(),
        )
        await self._send([encode(header), pcm])
        self.seq += 1

    async def end(self) -> None:
        """No more audio: the daemon ends this client's speech at once."""
        await self._send([encode(PushEnd(self.stream_id, self.client_id, self.seq))])

    async def finalize(self, silence_ms: int) -> None:
        """End the open speech now (``silence_ms`` of silence after the audio so far); the
        client goes on sending (Deepgram's ``Finalize``)."""
        message = PushFinalize(self.stream_id, self.client_id, self.seq, silence_ms)
        await self._send([encode(message)])

    async def _send(self, parts: list[bytes]) -> None:
        while True:
            try:
                self._socket.send_multipart(parts, flags=zmq.NOBLOCK, copy=False)
                return
            except zmq.Again:
                await asyncio.sleep(RETRY_S)

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        self._socket.close(linger=1000)

    async def _read(self) -> None:
        while True:
            try:
                frame = self._socket.recv(flags=zmq.NOBLOCK)
            except zmq.Again:
                await asyncio.sleep(REPLY_POLL_S)
                continue
            try:
                reply = decode(frame)
            except FrameRejected as e:
                logger.warning("push reply rejected: %s", e)
                continue
            if isinstance(reply, PushReply):
                await self.replies.put(reply)
