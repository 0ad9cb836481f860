"""Route what capture and VAD children send on the events socket.

Speech events go to the scheduler (its outputs are published), VAD resync gaps are published,
statistics, overrun reports and capture events land in the daemon's counters and the log. Every
message is first shown to the stream set (heartbeats, progress, ends of stream).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from pipeline.bus import Receiver
from pipeline.messages import (
    CaptureEvent,
    GapEvent,
    Message,
    RingOverrunReport,
    VadStats,
)
from pipeline.messages.work import Heartbeat
from pipeline.scheduling.speech_events import SPEECH_MESSAGES
from workers.daemon_publisher import Counters

if TYPE_CHECKING:
    from pipeline.scheduling import SegmentScheduler
    from workers.stream_set import StreamSet

logger = logging.getLogger(__name__)

CAPTURE_WARNINGS = ("device_lost", "error", "overflow")


def route_events(
    receiver: Receiver,
    now_s: float,
    *,
    streams: StreamSet,
    scheduler: SegmentScheduler,
    counters: Counters,
    publish: Callable[[Message], None],
    accept_speech: bool = True,
    heard: Callable[[Heartbeat, float], None] | None = None,
) -> None:
    """Handle every event waiting on ``receiver`` (never waits for one); ``heard`` gets the
    heartbeats of children outside the streams (the web gateway)."""
    while (received := receiver.receive(timeout_ms=0)) is not None:
        message = received.message
        if streams.observe(message, now_s) is None and heard and isinstance(message, Heartbeat):
            heard(message, now_s)
        if isinstance(message, SPEECH_MESSAGES):
            if not accept_speech:
                continue
            for output in scheduler.speech_event(message, now_s):
                publish(output)
        elif isinstance(message, GapEvent):  # audio the VAD skipped (resync)
            publish(message)
        elif isinstance(message, VadStats):
            counters.vad_stats = {
                "windows": dict(message.windows),
                "cpu_s": dict(message.cpu_s),
                "segments": message.segments,
                "mean_speech_probability": message.mean_speech_probability,
            }
        elif isinstance(message, RingOverrunReport):
            counters.overruns += 1
            logger.warning(
                "%s fell behind the ring: audio from %d was lost to it",
                message.reader,
                message.requested_index,
            )
        elif isinstance(message, CaptureEvent):
            counters.capture_events[message.event] = (
                counters.capture_events.get(message.event, 0) + 1
            )
            level = logging.WARNING if message.event in CAPTURE_WARNINGS else logging.INFO
            logger.log(
                level, "capture of %s: %s %s", message.stream_id, message.event, message.detail
            )
