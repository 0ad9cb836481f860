"""The daemon's last steps: stop the streams' children, end open segments, finish the work.

On SIGINT/SIGTERM or ``shutdown`` every stream's capture and VAD are signalled while the loop
keeps running (replies, dispatch, their last events), so their exit never eats the time the last
finals have. Then each open segment ends where its VAD had read (the words spoken so far get a
final) and the loop runs until every request is answered or the shutdown timeout passes, or
at once when no worker can serve them (every breaker given up): waiting would change nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pipeline.messages import Message

if TYPE_CHECKING:
    from pipeline.scheduling import SegmentScheduler
    from workers.stream_set import StreamSet

logger = logging.getLogger(__name__)

STREAM_STOP_GRACE_S = 1.0  # at shutdown, capture and VAD get this long to exit after SIGTERM


def drain(
    *,
    streams: StreamSet,
    scheduler: SegmentScheduler,
    step: Callable[[], None],  # one turn of the daemon's loop
    handle_events: Callable[[], None],  # what capture and VAD sent, without waiting
    publish: Callable[[Message], None],
    shutdown_timeout_s: float,
    no_worker_can_serve: Callable[[], bool] = lambda: False,
) -> bool:
    """Finish or give up in-flight work within the shutdown timeout, publishing finals.

    Returns whether every request was answered (False: 'shutdown timeout', logged)."""
    streams.signal_all()
    stop_by_s = time.monotonic() + STREAM_STOP_GRACE_S
    while not streams.all_stopped() and time.monotonic() < stop_by_s:
        step()  # their last events arrive too
    streams.kill_all()
    handle_events()  # what they sent before stopping
    deadline_s = time.monotonic() + shutdown_timeout_s
    # open segments end where their VAD had read: the words spoken so far get their final
    for stream in streams:
        for output in scheduler.end_open_segment(
            stream.stream_id, stream.children.vad_position, time.monotonic()
        ):
            publish(output)
    hopeless = False
    while not scheduler.idle() and time.monotonic() < deadline_s:
        hopeless = no_worker_can_serve()
        if hopeless:
            break
        step()
    if scheduler.idle():
        return True
    logger.warning(
        "%s: %s requests unfinished (%s)",
        "no worker can serve the queued work" if hopeless else "shutdown timeout",
        scheduler.queue_depths(),
        scheduler.sizes(),
    )
    return False
