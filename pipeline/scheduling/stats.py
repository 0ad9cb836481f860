"""Counters of the segment scheduler, for status and metrics (plain integers: nothing grows)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(slots=True)
class SchedulerStats:
    """Totals since the scheduler was made; ``SegmentScheduler.stats`` hands out a copy."""

    segments_started: int = 0
    segments_abandoned: int = 0  # open segments dropped by a VAD restart (no final)
    segments_dropped: int = 0  # ended segments given up unserved (ring overran, queue cap)
    finals_published: int = 0  # one per segment, failed ones included
    finals_failed: int = 0  # finals published with audio missing (lost or unreadable)
    finals_empty: int = 0  # finals published with no text (silence, noise, failures)
    chunks_failed: int = 0  # final chunks given up (non-retryable error or out of attempts)
    requests_sent: int = 0  # every request dispatched, retries included
    retries: int = 0  # requests sent again (lost worker, retryable error) and sessions reopened
    duplicates_dropped: int = 0  # late replies to requests already answered or superseded
    partials_requested: int = 0
    partials_published: int = 0
    partials_stale: int = 0  # partial results dropped: segment ended or a newer one published
    partials_failed: int = 0  # partial requests that failed or were lost (never retried)
    partials_shed: int = 0  # partial requests planned and not sent: the daemon shed partials
    partials_deferred: int = 0  # planned and held back: the partial budget was spent
    partials_preempted: int = 0  # cancels sent to partials in flight because final work waited
    partials_cut_short: int = 0  # of them, answered "cancelled" (the rest finished first)
    partials_aligned: int = 0  # partials sent ahead of their time to join a partial batch
    events_ignored: int = 0  # VAD events for unknown streams or stale segment ids
    commits: int = 0  # prefixes of open segments published as finals while speech went on
    endpoint_commits: int = 0  # of them, complete sentences committed at a pause from partials
    stalled_commits: int = 0  # of them, from one hypothesis after others kept disagreeing
    confident_commits: int = 0  # of them, from one hypothesis whose words were all confident
    early_finals_requested: int = 0  # finals decoded at a pause, before the segment ended
    early_finals_used: int = 0  # of them, published (committed, or the segment's final)
    early_finals_wasted: int = 0  # of them, dropped: speech resumed mid-sentence, or failed
    batches_sent: int = 0  # batches of final requests of different streams (one encoder call)
    batched_requests: int = 0  # requests sent inside those batches

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    # Read as a mapping too, so ``dict(scheduler.stats())`` gives the counters by name.
    def keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self)]

    def __getitem__(self, name: str) -> int:
        if name not in self.keys():
            raise KeyError(name)
        return getattr(self, name)
