"""Cross-stream batching: queued requests of different streams go to one worker as one batch.

Whisper encodes several windows stacked (``backends/whisper/batch_encoder.py``) and decodes
them in one batched greedy pass (``batch_windows``), which costs less than one call per window on
a CPU. Batching pays only when more work waits than there are free workers: a second worker
computes in parallel, a batch only shares the work. So the scheduler offers its kinds of work
*seats*: every free worker first, then up to ``max_batch - 1`` extra seats per free worker, as
many as the requests waiting beyond the free workers (``seats``). The kinds plan as usual, one
request per seat, finals before partials; a request planned on an extra seat joins its worker's
batch if it may (``admits``), else it is handed back unsent. ``pack`` then turns each worker's requests into one ``TranscribeRequest`` or one
``TranscribeBatch``.

A batch holds:

- only ``TranscribeRequest``s (streaming-session messages are never batched);
- finals only, or partials only, never both: a final never waits for a partial's decoding, and
  a partial batch is cancelled as a whole (``cancels``);
- requests whose text does not depend on one another (``independent``): requests of different
  streams, or chunks of one ended segment (only its first chunk is prompted, with the text
  before the segment, so no chunk waits for another's words); never two segments of one
  stream (the later one is prompted with the earlier one's final);
- requests of at most ``max_audio_samples`` each (``asr.max_batched_audio_s``; the file path
  sets its own, ``workers/transcribe_file.py``).

Partials of different streams batch as finals do: extra seats are offered for the partials due
beyond the free workers too (``waiting_requests``), so one worker decodes several streams'
partials in one pass, and the partial budget (``partial_budget``) debits the batch as one busy
worker. Pre-emption (final work waits, every worker busy) cancels a partial batch as a whole:
one cancel, one worker freed, every item answered ``cancelled`` and planned again with newer
audio, as a lone partial is. Waiting for the batch instead would hold the final for the whole
batch (several partials' decoding), where a cancel stops it at the next checkpoint.

Every request of a batch is its own flight in the ledger (under its seat), answered,
retried, lost or handed back one by one: the worker answers a ``TranscribeBatchResult``, which
the scheduler reads item by item (``unpack``); a lost worker loses all its flights, and each is
sent again. ``max_batch`` 1 turns batching off (no extra seats).

Partials fall due at staggered times (each stream's cadence counts from its own last partial),
so few are due at once and partial batches rarely form. ``partial_align`` (a fraction of the
partial interval, ``streams.partial_align``) aligns them: once a partial goes to a worker, the
partial kinds are asked again on that worker's remaining seats (``partial_seats``, up to
``max_batch``, even when ``seats`` offered none beyond the free workers) with a clock
``partial_align x partial_interval_s`` ahead, so partials due within that lead join its batch;
only while another worker stays free (``scheduler.ALIGN_NEEDS_SPARE``): a final arriving then
finds a worker, where a pre-emption would cancel the whole batch (simulated, without that rule
alignment raised pre-emptions 27 -> 105 in 120 s at 5 streams on 2 workers).
A partial sent early records the look-ahead time as its request time, so its next one is not
due sooner: over time the streams' cadences lock to the batches' phase instead of each stream
sending more often. Only partials join early; finals never wait.
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
# The bound on a batched request (``asr.max_batched_audio_s``, the same 30 s here for direct
# callers). ~12 s was where stacking the encoder alone still
# saved CPU (bench/encoder_batch.py, numpy, 1 BLAS thread: two 10 s windows 0.76x, four 0.75x;
# two 15 s windows saved nothing, two 30 s windows cost 1.07x). With the windows also decoded
# together (batch_decoder.py) long windows pay too (CPU of a batch / the same windows alone,
# numpy, 1 BLAS thread, loaded machine: 20 s windows 0.91x in pairs, 0.80x in threes; 25 s 0.86x,
# 0.77x; partials of 6-14 s 0.82x in pairs, 0.75-0.78x in threes), so the daemon's bound,
# ``asr.max_batched_audio_s``, is the whole window (30 s).
MAX_BATCHED_AUDIO_S = 30.0
MAX_BATCHED_AUDIO_SAMPLES = int(MAX_BATCHED_AUDIO_S * 16_000)


def seats(free_roles: list[str], max_batch: int, waiting: int) -> list[str]:
    """Seats to plan work for: the free workers, then extra seats (round by round, so extra
    work spreads over the workers), only as many as the ``waiting`` requests beyond the free
    workers can fill (none when ``max_batch`` is 1)."""
    extra = [
        f"{role}{SEAT_MARK}{number}" for number in range(2, max_batch + 1) for role in free_roles
    ]
    return [*free_roles, *extra[: max(0, waiting - len(free_roles))]]


def waiting_requests(depths: Iterable[dict[str, int]]) -> int:
    """Requests waiting that a batch may carry: final chunks and partials due (``depths``: the
    kinds' ``queue_depths``)."""
    return sum(depth.get("finals", 0) + depth.get("partials", 0) for depth in depths)


def worker_of(seat: str) -> str:
    """The worker role of a seat (a worker's own seat is its role)."""
    role, mark, number = seat.rpartition(SEAT_MARK)
    return role if mark and role and number.isdigit() else seat


def extra_seats(role: str, seats_in_flight: Iterable[str]) -> list[str]:
    """The extra seats of worker ``role`` among ``seats_in_flight``."""
    return [seat for seat in seats_in_flight if seat != role and worker_of(seat) == role]


def independent(a: TranscribeRequest, b: TranscribeRequest) -> bool:
    """Whether ``a`` and ``b`` may be decoded in one batch: neither's prompt is the other's text.
    Requests of different streams are; chunks of one ended segment are too (only the first is
    prompted, with the text before the segment); two segments or partials of one stream are not.
    """
    if a.stream_id != b.stream_id:
        return True
    return (
        not a.is_partial
        and not b.is_partial
        and a.segment_id == b.segment_id
        and a.chunk_count == b.chunk_count > 1
        and a.chunk_index != b.chunk_index
    )


class BatchPlan:
    """The requests one dispatch gives each worker, admitted under the batch rules above."""

    def __init__(
        self,
        free_roles: list[str],
        max_batch: int,
        waiting: int,
        max_audio_samples: int = MAX_BATCHED_AUDIO_SAMPLES,
    ) -> None:
        self.seats = seats(free_roles, max_batch, waiting)
        self.max_batch = max_batch
        self.max_audio_samples = max_audio_samples
        self._by_role: dict[str, list[WorkRequest]] = {}
        self._seats_taken: set[str] = set()

    def admits(self, seat: str, request: WorkRequest) -> bool:
        """Whether ``request`` planned on ``seat`` may go to its worker, on top of what the
        worker was given already."""
        given = self._by_role.get(worker_of(seat))
        if not given:
            return True
        first = given[0]
        if not (isinstance(first, TranscribeRequest) and isinstance(request, TranscribeRequest)):
            return False
        if first.is_partial != request.is_partial:
            return False  # never mixed: a final does not wait for a partial's decoding
        if max(_samples(first), _samples(request)) > self.max_audio_samples:
            return False  # long windows: batching them was measured to save nothing
        return all(isinstance(r, TranscribeRequest) and independent(r, request) for r in given)

    def add(self, seat: str, request: WorkRequest) -> None:
        self._by_role.setdefault(worker_of(seat), []).append(request)
        self._seats_taken.add(seat)

    def pack(self) -> list[tuple[str, WorkRequest | TranscribeBatch]]:
        """One message per worker: its request, or a batch of its requests."""
        out: list[tuple[str, WorkRequest | TranscribeBatch]] = []
        for role, requests in self._by_role.items():
            out.append((role, requests[0] if len(requests) == 1 else batch_of(requests)))
        return out

    def partial_seats(self) -> list[str]:
        """The seats left on the workers given partials in this plan, up to ``max_batch``
        requests each, whatever ``seats`` offered: the seats partials planned ahead of their
        time may take (``partial_align``). A free worker's own seat is never among them: a
        partial early on a worker of its own is only a faster cadence, where one joining a
        batch costs a fraction of its decoding alone."""
        out = []
        for role, given in self._by_role.items():
            if not given or not getattr(given[0], "is_partial", False):
                continue
            room = self.max_batch - len(given)
            numbers = range(2, self.max_batch + 1)
            free = [f"{role}{SEAT_MARK}{n}" for n in numbers]
            out += [seat for seat in free if seat not in self._seats_taken][: max(0, room)]
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


def cancels(
    partials: list[tuple[str, str]], waiting: int, cancelling: set[str]
) -> list[tuple[str, str, list[str]]]:
    """Which partials to cancel so that ``waiting`` final requests find a worker.

    ``partials``: (seat, flight id) of every partial in flight, in the order sent (a batch's
    items in its order, its first on the worker's own seat); ``cancelling``: the ids already
    asked to stop. One cancel frees one worker, whether it holds one partial or a batch of them
    (a batch is cancelled as a whole: the worker answers every item ``cancelled``). Workers
    already asked count against ``waiting``; the newest are cut first (the most work left).
    Returns (worker, id the cancel names, flight ids it stops): the batch's id for a batch.
    """
    by_worker: dict[str, list[str]] = {}
    for seat, key in partials:
        by_worker.setdefault(worker_of(seat), []).append(key)
    candidates: list[tuple[str, str, list[str]]] = []
    for role, keys in by_worker.items():
        if any(key in cancelling for key in keys):
            waiting -= 1  # already asked: this worker comes free for one of them
            continue
        cancel_id = keys[0] if len(keys) == 1 else BATCH_PREFIX + keys[0]
        candidates.append((role, cancel_id, keys))
    candidates.reverse()  # the newest first
    return candidates[: max(0, waiting)]


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
