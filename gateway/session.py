"""One WebSocket client's audio on the daemon's push stream, and the transcripts that are its own.

The daemon has one push stream today (``--source push:...``), so one client speaks at a time
(``StreamSlot``); another is refused as busy. Messages of the stream are the client's when
their audio lies inside the client's stretch of the stream: from the ring index where the
daemon accepted its first frame to the index where its speech was closed. After the client's
end the session drains: it waits until no segment of that stretch is open and every ended one
has its final (a segment whose words were all committed before its end may get none: for those
``FINAL_WAIT_S``), or ``drain_timeout_s`` passed, then closes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from gateway.daemon_link import DaemonLink
from gateway.push_client import PushClient
from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.messages import (
    ControlError,
    GapEvent,
    Message,
    Metrics,
    PushReply,
    SpeechEvent,
    StreamCloseRequest,
    StreamOpenReply,
    StreamOpenRequest,
    TranscriptFinal,
    TranscriptPartial,
)
from pipeline.sources.source_spec import SourceSpec, parse_source_spec

logger = logging.getLogger(__name__)

STREAM_ID = "main"  # the daemon's one stream until streams are opened at runtime
ACCEPT_TIMEOUT_S = 30.0  # the daemon must accept the first frame within this (a new stream
# starts its capture process first, slow on a loaded machine)
FINAL_WAIT_S = 8.0  # a segment with committed parts and no final after its end this long: done
QUIET_S = 1.0  # after the end: nothing of the stretch for this long and nothing open = done
CAUGHT_UP_LAG_S = 0.15  # a stream this little behind has read all of a client's audio
EDGE_TOLERANCE_S = 0.35  # pre-roll may reach this far before the client's first sample
FINALIZE_REACH_SAMPLES = SAMPLE_RATE_HZ // 2  # a final ending this near a Finalize's point
# (the VAD's trim of trailing silence) is the one that ended there


class SessionError(Exception):
    """The session cannot go on; ``code`` and ``reason`` are the WebSocket close."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class StreamSlot:
    """Who holds the single push stream now."""

    def __init__(self) -> None:
        self.holder: str | None = None

    def take(self, client_id: str) -> bool:
        if self.holder is not None:
            return False
        self.holder = client_id
        return True

    def release(self, client_id: str) -> None:
        if self.holder == client_id:
            self.holder = None


@dataclass(frozen=True)
class Outgoing:
    """A daemon message for the client, with the time it reached the gateway."""

    message: Message
    arrived_s: float  # time.time()
    from_finalize: bool = False  # a final of speech the client's Finalize ended


