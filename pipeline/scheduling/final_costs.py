"""Where a final's time went: backend time of its requests and its wait for a worker.

The scheduler core tells ``FinalCosts`` about every request it sends (``sent``), every answer
(``answered``) and every request that ends without one (``settled``: lost, unsent, cancelled);
when a final goes to the final order it asks for the segment's costs (``take``), which the
final carries as ``TranscriptFinal.engine_ms`` / ``queue_wait_ms``.

- ``engine_ms``: the backend time (``TranscribeResult.engine_ms``, ``StreamUpdate.engine_ms``)
  of the final work answered for the segment since its previous final: chunks, early finals,
  session feeds (a wasted early final, whose speech resumed, included: that time was spent on
  the segment). A part committed while speech goes on also counts the partial whose answer
  committed it; other partials are not counted.
- ``queue_wait_ms``: after the end-of-speech decision (``Segment.ended_at_s``, where
  ``latency_ms`` starts), the time during which the segment's final was not complete and no final
  request of it was at a worker: its work waiting for a free worker (a partial still running on
  the only worker, other streams' finals). Parts committed while speech goes on wait 0 by
  definition (their latency starts at the commit).

Pure bookkeeping, one small entry per segment with work in flight or answered; ``forget`` drops
it when the segment is published or abandoned.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.messages.base import Message
from pipeline.messages.work import StreamUpdate, TranscribeRequest, TranscribeResult
from pipeline.scheduling.segment import Segment, SegmentKey
from pipeline.scheduling.work_kind import Flight


@dataclass(slots=True)
class _Cost:
    engine_ms: float = 0.0  # final work answered since the segment's previous final
    wait_s: float = 0.0  # waited for a worker after the end decision
    in_flight: int = 0  # final requests of the segment at a worker now
    idle_since_s: float | None = None  # when the last of them came back (None: never sent)


def _is_partial(flight: Flight) -> bool:
    request = flight.request
    return isinstance(request, TranscribeRequest) and request.is_partial


class FinalCosts:
    """Engine time and queue wait per segment (see the module docstring)."""

    def __init__(self) -> None:
        self._costs: dict[SegmentKey, _Cost] = {}
        self._now_s = 0.0  # the latest time any call brought (``settled`` may not know it)
        self._partial: tuple[SegmentKey, float] | None = None  # the latest partial answered

    def sent(self, flight: Flight, segment: Segment | None, now_s: float) -> None:
        """``flight`` went to a worker."""
        self._now_s = max(self._now_s, now_s)
        if _is_partial(flight):
            return
        cost = self._costs.setdefault(flight.segment, _Cost())
        if cost.in_flight == 0 and segment is not None and not segment.is_open:
            since_s = segment.ended_at_s
            if cost.idle_since_s is not None:
                since_s = max(since_s, cost.idle_since_s)
            cost.wait_s += max(0.0, now_s - since_s)
        cost.in_flight += 1

    def answered(self, flight: Flight, reply: Message, now_s: float) -> None:
        """``flight`` was answered with ``reply`` (call before the kind reads it)."""
        engine_ms = reply.engine_ms if isinstance(reply, TranscribeResult | StreamUpdate) else 0.0
        self._partial = None
        if _is_partial(flight):
            self._now_s = max(self._now_s, now_s)
            self._partial = (flight.segment, engine_ms)
            return
        self.settled(flight, now_s)
        cost = self._costs.get(flight.segment)
        if cost is not None:
            cost.engine_ms += engine_ms

    def settled(self, flight: Flight, now_s: float | None = None) -> None:
        """``flight`` ended without (or before reading) an answer: lost, unsent, cancelled."""
        if now_s is not None:
            self._now_s = max(self._now_s, now_s)
        if _is_partial(flight):
            return
        cost = self._costs.get(flight.segment)
        if cost is None or cost.in_flight == 0:
            return
        cost.in_flight -= 1
        if cost.in_flight == 0:
            cost.idle_since_s = self._now_s

    def take(self, key: SegmentKey, *, part: bool) -> dict[str, float]:
        """The costs of the segment's final about to be made (``SegmentOutcome`` fields
        ``engine_ms``, ``queue_wait_ms``). A ``part`` (committed while speech goes on) also
        counts the partial answered last for it; after a part the count starts again, after the
        segment's own final the segment is forgotten."""
        cost = self._costs.get(key) if part else self._costs.pop(key, None)
        engine_ms = wait_s = 0.0
        if cost is not None:
            engine_ms, wait_s = cost.engine_ms, cost.wait_s
            cost.engine_ms = cost.wait_s = 0.0
        if part and self._partial is not None and self._partial[0] == key:
            engine_ms += self._partial[1]
            self._partial = None
        return {"engine_ms": engine_ms, "queue_wait_ms": 0.0 if part else wait_s * 1000.0}

    def forget(self, key: SegmentKey) -> None:
        """The segment was published or abandoned."""
        self._costs.pop(key, None)
        if self._partial is not None and self._partial[0] == key:
            self._partial = None

    def __len__(self) -> int:
        return len(self._costs)
