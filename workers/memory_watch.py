"""Which asr workers to recycle for their memory: over the limit, or growing.

Each worker process gets its own ``MemoryTrend`` once warmed up (a new worker's RSS climbs to its
plateau over its first requests: buffers sized by the longest audio seen, allocator pools), so
the growth slope is fitted only after ``MEMORY_WARMUP_REQUESTS`` and ``MEMORY_WARMUP_S``. A
worker's loss (recycles included) drops its trend (``forget``): one trend covers one process.

A slope may recycle a worker only once its trend spans most of ``supervisor.memory_window_s``
(``MIN_SPAN_SHARE``; 120 s before). A worker's RSS follows its load: one decoding requests of
1-28 s in a row moves between 400 and 466 MB (tiny.en, numpy), and an idle worker sits at the
bottom of that band while a busy one never returns there. So as streams open one after another
the floor climbs for minutes without any leak: ``bench/streams.py`` ramping from 1 to 6 streams
over ~3 minutes recycled both workers ("memory growing", 448-449 MB) during its N = 6 level,
even with the floor rule of ``memory_trend``. A leak at the 200 MB/h limit is still replaced
after ten minutes (~33 MB), and ``memory_limit_mb`` bounds any growth at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from config.schema import SupervisorConfig
from pipeline.supervision.memory_trend import MemoryTrend

logger = logging.getLogger(__name__)

MEMORY_SAMPLE_INTERVAL_S = 1.0
MIN_SPAN_SHARE = 0.9  # a slope needs this share of the memory window before it can recycle
MEMORY_WARMUP_REQUESTS = 10
MEMORY_WARMUP_S = 60.0


@dataclass(frozen=True)
class Recycle:
    role: str
    why: str  # "over its memory limit" or "memory growing"
    rss_bytes: int


class MemoryWatch:
    def __init__(self) -> None:
        self.trends: dict[str, MemoryTrend] = {}
        self._last_sample_s = 0.0

    def forget(self, role: str) -> None:
        """The worker behind ``role`` is gone: its successor starts a trend of its own."""
        self.trends.pop(role, None)

    def check(self, now_s: float, slots: Iterable, limits: SupervisorConfig) -> list[Recycle]:
        """Sample the ready workers (at most once per ``MEMORY_SAMPLE_INTERVAL_S``); return those
        to recycle after their current request (not the ones already draining)."""
        if now_s - self._last_sample_s < MEMORY_SAMPLE_INTERVAL_S:
            return []
        self._last_sample_s = now_s
        recycles: list[Recycle] = []
        for slot in slots:
            if not slot.ready or slot.rss_bytes == 0:
                continue
            over_limit = slot.rss_bytes / 1e6 > limits.memory_limit_mb
            growing = False
            warmed_up = (
                slot.completed >= MEMORY_WARMUP_REQUESTS
                and now_s - slot.ready_at_s >= MEMORY_WARMUP_S
            )
            if warmed_up:
                trend = self.trends.setdefault(slot.role, MemoryTrend(limits.memory_window_s))
                trend.add(now_s, slot.rss_bytes / 1e6)
                growing = trend.growing_faster_than(
                    limits.memory_slope_limit_mb_per_h, MIN_SPAN_SHARE * limits.memory_window_s
                )
            if (over_limit or growing) and not slot.draining:
                why = "over its memory limit" if over_limit else "memory growing"
                recycles.append(Recycle(slot.role, why, slot.rss_bytes))
        return recycles
