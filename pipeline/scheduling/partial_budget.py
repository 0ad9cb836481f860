"""A global budget of worker time for partials: they get what finals leave of a share of the pool.

Partials are the bulk of a stream's cost (each re-transcribes the newest ~10 s), and with one
more stream per worker the pool would spend all its time on them: finals then wait for a
pre-emption, and the workers take every core from the streams' capture and VAD processes. So the
scheduler keeps an account of worker time (a token bucket, in worker-seconds):

- it is credited ``share`` x workers per second of wall time and debited the time workers
  actually spend busy, on any work (finals, early finals, partials); a worker decoding a batch
  is one busy worker, so partials of several streams decoded together (``batching``) cost the
  account what one batch takes (two partials ~0.8x, three ~0.75x of their time alone);
- a partial may be sent only while the account is positive (the scheduler asks only while more
  than one stream is in speech: one stream alone has nobody to share with, so a single stream's
  latency is the same with or without the budget); finals always go (they may drive the account
  below zero, which then holds partials back until it recovers);
- the account is bounded by ``BURST_S`` seconds of the credit on either side, so an idle pool
  does not save up an unbounded burst of partials, and a burst of finals does not starve them
  for long.

Averaged over a few seconds the pool is then busy at most ``share`` of the time whenever
partials are what would fill it, whatever the number of streams: partials of N streams share
the budget (each stream's partials come every ~N x cost / budget seconds, round-robin: the
partial planners serve the stream waiting longest first), and finals find a free worker. A
``share`` of 1 or more turns the budget off (partials fill every idle worker).

Pure logic, no clock: callers pass ``now_s`` and the busy and total worker counts.
"""

from __future__ import annotations

from dataclasses import dataclass

BURST_S = 2.0  # the account holds at most this many seconds of credit (and of debt)


@dataclass(slots=True)
class PartialBudget:
    """The account of worker time partials may use (see module doc)."""

    share: float  # fraction of the pool's time work may fill when partials are what fills it
    balance_s: float = 0.0  # worker-seconds partials may still start on
    workers: int = 0  # ready workers at the last look
    _last_s: float | None = None
    _busy: int = 0  # workers busy since the last look

    @property
    def enabled(self) -> bool:
        return self.share < 1.0

    def account(self, now_s: float, busy_workers: int, workers: int | None = None) -> None:
        """Credit and debit the time since the last call, during which ``busy_workers`` (as
        seen at the last call) were busy; then note the counts now."""
        if workers is not None:
            self.workers = workers
        if self._last_s is not None and now_s > self._last_s:
            elapsed_s = now_s - self._last_s
            credit = self.share * self.workers
            self.balance_s += elapsed_s * (credit - self._busy)
            bound = BURST_S * max(credit, 0.0)
            self.balance_s = max(-bound, min(bound, self.balance_s))
        elif self._last_s is None:
            self.balance_s = BURST_S * self.share * self.workers  # start with a full account
        self._last_s = now_s
        self._busy = busy_workers

    def empty(self) -> None:
        """Set the account to its lowest (a new period of shedding starts by holding back)."""
        self.balance_s = -BURST_S * max(self.share * self.workers, 0.0)

    def allows_partial(self) -> bool:
        """Whether a partial may be sent now (always, with the budget off)."""
        return not self.enabled or self.balance_s > 0.0
