"""The supervisor's scheduling brain as pure logic: segments in, requests out, transcripts back.

- ``scheduler``: ``SegmentScheduler``, the one object the supervisor talks to: the core shared
  by every kind of work (flights in the ledger, dispatch, completion, retry limit); the speech
  events and the segment lifecycle it inherits from ``speech_events`` (also the bounded-queue
  drops), the ledger of flights is ``ledger``.
- ``work_kind``: the strategy interface (``WorkKind``, ``FinalWork``) and what a strategy may
  ask of the core; the strategies: ``chunked`` (Whisper finals cut into chunks and merged),
  ``partials`` (newest-only partials with local agreement), ``sessions`` (parakeet streaming
  sessions owned by one worker; state of one in ``stream_session``), ``commits`` (stable words
  committed as finals while speech goes on; pure rules in ``commit_policy``, state in
  ``commit_state``, early finals at VAD pauses in ``early_finals``), ``windows`` (one window after another, each
  prompted with the words before it: ``run.py transcribe --compare``).
- ``segment``: the lifecycle of one segment.
- ``final_words`` / ``final_order``: chunk results merged into a final; finals published once,
  in segment order, with a gap-free seq.
- ``options``, ``stats``, ``request_ids``, ``requests``, ``flights``: settings, counters, ids,
  request builders, reply matching.
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
