"""Cross-stream batching: queued requests of different streams go to one worker as one batch.

Whisper's encoder runs once over several windows stacked (``backends/whisper/batch_encoder.py``),
which costs less than one call per window on a CPU (``bench/encoder_batch.py``). Batching pays
only when more work waits than there are free workers: a second worker computes in parallel, a
batch only shares the encoder's overhead. So the scheduler offers its kinds of work *seats*:
every free worker first, then up to ``max_batch - 1`` extra seats per free worker, as many as
the final requests waiting beyond the free workers (``seats``). The kinds plan as usual, one request per seat, finals before partials; a request
planned on an extra seat joins its worker's batch if it may (``admits``), else it is handed
back unsent. ``pack`` then turns each worker's requests into one ``TranscribeRequest`` or one
``TranscribeBatch``.

A batch holds:

- only ``TranscribeRequest``s (streaming-session messages are never batched);
- at most one request per stream (the issue's "segments of different streams"; a long segment's
  chunks go to different workers instead);
- finals only (chunks and early finals): partials stay alone, so a final never waits for a
  partial's decoding and a partial can be cancelled (pre-empted) on its own;
- requests of at most ``MAX_BATCHED_AUDIO_SAMPLES`` (12 s): longer windows gained nothing.

Every request of a batch is its own flight in the ledger (under its seat), answered,
retried, lost or handed back one by one: the worker answers a ``TranscribeBatchResult``, which
the scheduler reads item by item (``unpack``); a lost worker loses all its flights, and each is
sent again. ``max_batch`` 1 turns batching off (no extra seats).
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.messages.base import Message
from pipeline.messages.work import (
    TranscribeBatch,
    TranscribeBatchResult,
    TranscribeRequest,
)
from pipeline.scheduling.flights import WorkRequest

SEAT_MARK = "+"  # an extra seat of worker "asr-1" is "asr-1+2", "asr-1+3", ...
BATCH_PREFIX = "batch:"  # a batch's request id: this + its first request's id (unique per attempt)
# Longest request batched: up to ~12 s of audio Whisper's shortened encoder window is 10-14 s
# (500-700 frames), where stacking saved CPU (bench/encoder_batch.py, numpy, 1 BLAS thread: two
# 10 s windows 0.76x, four 0.75x); two 15 s windows saved nothing, two full 30 s windows cost
# 1.07x, four 1.21x (bigger matrices, no better BLAS use, more memory traffic).
MAX_BATCHED_AUDIO_SAMPLES = 12 * 16_000


def seats(free_roles: list[str], max_batch: int, waiting: int) -> list[str]:
    """Seats to plan work for: the free workers, then extra seats (round by round, so extra
    work spreads over the workers), only as many as the ``waiting`` final requests beyond the
    free workers can fill (none when ``max_batch`` is 1)."""
    extra = [
        f"{role}{SEAT_MARK}{number}" for number in range(2, max_batch + 1) for role in free_roles
    ]
    return [*free_roles, *extra[: max(0, waiting - len(free_roles))]]


def worker_of(seat: str) -> str:
    """The worker role of a seat (a worker's own seat is its role)."""
    role, mark, number = seat.rpartition(SEAT_MARK)
    return role if mark and role and number.isdigit() else seat


def extra_seats(role: str, seats_in_flight: Iterable[str]) -> list[str]:
    """The extra seats of worker ``role`` among ``seats_in_flight``."""
    return [seat for seat in seats_in_flight if seat != role and worker_of(seat) == role]


class BatchPlan:
    """The requests one dispatch gives each worker, admitted under the batch rules above."""

    def __init__(self, free_roles: list[str], max_batch: int, waiting: int) -> None:
        self.seats = seats(free_roles, max_batch, waiting)
        self._by_role: dict[str, list[WorkRequest]] = {}

    def admits(self, seat: str, request: WorkRequest) -> bool:
        """Whether ``request`` planned on ``seat`` may go to its worker, on top of what the
        worker was given already."""
        given = self._by_role.get(worker_of(seat))
        if not given:
            return True
        first = given[0]
        if not (isinstance(first, TranscribeRequest) and isinstance(request, TranscribeRequest)):
            return False
        if first.is_partial or request.is_partial:
            return False  # partials are not batched: a cancel must reach them alone
        if max(_samples(first), _samples(request)) > MAX_BATCHED_AUDIO_SAMPLES:
            return False  # long windows: stacking them saves nothing
        return all(
            isinstance(r, TranscribeRequest) and r.stream_id != request.stream_id for r in given
        )

    def add(self, seat: str, request: WorkRequest) -> None:
        self._by_role.setdefault(worker_of(seat), []).append(request)

    def pack(self) -> list[tuple[str, WorkRequest | TranscribeBatch]]:
        """One message per worker: its request, or a batch of its requests."""
        out: list[tuple[str, WorkRequest | TranscribeBatch]] = []
        for role, requests in self._by_role.items():
            out.append((role, requests[0] if len(requests) == 1 else batch_of(requests)))
        return out

    def batch_sizes(self) -> list[int]:
        """Sizes of the batches made (workers given more than one request)."""
        return [len(r) for r in self._by_role.values() if len(r) > 1]


def _samples(request: TranscribeRequest) -> int:
    return request.end_index - request.start_index


def batch_of(requests: list[WorkRequest]) -> TranscribeBatch:
    items = tuple(r for r in requests if isinstance(r, TranscribeRequest))
    if len(items) != len(requests) or not items:
        raise ValueError("only transcription requests are batched")
    return TranscribeBatch(request_id=BATCH_PREFIX + items[0].request_id, requests=items)


def unpack(message: Message) -> list[Message]:
    """The replies a batch result holds, one per request (any other message: itself)."""
    if isinstance(message, TranscribeBatchResult):
        return [*message.results, *message.errors]
    return [message]


def requests_of(request: WorkRequest | TranscribeBatch) -> tuple[WorkRequest, ...]:
    """The requests a message sent to a worker carries."""
    if isinstance(request, TranscribeBatch):
        return request.requests
    return (request,)
