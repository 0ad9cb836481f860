"""The vad process: reads the stream's ring, finds speech, pushes speech events to the parent.

Settings (plain values, from the parent):
    role               the process name in logs, heartbeats, overrun reports and its ring
                       cursor label ("vad")
    config             the configuration tree (``config.loader.as_tree``); ``vad`` section used
    ring_name          the stream's ring (attached read-only; the cursor is published apart)
    stream_id          the stream
    audio_endpoint     the capture's PUB, connected as SUB: ticks wake the loop up
    events_endpoint    the parent's PULL, connected as PUSH
    start_index        optional: first index to read; None or absent = the ring's write_index
                       (0 for a fresh stream). A restart passes the last known position: the end
                       of the last ``SpeechEnded``, or the start of a segment left open.
    first_segment_id   optional, default 0: id of the first segment this process opens. Ids are
                       ``first_segment_id`` + the segments opened since (``StreamVad``'s counter
                       starts there), so a restart given (highest id seen) + 1 keeps the ids of a
                       stream unique and increasing.
    hold_cursor        optional, default True: claim a ring cursor and keep it at the read
                       position, so a fast writer never laps this reader
    stats_interval_s   optional, default ``STATS_INTERVAL_S``

Sends on the events PUSH: ``SpeechStarted``, ``SpeechOngoing``, ``SpeechPaused``,
``SpeechResumed``, ``SpeechEnded`` (absolute ring indices), ``RingOverrunReport`` and a
``GapEvent`` (reason ``vad_resync``, the audio it skipped) when it fell behind by more than the
ring holds, ``VadStats``
every ``stats_interval_s`` and ``Heartbeat`` every ``supervisor.heartbeat_interval_s`` (both from
the loop itself, so a hung loop goes silent).

Loop: wake on an audio tick or after ``POLL_S`` (``IDLE_POLL_S`` once no audio has come for
``IDLE_AFTER_S``: an idle stream wakes about once a second instead of ten times); once the ring holds the rest of the VAD's
current window (fewer samples would only be buffered), read ``[position, write_index)`` in pieces
of at most ``PIECE_SAMPLES``, feed ``StreamVad``, push its events, move the cursor. An overrun closes
an open segment where the audio stopped, and reading resumes at the oldest index still held plus
``RESYNC_MARGIN_FRACTION`` of the ring (a margin, so a realtime writer does not lap it again at
once). At the end of the stream (``EndOfStream`` on the SUB, or the ring's end mark for a
subscriber that missed it): flush, push the last events and statistics, exit 0. Any failure:
log with the traceback and exit ``EXIT_ERROR`` for a restart.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import psutil
import zmq

from config.loader import from_tree
from pipeline.audio_format import samples_to_seconds
from pipeline.bus.frames import Receiver
from pipeline.bus.sockets import SocketOptions, new_context, open_socket
from pipeline.errors import RingOverrun
from pipeline.messages import (
    AudioTick,
    EndOfStream,
    Message,
    RingOverrunReport,
    SpeechEnded,
    SpeechOngoing,
    SpeechStarted,
    VadStats,
)
from pipeline.messages.speech import SpeechPaused, SpeechResumed
from pipeline.messages.transcripts import GapEvent
from pipeline.ring import AudioRing
from pipeline.vad import (
    SpeechEnd,
    SpeechPause,
    SpeechProgress,
    SpeechResume,
    SpeechStart,
    StreamVad,
    VadEvent,
)
from workers.events_push import EventsPusher, ParentGone
from workers.heartbeat import heartbeat_message

logger = logging.getLogger(__name__)

EXIT_ERROR = 1  # exit status after a failure
POLL_S = 0.1  # longest sleep without a tick: the ring's index and end mark are checked this often
IDLE_POLL_S = 1.0  # ... once no audio has come for IDLE_AFTER_S (an idle push stream, a paused mic)
IDLE_AFTER_S = 1.0
PIECE_SAMPLES = 8192  # samples read from the ring and fed to the VAD at once (0.5 s)
STATS_INTERVAL_S = 5.0  # default cadence of VadStats
RESYNC_MARGIN_FRACTION = 0.125  # after an overrun, resume this far into the ring's oldest audio
_END_TOPIC = EndOfStream.kind.encode()


def main(settings: dict[str, Any]) -> None:
    config = from_tree(settings["config"])
    role = settings.get("role", "vad")
    options = SocketOptions(
        high_water_mark=config.outputs.high_water_mark,
        max_frame_bytes=config.outputs.max_frame_bytes,
    )
    context = new_context()
    events = EventsPusher(context, settings["events_endpoint"], options)
    subscriber: zmq.Socket | None = None
    ring: AudioRing | None = None
    exit_code = 0
    try:
        ring = AudioRing.attach(settings["ring_name"])
        subscriber = open_socket(
            context,
            zmq.SUB,
            settings["audio_endpoint"],
            bind=False,
            options=options,
            subscribe=(AudioTick.kind.encode(), _END_TOPIC),
        )
        loop = VadLoop(
            config,
            settings["stream_id"],
            ring,
            subscriber,
            events,
            role=role,
            start_index=settings.get("start_index"),
            first_segment_id=int(settings.get("first_segment_id") or 0),
            hold_cursor=bool(settings.get("hold_cursor", True)),
            stats_interval_s=float(settings.get("stats_interval_s") or STATS_INTERVAL_S),
        )
        loop.run()
    except ParentGone as e:
        logger.warning("%s; exiting", e)
    except Exception:
        logger.exception("vad of stream %r failed", settings.get("stream_id"))
        exit_code = EXIT_ERROR
    finally:
        if subscriber is not None:
            subscriber.close(linger=0)
        events.close()
        if ring is not None:
            ring.close()  # releases the cursor
        context.term()
        logger.info("stopped (exit %d)", exit_code)
    if exit_code:
        sys.exit(exit_code)


class VadLoop:
    """The VAD loop of one stream (see the module docstring)."""

    def __init__(
        self,
        config: Any,
        stream_id: str,
        ring: AudioRing,
        subscriber: zmq.Socket,
        events: EventsPusher,
        *,
        role: str = "vad",
        start_index: int | None = None,
        first_segment_id: int = 0,
        hold_cursor: bool = True,
        stats_interval_s: float = STATS_INTERVAL_S,
    ) -> None:
        self.stream_id = stream_id
        self.ring = ring
        self.subscriber = subscriber
        self.events = events
        self.role = role
        self.vad = StreamVad.from_config(config.vad)
        self.vad.reset(first_segment_id)
        self.position = ring.write_index if start_index is None else int(start_index)
        self.cursor_slot = ring.claim_cursor(role, self.position) if hold_cursor else None
        self.heartbeat_interval_s = config.supervisor.heartbeat_interval_s
        self.stats_interval_s = stats_interval_s
        self._receiver = Receiver(subscriber, accept=(AudioTick, EndOfStream), name="audio")
        self._process = psutil.Process(os.getpid())
        self._segments_ended = 0
        now_s = time.monotonic()
        self._stats_since_s = now_s
        self._next_heartbeat_s = now_s
        self._audio_seen_s = now_s  # when the loop last found new audio in the ring
        logger.info(
            "vad of stream %r from index %d, first segment id %d, cursor %s",
            stream_id,
            self.position,
            first_segment_id,
            self.cursor_slot,
        )

    def run(self) -> None:
        end_seen: int | None = None
        while True:
            self._periodic()
            ring_end = self.ring.end_index  # read before write_index: then write_index >= it
            final_index = ring_end if ring_end is not None else end_seen
            write_index = self.ring.write_index
            if self.position < write_index and (
                final_index is not None
                or write_index - self.position >= self.vad.samples_to_next_window
            ):
                self._audio_seen_s = time.monotonic()
                self._consume(write_index)  # (less than a window: no event could come; wait)
            elif final_index is not None and self.position >= final_index:
                self._finish(final_index)
                return
            else:
                end_seen = self._wait_for_audio(end_seen)

    def _consume(self, write_index: int) -> None:
        """Read and judge ``[position, write_index)`` piece by piece."""
        while self.position < write_index:
            piece_end = min(write_index, self.position + PIECE_SAMPLES)
            try:
                samples = self.ring.read(self.position, piece_end)
            except RingOverrun as e:
                self._resync(e)
                return
            found = self.vad.process(samples, self.position)
            self.position += samples.size
            if self.cursor_slot is not None:
                self.ring.set_cursor(self.cursor_slot, self.position)
            self._push_events(found)
            self._periodic()

    def _resync(self, overrun: RingOverrun) -> None:
        logger.warning("fell behind: %s; resynchronising", overrun)
        self.events.push(
            RingOverrunReport(
                self.stream_id,
                self.role,
                requested_index=overrun.start_index,
                oldest_index=overrun.oldest_index,
                write_index=overrun.write_index,
            )
        )
        next_id = self.vad.machine.next_segment_index
        closing = self.vad.flush(self.position)  # an open segment ends where the audio stopped
        self.vad.reset(next_id)  # flush resets the counter; ids go on
        self._push_events(closing)
        margin = int(self.ring.capacity_samples * RESYNC_MARGIN_FRACTION)
        skipped_from = self.position
        self.position = max(
            skipped_from, min(self.ring.oldest_index + margin, self.ring.write_index)
        )
        if self.cursor_slot is not None:
            self.ring.set_cursor(self.cursor_slot, self.position)
        if self.position > skipped_from:
            self.events.push(
                GapEvent(
                    self.stream_id,
                    start_s=samples_to_seconds(skipped_from),
                    end_s=samples_to_seconds(self.position),
                    reason="vad_resync",
                )
            )

    def _wait_for_audio(self, end_seen: int | None) -> int | None:
        """Sleep until a tick (or ``POLL_S``); drain every queued frame, decoding only the end."""
        now_s = time.monotonic()
        poll_s = IDLE_POLL_S if now_s - self._audio_seen_s >= IDLE_AFTER_S else POLL_S
        timeout_s = min(poll_s, max(0.0, self._next_heartbeat_s - now_s))
        if not self.subscriber.poll(int(timeout_s * 1000), zmq.POLLIN):
            return end_seen
        while True:
            try:
                frames = self.subscriber.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return end_seen
            if frames and frames[0] == _END_TOPIC:  # ticks are only wake-ups: not decoded
                received = self._receiver.handle(frames)
                if received is not None and isinstance(received.message, EndOfStream):
                    end_seen = received.message.final_index

    def _finish(self, final_index: int) -> None:
        self._push_events(self.vad.flush(final_index))
        self._push_stats()
        logger.info("end of stream %r at index %d", self.stream_id, final_index)

    def _push_events(self, found: list[VadEvent]) -> None:
        for event in found:
            self.events.push(self._message(event))
            if isinstance(event, SpeechEnd):
                self._segments_ended += 1
                logger.debug(
                    "segment %d: [%d, %d)", event.segment_index, event.start_index, event.end_index
                )

    def _message(self, event: VadEvent) -> Message:
        return speech_message(self.stream_id, event)

    def _periodic(self) -> None:
        now_s = time.monotonic()
        if now_s >= self._next_heartbeat_s:
            self._next_heartbeat_s = now_s + self.heartbeat_interval_s
            if not self.events.parent_alive():
                raise ParentGone(f"parent {self.events.parent_pid} is gone")
            # after the events of the audio before ``position`` (one ordered pipe): the supervisor
            # may let go of audio up to shortly before it
            self.events.offer(
                heartbeat_message(self.role, self._process, position_index=self.position)
            )
        if now_s - self._stats_since_s >= self.stats_interval_s:
            self._push_stats()

    def _push_stats(self) -> None:
        now_s = time.monotonic()
        stats = self.vad.take_stats()
        windows = {t.name: t.windows_seen for t in stats.tiers}
        cpu_s = {t.name: t.cpu_s for t in stats.tiers}
        self.events.offer(
            VadStats(
                self.stream_id,
                interval_s=now_s - self._stats_since_s,
                windows=windows,
                cpu_s=cpu_s,
                segments=self._segments_ended,
                mean_speech_probability=min(1.0, max(0.0, stats.mean_speech_probability)),
            )
        )
        self._segments_ended = 0
        self._stats_since_s = now_s


def speech_message(stream_id: str, event: VadEvent) -> Message:
    """The bus message of a VAD event of stream ``stream_id``."""
    if isinstance(event, SpeechStart):
        return SpeechStarted(stream_id, event.segment_index, event.start_index)
    if isinstance(event, SpeechProgress):
        return SpeechOngoing(stream_id, event.segment_index, event.start_index, event.current_index)
    if isinstance(event, SpeechPause):
        return SpeechPaused(
            stream_id,
            event.segment_index,
            event.start_index,
            event.pause_index,
            event.decided_index,
            event.pause_number,
            event.confirm_index,
        )
    if isinstance(event, SpeechResume):
        return SpeechResumed(
            stream_id,
            event.segment_index,
            event.start_index,
            event.resume_index,
            event.pause_number,
        )
    return SpeechEnded(
        stream_id, event.segment_index, event.start_index, event.end_index, event.split
    )
