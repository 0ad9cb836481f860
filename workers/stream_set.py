"""The daemon's open streams: each its own ring, capture and VAD, opened and closed at runtime.

``--source`` opens the first stream (``main``); ``stream.open`` opens more (``s1``, ``s2``, ...,
never reused within a run). Every stream's children are supervised and restarted alone
(``StreamProcesses``); their messages share the events socket and are routed here by stream id
(heartbeats by role: ``capture:ID``, ``vad:ID``).

Closing a stream (``stream.close``, a push client that ended, a file that ended) never blocks
the loop; it goes through states, one step at a time:

- ``closing``: capture is stopped (SIGTERM, killed after ``STOP_GRACE_S``); the VAD reads on
  up to what capture had written (at most ``VAD_CATCH_UP_S``: a VAD lagging under load loses
  nothing that was written), then stops; the segment it had open ends where it had read,
  through the scheduler (its one owner), so the words spoken before the close get their final;
- ``draining``: finals of the stream are still queued, in flight or held;
- ``closed``: nothing of it is pending: its ring cursor is released, its ring unlinked and the
  scheduler forgets it. The last ``CLOSED_KEPT`` closed streams stay listed.

A finite stream (a file without loop) whose children finished is closed the same way
(``ended``). Nothing here grows with the number of streams ever opened.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.schema import Config
from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.messages import CaptureEvent, Heartbeat, Message, SpeechStarted
from pipeline.ring import AudioRing
from pipeline.scheduling import SegmentScheduler
from pipeline.sources.push_source import PUSH_ENDED, push_endpoint
from pipeline.supervision.progress import ChildHealth
from workers.stream_children import MAIN_STREAM, StreamProcesses
from workers.stream_lag import transcript_lag_s

logger = logging.getLogger(__name__)

STOP_GRACE_S = 1.0  # a closing stream's children get this long to exit after SIGTERM
VAD_CATCH_UP_S = 10.0  # a lagging VAD gets this long to read what was written before a close
CLOSED_KEPT = 32  # closed streams still listed (most recent)

RUNNING, CLOSING, DRAINING, CLOSED = "running", "closing", "draining", "closed"


@dataclass
class OpenStream:
    stream_id: str
    source: str
    label: str
    profile: str
    ring: AudioRing
    children: StreamProcesses
    opened_at_s: float
    push_endpoint: str = ""
    close_when_idle: bool = False  # push: close when the client ends or times out
    realtime: bool = True  # False: a file read as fast as possible (its lag is a backlog)
    state: str = RUNNING
    close_reason: str = ""
    stop_signalled_at_s: float = 0.0  # when the current closing phase began
    closing_phase: str = ""  # capture -> vad_catch_up -> vad
    drain_to_index: int | None = None  # audio written before the close: the VAD reads it all
    segments: int = 0  # segments the VAD started
    lag_s: float = 0.0  # latest figure (see StreamSet.lag_s)
    transcript_lag_s: float = 0.0  # written audio no final covers yet (workers/stream_lag.py)

    def row(self, now_s: float) -> dict[str, Any]:
        """One line of ``status["streams"]`` and ``stream.list``."""
        restarts = self.children.capture.restarts + self.children.vad.restarts
        return {
            "stream_id": self.stream_id,
            "label": self.label,
            "source": self.source,
            "profile": self.profile,
            "state": self.state,
            "close_reason": self.close_reason,
            "uptime_s": round(now_s - self.opened_at_s, 1),
            "written_s": round(self.ring.write_index / SAMPLE_RATE_HZ, 2)
            if self.state != CLOSED
            else None,
            "lag_s": round(self.lag_s, 2),
            "transcript_lag_s": round(self.transcript_lag_s, 2),
            "realtime": self.realtime,
            "segments": self.segments,
            "restarts": restarts,
            "push_endpoint": self.push_endpoint,
        }


class StreamSet:
    """Every stream of the daemon (see module doc)."""

    def __init__(
        self,
        runtime_dir: Path,
        audio_endpoint: str,
        events_endpoint: str,
        log_level: str,
        scheduler: SegmentScheduler,
    ) -> None:
        self.runtime_dir = runtime_dir
        self.audio_endpoint = audio_endpoint
        self.events_endpoint = events_endpoint
        self.log_level = log_level
        self.scheduler = scheduler
        self._streams: dict[str, OpenStream] = {}
        self._closed: deque[dict[str, Any]] = deque(maxlen=CLOSED_KEPT)
        self._by_role: dict[str, OpenStream] = {}
        self._next_number = 1
        self.opened_total = 0
        self.closed_total = 0

    # ---- opening ------------------------------------------------------------------------

    def new_stream_id(self) -> str:
        if not self._streams and self.opened_total == 0:
            return MAIN_STREAM
        stream_id = f"s{self._next_number}"
        self._next_number += 1
        return stream_id

    def open(
        self,
        config: Config,
        *,
        stream_id: str | None = None,
        label: str = "",
        close_when_idle: bool = False,
        stdin_fifo: Path | None = None,
    ) -> OpenStream:
        """Create the stream's ring, start its capture and VAD; the scheduler accepts its events."""
        stream_id = stream_id or self.new_stream_id()
        capacity = int(config.ring.capacity_s * SAMPLE_RATE_HZ)
        ring = AudioRing.create(stream_id, capacity, SAMPLE_RATE_HZ, self.runtime_dir)
        try:
            audio_endpoint = self._audio_endpoint(stream_id)
            children = StreamProcesses(
                stream_id,
                ring,
                config,
                audio_endpoint,
                self.events_endpoint,
                self.log_level,
                open_segment_start=lambda: self.scheduler.open_segment_start(stream_id),
            )
            children.stdin_fifo = stdin_fifo
            source = config.capture.source
            stream = OpenStream(
                stream_id=stream_id,
                source=source,
                label=label,
                profile=config.profile,
                ring=ring,
                children=children,
                opened_at_s=time.monotonic(),
                push_endpoint=push_endpoint(audio_endpoint, stream_id)
                if source.strip().lower().startswith("push:")
                else "",
                close_when_idle=close_when_idle,
                realtime=not (source.startswith("file:") and config.capture.pace == "fast"),
            )
            self.scheduler.add_stream(stream_id, ring.name)
            children.start()
        except BaseException:
            ring.close()
            raise
        self._streams[stream_id] = stream
        self._by_role[children.capture.role] = stream
        self._by_role[children.vad.role] = stream
        self.opened_total += 1
        logger.info("stream %s opened: %s (label %r)", stream_id, source, label)
        return stream

    def _audio_endpoint(self, stream_id: str) -> str:
        if stream_id == MAIN_STREAM:
            return self.audio_endpoint
        return f"{self.audio_endpoint[: -len('.audio')]}-{stream_id}.audio"

    # ---- lookups ------------------------------------------------------------------------

    def get(self, stream_id: str) -> OpenStream | None:
        return self._streams.get(stream_id)

    def __iter__(self) -> Iterator[OpenStream]:
        return iter(list(self._streams.values()))

    def __len__(self) -> int:
        return len(self._streams)

    def running(self) -> list[OpenStream]:
        return [s for s in self._streams.values() if s.state == RUNNING]

    @property
    def main(self) -> OpenStream | None:
        return self._streams.get(MAIN_STREAM)

    # ---- messages from the events socket ------------------------------------------------

    def observe(self, message: Message, now_s: float) -> OpenStream | None:
        """Hand ``message`` to its stream's children; returns the stream (None: unknown)."""
        if isinstance(message, Heartbeat):
            stream = self._by_role.get(message.role)
        else:
            stream = self._streams.get(getattr(message, "stream_id", ""))
        if stream is None:
            return None
        stream.children.observe(message, now_s)
        if isinstance(message, SpeechStarted):
            stream.segments += 1
        if (
            isinstance(message, CaptureEvent)
            and message.event == PUSH_ENDED
            and stream.close_when_idle
            and stream.state == RUNNING
        ):
            self.close(stream.stream_id, f"push client {message.detail or 'ended'}")
        return stream

    # ---- supervision --------------------------------------------------------------------

    def check(self, now_s: float) -> list[tuple[str, str, str]]:
        """Restart dead or silent children of running streams: (stream id, role, why) each."""
        restarts = []
        for stream in self.running():
            for role, why in stream.children.check(now_s):
                restarts.append((stream.stream_id, role, why))
        return restarts

    def update_cursors(self) -> None:
        for stream in self._streams.values():
            if stream.state != CLOSED:
                stream.children.update_cursor(self.scheduler.oldest_needed_index(stream.stream_id))

    def take_gaps(self) -> list[tuple[str, int, int]]:
        return [
            (stream.stream_id, start, end)
            for stream in self._streams.values()
            for start, end in stream.children.take_gaps()
        ]

    def lag_s(self, stream: OpenStream, now_s: float) -> float:
        """How far the stream is behind: audio written that the VAD has not read, or the age of
        its oldest ended segment without a final, whichever is larger."""
        vad_lag_s = 0.0
        if stream.state == RUNNING and not stream.children.vad.finished:
            behind = stream.ring.write_index - stream.children.vad_position
            vad_lag_s = max(0, behind) / SAMPLE_RATE_HZ
        return max(vad_lag_s, self.scheduler.final_lag_s(stream.stream_id, now_s))

    def update_lags(self, now_s: float) -> float:
        """Refresh every stream's lag; returns the largest of the real-time streams (a fast
        file's backlog is no lag: it is read faster than it was spoken on purpose)."""
        worst = 0.0
        for stream in self._streams.values():
            stream.lag_s = self.lag_s(stream, now_s)
            if stream.state != CLOSED:
                starts = (
                    s.start_index
                    for s in self.scheduler.segments()
                    if s.stream_id == stream.stream_id
                )
                stream.transcript_lag_s = transcript_lag_s(
                    stream.ring.write_index, stream.children.vad_position, starts
                )
            if stream.realtime:
                worst = max(worst, stream.lag_s)
        return worst

    # ---- closing ------------------------------------------------------------------------

    def close(self, stream_id: str, reason: str) -> OpenStream:
        """Begin closing ``stream_id`` (see module doc); KeyError when it is not open."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.state != RUNNING:
            raise KeyError(stream_id)
        stream.state = CLOSING
        stream.close_reason = reason
        stream.closing_phase = "capture"
        stream.stop_signalled_at_s = time.monotonic()
        stream.children.stopping = True  # no restarts from now on
        stream.children.capture_stop()
        logger.info("stream %s closing: %s", stream_id, reason)
        return stream

    def _advance_closing(self, stream: OpenStream, now_s: float) -> bool:
        """One step of closing: capture stops (what it wrote stays), the VAD reads up to there
        (at most ``VAD_CATCH_UP_S``), then it stops. True when both are gone."""
        children = stream.children
        waited_s = now_s - stream.stop_signalled_at_s
        if stream.closing_phase == "capture":
            if children.capture.alive() and waited_s < STOP_GRACE_S:
                return False
            children.kill_remaining(capture_only=True)
            stream.drain_to_index = stream.ring.write_index
            stream.closing_phase, stream.stop_signalled_at_s = "vad_catch_up", now_s
            return False
        if stream.closing_phase == "vad_catch_up":
            behind = children.vad_position < (stream.drain_to_index or 0)
            if children.vad.alive() and behind and waited_s < VAD_CATCH_UP_S:
                return False
            children.signal_stop()
            stream.closing_phase, stream.stop_signalled_at_s = "vad", now_s
            return False
        if not children.stopped() and waited_s < STOP_GRACE_S:
            return False
        children.kill_remaining()  # reaped by the loop, never waited for
        return True

    def advance(self, now_s: float, give_up_after_s: float = float("inf")) -> list[Message]:
        """One step of every closing stream; close finished finite streams, and streams (other
        than main, which decides the daemon's fate) whose capture or VAD has kept failing for
        ``give_up_after_s``. Returns the finals to publish (the open segments' last finals)."""
        out: list[Message] = []
        for stream in list(self._streams.values()):
            finite_done = stream.stream_id != MAIN_STREAM and stream.children.finished()
            if stream.state == RUNNING and finite_done:
                self.close(stream.stream_id, "the source ended")
            elif stream.state == RUNNING and stream.stream_id != MAIN_STREAM:
                failing = [
                    f"{role} keeps failing ({health.last_failure or 'no reason reported'})"
                    for role, health in stream.children.health(now_s).items()
                    if health.stuck_for_s >= give_up_after_s
                ]
                if failing:
                    logger.error("stream %s: %s; closing it", stream.stream_id, failing[0])
                    self.close(stream.stream_id, failing[0])
            if stream.state == CLOSING:
                if not self._advance_closing(stream, now_s):
                    continue
                out.extend(
                    self.scheduler.end_open_segment(
                        stream.stream_id, stream.children.vad_position, now_s
                    )
                )
                stream.state = DRAINING
            if stream.state == DRAINING and not self.scheduler.stream_pending(stream.stream_id):
                self._forget(stream, now_s)
        return out

    def _forget(self, stream: OpenStream, now_s: float) -> None:
        stream.children.kill_remaining()
        stream.children.release_cursor()
        self.scheduler.remove_stream(stream.stream_id)
        stream.state = CLOSED
        stream.lag_s = stream.transcript_lag_s = 0.0  # nothing is pending any more
        row = stream.row(now_s)
        stream.ring.close()
        del self._streams[stream.stream_id]
        for role in (stream.children.capture.role, stream.children.vad.role):
            self._by_role.pop(role, None)
        self._closed.append(row)
        self.closed_total += 1
        logger.info("stream %s closed (%s)", stream.stream_id, stream.close_reason)

    def signal_all(self) -> None:
        """Shutdown: SIGTERM every stream's children, no restarts (rings stay until
        ``close_all``); ``all_stopped`` says when they are gone, ``kill_all`` ends the rest."""
        for stream in self._streams.values():
            stream.children.signal_stop()

    def all_stopped(self) -> bool:
        return all(stream.children.stopped() for stream in self._streams.values())

    def kill_all(self) -> None:
        for stream in self._streams.values():
            stream.children.kill_remaining()

    def close_all(self) -> None:
        for stream in list(self._streams.values()):
            for step in (stream.children.stop, stream.children.release_cursor, stream.ring.close):
                try:
                    step(grace_s=1.0) if step == stream.children.stop else step()
                except Exception:
                    logger.exception("error while closing stream %s", stream.stream_id)

    # ---- reporting ----------------------------------------------------------------------

    def steady(self) -> bool:
        """Every stream is closed, or running at realtime pace: none is closing or read fast
        (those move on every loop turn; steady ones only on events and the watch timer)."""
        return all(
            s.state == CLOSED or (s.state == RUNNING and s.realtime) for s in self._streams.values()
        )

    def finished(self) -> bool:
        """Every stream has ended (finite sources) and its children are done."""
        return bool(self._streams) and all(
            s.children.finished() or s.state != RUNNING for s in self._streams.values()
        )

    def health(self, now_s: float) -> dict[str, ChildHealth]:
        """Breaker states for the daemon's progress verdict: the main stream's children (a
        finite main source that cannot go on ends the daemon); other streams that keep failing
        are closed alone (``advance``)."""
        main = self._streams.get(MAIN_STREAM)
        return main.children.health(now_s) if main is not None and main.state == RUNNING else {}

    def snapshot(self, now_s: float) -> list[dict[str, Any]]:
        """Process rows of every stream's capture and VAD (status ``processes``)."""
        rows = []
        for stream in self._streams.values():
            rows.extend(stream.children.snapshot(now_s))
        return rows

    def rows(self, now_s: float, include_closed: bool = True) -> list[dict[str, Any]]:
        rows = [stream.row(now_s) for stream in self._streams.values()]
        return rows + list(self._closed) if include_closed else rows