class StreamSession:
    """Feeds one client's audio to the push stream and collects its transcripts."""

    def __init__(
        self,
        link: DaemonLink,
        slot: StreamSlot,
        client_id: str,
        queue_size: int,
        open_streams: bool = False,
    ) -> None:
        self.link = link
        self.slot = slot
        self.client_id = client_id
        self.open_streams = open_streams  # a stream of its own per client (stream.open)
        self.stream_id = STREAM_ID
        self._opened_stream = False
        self.outgoing: asyncio.Queue[Outgoing] = asyncio.Queue(maxsize=queue_size)
        self.overflowed = False  # the client stopped reading: the queue filled
        self.spec: SourceSpec | None = None
        self.start_index: int | None = None
        self.end_index: int | None = None
        self.problems: list[str] = []  # push replies that were not accepted/ended
        self.frames_sent = 0
        self._push: PushClient | None = None
        self._unlisten = None
        self._open_segments: set[int] = set()
        self._ended_at: dict[int, float] = {}  # segment -> monotonic time its end was seen
        self._finalized: set[int] = set()  # segments with a final after their end
        self._parted: set[int] = set()  # segments with a final before their end
        self._last_activity_s = time.monotonic()
        self._ended_at_s = float("inf")  # monotonic time of the daemon's "ended" reply
        self._replies_task: asyncio.Task | None = None
        self._accepted = asyncio.Event()
        self._ended = asyncio.Event()
        self._finalize_asked = 0  # the client's Finalize requests not yet answered
        self._finalizing: list[float] = []  # stream index where each Finalize's silence began
        # (inf until the daemon answers): finals of audio before it are ``from_finalize``
        self.finalize_silence_ms = 0  # written before the end when the hangover is longer than
        # the push stream's own end silence (an endpointing override)
        self.inserted: list[tuple[int, int]] = []  # (stream index, samples) of Finalize silence

    # ---- opening ------------------------------------------------------------------------

    async def open(
        self,
        sample_format: str,
        rate_hz: int,
        channels: int,
        label: str = "",
        profile: str = "",
        overrides: dict[str, str] | None = None,
    ) -> None:
        """Claim the stream for a client sending ``sample_format``/``rate_hz``/``channels``;
        ``overrides`` (``section.key`` -> value) apply to a stream of its own only."""
        if self.open_streams:
            await self._open_own_stream(
                f"push:{sample_format}:{rate_hz}:{channels}", label, profile, overrides or {}
            )
            return
        if overrides:
            logger.warning(
                "client %s: %s not applied: the daemon's one push stream keeps its settings "
                "(per-stream settings need run.py serve --open-streams)",
                self.client_id,
                ", ".join(f"{k}={v}" for k, v in overrides.items()),
            )
        if self.link.fresh_status() is None:
            raise SessionError(1011, f"the daemon does not answer: {self.link.status_error}")
        pushed = self.link.push_stream()
        if pushed is None:
            raise SessionError(
                1011,
                "the daemon has no push stream: start it with --source push:s16le:16000",
            )
        endpoint, spec = pushed
        declared = (sample_format, rate_hz, channels)
        wanted = (spec.sample_format, spec.rate_hz, spec.channels)
        if declared != wanted:
            raise SessionError(
                4003,
                f"audio {sample_format}/{rate_hz} Hz/{channels} ch is not the daemon stream's "
                f"{spec.sample_format}/{spec.rate_hz} Hz/{spec.channels} ch",
            )
        if not self.slot.take(self.client_id):
            raise SessionError(
                1013, f"busy: the daemon's one push stream is in use by {self.slot.holder}"
            )
        self.spec = spec
        self._push = PushClient(self.link.context, endpoint, self.stream_id, spec, self.client_id)
        self._replies_task = asyncio.create_task(self._watch_replies())
        self._unlisten = self.link.listen(self._on_message)

    async def _open_own_stream(
        self, source: str, label: str, profile: str, overrides: dict[str, str]
    ) -> None:
        reply = await self.link.request(
            StreamOpenRequest(
                source=source,
                label=label[:100],
                profile=profile,
                overrides=overrides,
                close_when_idle=True,
            )
        )
        if reply is None:
            raise SessionError(1011, "the daemon did not answer stream.open")
        if isinstance(reply, ControlError):
            refused = "capacity" in reply.message or "cap" in reply.details.get("reason", "")
            code = 1013 if refused or "open streams" in reply.message else 4003
            raise SessionError(code, f"stream.open refused: {reply.message}")
        if not isinstance(reply, StreamOpenReply) or not reply.push_endpoint:
            raise SessionError(1011, f"unexpected answer to stream.open: {reply.kind}")
        self.stream_id = reply.stream_id
        self._opened_stream = True
        self.spec = parse_source_spec(source)
        self._push = PushClient(
            self.link.context, reply.push_endpoint, self.stream_id, self.spec, self.client_id
        )
        self._replies_task = asyncio.create_task(self._watch_replies())
        self._unlisten = self.link.listen(self._on_message)
        logger.info("client %s has stream %s (%s)", self.client_id, self.stream_id, source)

    # ---- audio --------------------------------------------------------------------------

    async def feed(self, pcm: bytes) -> None:
        assert self._push is not None
        await self._push.send(pcm)
        self.frames_sent += 1
        if self.frames_sent == 1:
            try:
                await asyncio.wait_for(self._accepted.wait(), ACCEPT_TIMEOUT_S)
            except asyncio.TimeoutError:
                detail = "; ".join(self.problems) or "no answer from the daemon's capture"
                raise SessionError(1011, f"the daemon did not accept the audio: {detail}") from None

    async def finalize(self, silence_ms: int) -> None:
        """End the client's open speech now and keep the stream (Deepgram's ``Finalize``): the
        daemon writes ``silence_ms`` of silence after the audio so far, its VAD ends the speech
        there; the finals of audio before that point are marked ``from_finalize``."""
        if self._push is None or self.frames_sent == 0:
            return  # nothing was said yet
        self._finalize_asked += 1
        self._finalizing.append(float("inf"))
        await self._push.finalize(silence_ms)

    def _from_finalize(self, final: TranscriptFinal) -> bool:
        """Whether ``final`` holds audio from before a Finalize whose speech end is pending; the
        final that reaches the Finalize's point (its segment's end) settles it."""
        start_index = final.start_s * SAMPLE_RATE_HZ
        end_index = final.end_s * SAMPLE_RATE_HZ
        marked = False
        for at in list(self._finalizing):
            if start_index < at:
                marked = True
                if end_index >= at - FINALIZE_REACH_SAMPLES:
                    self._finalizing.remove(at)
            elif at != float("inf"):  # speech after the point: nothing was open there
                self._finalizing.remove(at)
        return marked

    def client_s(self, stream_s: float) -> float:
        """A stream time as a time of the client's own audio: from its first sample, without
        the silence its Finalize requests wrote."""
        index = stream_s * SAMPLE_RATE_HZ
        inserted = sum(samples for at, samples in self.inserted if at < index)
        return max(0.0, (index - (self.start_index or 0) - inserted) / SAMPLE_RATE_HZ)

    async def finish(self, drain_timeout_s: float) -> None:
        """End the client's speech and wait for the last finals of its stretch."""
        if self._push is None or self.frames_sent == 0:
            return
        if self.finalize_silence_ms:  # enough silence for the stream's longer hangover first
            await self._push.finalize(self.finalize_silence_ms)
        await self._push.end()
        deadline = time.monotonic() + drain_timeout_s
        try:
            await asyncio.wait_for(self._ended.wait(), drain_timeout_s)
        except asyncio.TimeoutError:
            logger.warning("client %s: the daemon did not confirm the end", self.client_id)
            return
        while time.monotonic() < deadline and not self._drained():
            await asyncio.sleep(0.05)

    def _drained(self) -> bool:
        now_s = time.monotonic()
        if self._opened_stream and self._own_stream_closed():
            return now_s - self._last_activity_s >= QUIET_S  # every final of it is out
        if self._open_segments:
            return False
        waiting = [  # a segment with committed parts may end without a final of its own
            seg
            for seg, at_s in self._ended_at.items()
            if seg not in self._finalized
            and (seg not in self._parted or now_s - at_s < FINAL_WAIT_S)
        ]
        return not waiting and now_s - self._last_activity_s >= QUIET_S and self._daemon_caught_up()

    def lag_s(self) -> float | None:
        """How far the daemon's transcription of this client's stream is behind its audio
        (``transcript_lag_s`` of its status row); None when the daemon does not say."""
        status = self.link.fresh_status() or {}
        row = next(
            (r for r in status.get("streams") or [] if r.get("stream_id") == self.stream_id), None
        )
        return None if row is None else row.get("transcript_lag_s")

    def _own_stream_closed(self) -> bool:
        """The daemon's status, taken after the end, shows the client's own stream closed (its
        last final published, whether or not a speech end was announced)."""
        status = self.link.fresh_status()
        if status is None or "streams" not in status or self.link.status_at_s <= self._ended_at_s:
            return False
        row = next((r for r in status["streams"] if r.get("stream_id") == self.stream_id), None)
        return row is not None and row.get("state") == "closed"

    def _daemon_caught_up(self) -> bool:
        """The daemon's status (taken after the end) shows the stream's VAD past the client's
        audio and no ended segment waiting for its final (``lag_s``); daemons without per-stream
        rows: True (the quiet period alone decides)."""
        status = self.link.fresh_status()
        if status is None or "streams" not in status:
            return True
        if self.link.status_at_s <= self._ended_at_s:
            return False  # taken before the end
        row = next((r for r in status["streams"] if r.get("stream_id") == self.stream_id), None)
        if row is None or row.get("state") == "closed":
            return True
        written_s = row.get("written_s") or 0.0
        return row.get("lag_s", 0.0) <= CAUGHT_UP_LAG_S and (
            self.end_index is None or written_s * SAMPLE_RATE_HZ >= self.end_index - 1600
        )

    async def close(self) -> None:
        if self._push is not None and self.frames_sent and not self._ended.is_set():
            await self._push.end()  # the client left early: its speech ends now, not at timeout
        if self._unlisten is not None:
            self._unlisten()
        if self._replies_task is not None:
            self._replies_task.cancel()
        if self._push is not None:
            await self._push.close()
        if self._opened_stream:  # closed already when its client ended; if not, now
            await self.link.request(StreamCloseRequest(self.stream_id), timeout_s=5.0)
        self.slot.release(self.client_id)

    # ---- what comes back ----------------------------------------------------------------

    async def _watch_replies(self) -> None:
        assert self._push is not None
        while True:
            reply: PushReply = await self._push.replies.get()
            if reply.status == "accepted" and self.start_index is None:
                self.start_index = reply.sample_index
                self._accepted.set()
            elif reply.status == "finalized":
                self.inserted.append((reply.sample_index, reply.missing))
                if self._finalize_asked and float("inf") in self._finalizing:
                    self._finalize_asked -= 1
                    self._finalizing[self._finalizing.index(float("inf"))] = reply.sample_index
            elif reply.status == "ended":
                self.end_index = reply.sample_index
                self._last_activity_s = self._ended_at_s = time.monotonic()
                self._ended.set()
            else:
                self.problems.append(f"{reply.status}: {reply.detail}")
                logger.warning("client %s: push %s: %s", self.client_id, reply.status, reply.detail)

    def _mine(self, start_s: float, end_s: float) -> bool:
        if self.start_index is None:
            return False
        middle_index = (start_s + end_s) / 2 * SAMPLE_RATE_HZ
        if middle_index < self.start_index - EDGE_TOLERANCE_S * SAMPLE_RATE_HZ:
            return False
        return self.end_index is None or start_s * SAMPLE_RATE_HZ < self.end_index

    def _on_message(self, message: Message, arrived_s: float) -> None:
        if isinstance(message, Metrics):
            self._put(Outgoing(message, arrived_s), droppable=True)
            return
        if getattr(message, "stream_id", self.stream_id) != self.stream_id:
            return
        if isinstance(message, SpeechEvent):
            if not self._mine(message.time_s, message.time_s):
                return
            if message.event == "started":
                self._open_segments.add(message.segment_id)
            else:
                self._open_segments.discard(message.segment_id)
                self._ended_at[message.segment_id] = time.monotonic()
        elif isinstance(message, (TranscriptFinal, TranscriptPartial, GapEvent)):
            if not self._mine(message.start_s, message.end_s):
                return
            if isinstance(message, TranscriptFinal):
                if message.segment_id in self._ended_at:
                    self._finalized.add(message.segment_id)
                else:  # a part committed while the speech goes on
                    self._parted.add(message.segment_id)
        else:
            return
        self._last_activity_s = time.monotonic()
        from_finalize = isinstance(message, TranscriptFinal) and self._from_finalize(message)
        self._put(
            Outgoing(message, arrived_s, from_finalize),
            droppable=isinstance(message, TranscriptPartial),
        )

    def _put(self, item: Outgoing, droppable: bool) -> None:
        try:
            self.outgoing.put_nowait(item)
        except asyncio.QueueFull:
            if not droppable:
                self.overflowed = True  # the connection closes: a final cannot be dropped
