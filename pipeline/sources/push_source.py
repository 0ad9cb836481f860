"""PCM sent by clients over a ZeroMQ socket as a source (``push:FORMAT:RATE[:CHANNELS]``).

The source binds a ROUTER at ``endpoint`` (an ipc path in the daemon's private runtime
directory, published in ``status`` as ``endpoints.push``). A client connects a DEALER and sends
``[PushAudio header, raw PCM]`` frames (see ``pipeline.messages.push``), then ``[PushEnd]``.

- One client speaks at a time: another client's frames are rejected (``busy``) until the
  current one ends or times out.
- ``seq`` must count up by one: a jump forward is a gap (counted, reported, the frame kept), a
  step back a reorder or duplicate (counted, reported, dropped: its audio's place has passed).
- A frame that is not a valid header, has the wrong parts, declares another format than the
  stream's, or holds a partial sample frame or more than ``max_frame_bytes`` is rejected with a
  logged reason and a ``PushReply("rejected")``; the source goes on.
- When the client ends (``PushEnd``) or sends nothing for ``client_timeout_s``, the source
  writes ``flush_silence_s`` of silence so the VAD ends the open speech at once; the stream
  stays open for the next client. The stream never ends by itself (a live source): ``blocks``
  yields an empty block every ``idle_yield_s`` while no audio comes, so capture can report.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import numpy as np
import zmq

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.errors import AudioSourceError
from pipeline.messages import (
    FrameRejected,
    PushAudio,
    PushEnd,
    PushFinalize,
    PushReply,
    decode,
    encode,
)
from pipeline.sources.base import AudioSource, SourceStats
from pipeline.sources.conditioner import BlockConditioner, block_samples_for
from pipeline.sources.stdin_source import RAW_DTYPES

logger = logging.getLogger(__name__)

CLIENT_TIMEOUT_S = 3.0  # a client silent this long has its speech ended
FLUSH_SILENCE_S = 1.5  # silence written after a client: longer than the VAD's hangover
IDLE_YIELD_S = 0.5  # an empty block this often while nothing arrives
MAX_FRAME_SECONDS = 2.0  # longest audio accepted in one frame
MAX_CLIENT_ID_CHARS = 64
HEADER_MAX_BYTES = 4096  # a header frame larger than this is garbage
LOUD_REJECTIONS = 20  # rejections logged as warnings before dropping to debug

PUSH_CLIENT = "push_client"  # source event: a client started sending
PUSH_ENDED = "push_ended"  # a client ended (PushEnd) or timed out
PUSH_GAP = "push_gap"  # frames of a client were lost or reordered
PUSH_REJECTED = "push_rejected"  # a frame was rejected (reason in the detail)


def push_endpoint(audio_endpoint: str, stream_id: str) -> str:
    """The push socket of ``stream_id``, beside the daemon's ``audio`` ipc endpoint.

    ``ipc://DIR/INSTANCE.audio`` → ``ipc://DIR/INSTANCE.push-STREAM``; the runtime directory is
    private (0700), so only the user can connect.
    """
    if not audio_endpoint.startswith("ipc://") or not audio_endpoint.endswith(".audio"):
        raise AudioSourceError(f"push streams need an ipc audio endpoint, got {audio_endpoint!r}")
    return f"{audio_endpoint[: -len('.audio')]}.push-{stream_id}"


class PushSource(AudioSource):
    """Raw PCM frames from push clients, converted to 16 kHz mono float32 blocks."""

    def __init__(
        self,
        stream_id: str,
        endpoint: str,
        sample_format: str,
        rate_hz: int,
        channels: int = 1,
        block_duration_ms: int = 20,
        remove_dc: bool = True,
        start_sample: int = 0,
        client_timeout_s: float = CLIENT_TIMEOUT_S,
        flush_silence_s: float = FLUSH_SILENCE_S,
        idle_yield_s: float = IDLE_YIELD_S,
        context: zmq.Context | None = None,
    ) -> None:
        super().__init__()
        if sample_format not in RAW_DTYPES:
            raise AudioSourceError(
                f"raw format {sample_format!r} not supported; allowed: {', '.join(RAW_DTYPES)}"
            )
        self.stream_id = stream_id
        self.endpoint = endpoint
        self.sample_format = sample_format
        self.native_rate_hz = int(rate_hz)
        self.native_channels = int(channels)
        self.client_timeout_s = client_timeout_s
        self.idle_yield_s = idle_yield_s
        self._dtype = RAW_DTYPES[sample_format]
        self._frame_bytes = self._dtype.itemsize * self.native_channels
        self._max_pcm_bytes = int(MAX_FRAME_SECONDS * self.native_rate_hz) * self._frame_bytes
        self._flush_frames = int(flush_silence_s * self.native_rate_hz)
        self._conditioner = BlockConditioner(
            self.native_rate_hz,
            self.native_channels,
            self._dtype.newbyteorder("="),
            block_samples_for(block_duration_ms),
            remove_dc,
        )
        self._own_context = context is None
        self._context = context or zmq.Context()
        self._socket = self._context.socket(zmq.ROUTER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.MAXMSGSIZE, self._max_pcm_bytes + HEADER_MAX_BYTES)
        self._socket.setsockopt(zmq.ROUTER_MANDATORY, 0)
        try:
            self._socket.bind(endpoint)
        except zmq.ZMQError as e:
            self._socket.close(linger=0)
            raise AudioSourceError(f"cannot bind the push socket {endpoint}: {e}") from e
        self._closed = threading.Event()
        self._start_sample = start_sample
        self._blocks_emitted = 0
        self._samples_emitted = 0
        self._client: str | None = None  # the client speaking now
        self._client_identity: tuple[bytes, ...] = ()
        self._expected_seq = 0
        self._idle_s = 0.0  # time polled without a frame from the current client
        self.counts = {"clients": 0, "frames": 0, "gaps": 0, "missing_frames": 0}
        self.counts.update({"reorders": 0, "rejected": 0, "timeouts": 0})

    @property
    def description(self) -> str:
        return (
            f"push:{self.sample_format}:{self.native_rate_hz}:{self.native_channels} "
            f"at {self.endpoint}"
        )

    # ---- the block stream ----------------------------------------------------------------

    def blocks(self) -> Iterator[np.ndarray]:
        """Yield 16 kHz blocks as frames arrive, an empty block when idle; ends only at close."""
        poll_ms = max(1, int(min(self.idle_yield_s, self.client_timeout_s / 4) * 1000))
        waited_s = 0.0
        while not self._closed.is_set():
            started_s = time.monotonic()
            try:
                ready = self._socket.poll(poll_ms)
            except zmq.ZMQError:
                if self._closed.is_set():
                    break
                raise
            elapsed_s = time.monotonic() - started_s
            if not ready:
                waited_s += elapsed_s
                if self._client is not None:
                    self._idle_s += elapsed_s
                    if self._idle_s >= self.client_timeout_s:
                        yield from self._end_client("timeout")
                if waited_s >= self.idle_yield_s:
                    waited_s = 0.0
                    yield np.zeros(0, dtype=np.float32)
                continue
            waited_s = 0.0
            parts = self._socket.recv_multipart(copy=True)
            yield from self._handle(parts)

    def _handle(self, parts: list[bytes]) -> Iterator[np.ndarray]:
        identity, frames = tuple(parts[:1]), parts[1:]
        if not frames:
            self._reject(identity, "", 0, "empty message")
            return
        if len(frames[0]) > HEADER_MAX_BYTES:
            self._reject(identity, "", 0, f"header of {len(frames[0])} bytes")
            return
        try:
            header = decode(frames[0], max_frame_bytes=HEADER_MAX_BYTES)
        except FrameRejected as e:
            self._reject(identity, "", 0, f"not a push header ({e.reason}: {e})")
            return
        if not isinstance(header, (PushAudio, PushEnd, PushFinalize)):
            self._reject(identity, "", 0, f"unexpected message kind {header.kind!r}")
            return
        problem = self._check_header(header, frames)
        if problem:
            self._reject(identity, header.client_id, header.seq, problem)
            return
        if self._client is None:
            if isinstance(header, (PushEnd, PushFinalize)):
                return  # the client's speech already ended (a timeout); nothing is open
            self._begin_client(identity, header)
        self._idle_s = 0.0
        if isinstance(header, PushEnd):
            yield from self._end_client("end")
            return
        if isinstance(header, PushFinalize):
            yield from self._finalize(header)
            return
        if not self._in_order(header):
            return
        native = np.frombuffer(frames[1], dtype=self._dtype)
        native = native.astype(self._dtype.newbyteorder("="), copy=False)
        self.counts["frames"] += 1
        yield from self._count(self._conditioner.push(native.reshape(-1, self.native_channels)))

    def _check_header(self, header: PushAudio | PushEnd | PushFinalize, frames: list[bytes]) -> str:
        if header.stream_id != self.stream_id:
            return f"stream {header.stream_id!r} is not this stream ({self.stream_id!r})"
        if not 1 <= len(header.client_id) <= MAX_CLIENT_ID_CHARS:
            return f"client_id must be 1-{MAX_CLIENT_ID_CHARS} characters"
        if self._client is not None and header.client_id != self._client:
            return f"busy: client {self._client!r} is sending to this stream"
        if isinstance(header, (PushEnd, PushFinalize)):
            parts = len(frames)
            return "" if parts == 1 else f"{header.kind} with {parts} parts, expected 1"
        declared = (header.sample_format, header.rate_hz, header.channels)
        wanted = (self.sample_format, self.native_rate_hz, self.native_channels)
        if declared != wanted:
            return f"format {declared} is not this stream's {wanted} (format, rate, channels)"
        if len(frames) != 2:
            return f"push.audio with {len(frames)} parts, expected 2 (header, PCM)"
        size = len(frames[1])
        if size == 0 or size % self._frame_bytes:
            return f"{size} PCM bytes is not a whole number of {self._frame_bytes}-byte frames"
        if size > self._max_pcm_bytes:
            return f"{size} PCM bytes is over the {self._max_pcm_bytes}-byte frame limit"
        return ""

    def _in_order(self, header: PushAudio) -> bool:
        """Count a gap (keep the frame) or a reorder (drop it); True to write the frame."""
        if header.seq < self._expected_seq:
            self.counts["reorders"] += 1
            detail = f"frame {header.seq} after {self._expected_seq - 1}: dropped"
            self._emit(PUSH_GAP, f"client {header.client_id}: reorder, {detail}")
            self._reply(header.client_id, "reorder", header.seq, detail)
            return False
        if header.seq > self._expected_seq:
            missing = header.seq - self._expected_seq
            self.counts["gaps"] += 1
            self.counts["missing_frames"] += missing
            detail = f"frames {self._expected_seq}..{header.seq - 1} never arrived"
            logger.warning("push client %s: %s", header.client_id, detail)
            self._emit(PUSH_GAP, f"client {header.client_id}: gap, {detail}")
            self._reply(header.client_id, "gap", header.seq, detail, missing=missing)
        self._expected_seq = header.seq + 1
        return True

    def _begin_client(self, identity: tuple[bytes, ...], header: PushAudio | PushEnd) -> None:
        self._client = header.client_id
        self._client_identity = identity
        self._expected_seq = header.seq  # a client may join mid-count; gaps count from here
        self._idle_s = 0.0
        self.counts["clients"] += 1
        logger.info("push client %s started at sample %d", self._client, self._position())
        self._emit(PUSH_CLIENT, f"client {self._client} started")
        self._reply(self._client, "accepted", header.seq, "", sample_index=self._position())

    def _end_client(self, why: str) -> Iterator[np.ndarray]:
        """End the current client's speech: silence through the chain, then free the stream."""
        client = self._client
        if why == "timeout":
            self.counts["timeouts"] += 1
            logger.warning("push client %s sent nothing for %.1f s", client, self._idle_s)
        silence = np.zeros((self._flush_frames, self.native_channels), dtype=self._dtype)
        yield from self._count(
            self._conditioner.push(silence.astype(self._dtype.newbyteorder("=")))
        )
        detail = "timed out" if why == "timeout" else "ended"
        self._emit(PUSH_ENDED, f"client {client} {detail}")
        self._reply(
            client or "", "ended", self._expected_seq, detail, sample_index=self._position()
        )
        self._client = None
        self._client_identity = ()
        self._idle_s = 0.0

    def _finalize(self, header: PushFinalize) -> Iterator[np.ndarray]:
        """Silence after the client's audio, so the VAD ends its open speech now; the client
        stays (its next frame has ``header.seq``)."""
        at_index = self._position()
        frames = int(header.silence_ms * self.native_rate_hz / 1000)
        silence = np.zeros((frames, self.native_channels), dtype=self._dtype)
        yield from self._count(
            self._conditioner.push(silence.astype(self._dtype.newbyteorder("=")))
        )
        self.counts["finalized"] = self.counts.get("finalized", 0) + 1
        silence_samples = header.silence_ms * SAMPLE_RATE_HZ // 1000
        self._reply(
            header.client_id,
            "finalized",
            header.seq,
            "",
            sample_index=at_index,  # within a block of where the client's audio stops
            missing=silence_samples,
        )

    # ---- replies, events, counters -------------------------------------------------------

    def _reject(self, identity: tuple[bytes, ...], client_id: str, seq: int, why: str) -> None:
        self.counts["rejected"] += 1
        level = logging.WARNING if self.counts["rejected"] <= LOUD_REJECTIONS else logging.DEBUG
        logger.log(level, "push frame rejected (client %r, seq %d): %s", client_id, seq, why)
        self._emit(PUSH_REJECTED, why)
        self._send(identity, PushReply(self.stream_id, client_id, "rejected", seq, why))

    def _reply(self, client_id: str, status: str, seq: int, detail: str, **fields: int) -> None:
        reply = PushReply(self.stream_id, client_id, status, seq, detail, **fields)  # type: ignore[arg-type]
        self._send(self._client_identity, reply)

    def _send(self, identity: tuple[bytes, ...], reply: PushReply) -> None:
        if not identity:
            return
        try:
            self._socket.send_multipart([*identity, encode(reply)], flags=zmq.NOBLOCK)
        except zmq.ZMQError as e:  # a client gone or not reading: replies are advisory
            logger.debug("push reply to %r not sent: %s", reply.client_id, e)

    def _emit(self, kind: str, detail: str) -> None:
        if len(self._events) < (self._events.maxlen or 0):
            self._emit_event(kind, detail, self._samples_emitted)

    def _position(self) -> int:
        """Ring index of the next sample this source writes (blocks pending in the chain aside)."""
        return self._start_sample + self._samples_emitted

    def _count(self, blocks: list[np.ndarray]) -> Iterator[np.ndarray]:
        for block in blocks:
            self._blocks_emitted += 1
            self._samples_emitted += block.size
            yield block

    @property
    def stats(self) -> SourceStats:
        return self._common_stats()

    def close(self) -> None:
        """Stop the block stream and release the socket."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._socket.close(linger=0)
        if self._own_context:
            self._context.term()
