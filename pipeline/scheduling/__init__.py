"""The supervisor's scheduling brain as pure logic: segments in, requests out, transcripts back.

- ``scheduler``: ``SegmentScheduler``, the one object the supervisor talks to.
- ``plans``: which queued work goes to which idle worker (finals first; streaming queue order).
- ``segment`` / ``stream_session``: the state of one segment, and of its streaming session.
- ``final_words`` / ``final_order``: chunk results merged into a final; finals published once,
  in segment order, with a gap-free seq.
- ``options``, ``stats``, ``request_ids``, ``flights``: settings, counters, ids, in-flight records.
"""

from pipeline.scheduling.final_order import FIRST_SEQ, FinalOrder, SegmentOutcome
from pipeline.scheduling.flights import WorkRequest
from pipeline.scheduling.options import SchedulerOptions
from pipeline.scheduling.scheduler import SegmentScheduler
from pipeline.scheduling.stats import SchedulerStats

__all__ = [
    "FIRST_SEQ",
    "FinalOrder",
    "SchedulerOptions",
    "SchedulerStats",
    "SegmentOutcome",
    "SegmentScheduler",
    "WorkRequest",
]
