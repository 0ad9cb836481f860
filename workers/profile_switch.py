"""Put a new profile's configuration in effect on the running daemon.

The VAD of each stream that follows the daemon's profile restarts (new tiers and timings) when
the vad section changed; workers are recycled after their current request when the asr section
changed; the scheduler takes the new timings. A stream opened with a profile of its own keeps it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from config.schema import Config

if TYPE_CHECKING:
    from pipeline.scheduling import SegmentScheduler
    from workers.stream_set import StreamSet
    from workers.worker_pool import WorkerPool

logger = logging.getLogger(__name__)


def apply_profile(
    config: Config,
    previous: Config,
    *,
    streams: StreamSet,
    pool: WorkerPool,
    scheduler: SegmentScheduler,
    main_stream_id: str,
) -> list[str]:
    """Switch from ``previous`` to ``config``; returns the roles restarted or recycled."""
    restarted: list[str] = []
    for stream in streams.running():
        if stream.profile != previous.profile and stream.stream_id != main_stream_id:
            continue  # a stream opened with its own profile keeps it
        stream.children.config = config
        stream.profile = config.profile
        if config.vad != previous.vad:
            stream.children.restart_vad("profile changed")
            scheduler.vad_restarted(stream.stream_id)
            restarted.append(stream.children.vad.role)
    if config.asr != previous.asr:
        pool.update_config(config)
        for slot in pool:
            pool.drain(slot.role)
            restarted.append(slot.role)
    scheduler.reconfigure(config)
    logger.info(
        "profile %s in effect (restarted: %s)", config.profile, ", ".join(restarted) or "nothing"
    )
    return restarted
