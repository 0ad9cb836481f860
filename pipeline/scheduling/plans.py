"""Which queued work goes to which idle worker: the dispatch policy, as pure functions.

Request mode (Whisper, or parakeet without sessions):

1. Final chunks first, oldest segment first (start order across streams), chunks in order.
2. Then partials, only on workers still idle: at most one in flight per stream, for the newest
   audio of the stream's open segment (built at dispatch time, so a newer request always
   replaces an older one that was never sent), and only when the segment has
   ``partial_min_audio`` and ``partial_interval`` has passed since its last partial request.
   The stream waiting longest since its last partial goes first.

Streaming mode (stateful sessions):

1. Work bound to an owner, on owners that are idle: closes (they produce finals) before feeds,
   oldest segment first. An owner with several sessions serves one of them per dispatch.
2. Then opens of new (or reopened) sessions, oldest first, each on the idle worker that owns the
   fewest unfinished sessions, so streams spread over the workers. Opening late loses nothing:
   the audio stays in the ring (``oldest_needed_index``) and the first feed catches up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipeline.messages.work import StreamClose, StreamOpen
from pipeline.scheduling.segment import Segment
from pipeline.scheduling.stream_session import SessionMessage


def partial_candidates(
    open_segments: Iterable[Segment],
    busy_streams: set[str],
    now_s: float,
    min_audio_samples: int,
    interval_s: float,
) -> list[Segment]:
    """Open segments due for a partial, the one waiting longest first."""
    due = [
        segment
        for segment in open_segments
        if segment.stream_id not in busy_streams
        and segment.partial_due(now_s, min_audio_samples, interval_s)
    ]
    due.sort(
        key=lambda s: (
            float("-inf") if s.last_partial_request_s is None else s.last_partial_request_s,
            s.order,
        )
    )
    return due


def partial_span(segment: Segment, window_samples: int) -> tuple[int, int]:
    """[start, end) of a partial request: the segment so far, or its newest window."""
    end_index = segment.newest_index
    return max(segment.start_index, end_index - window_samples), end_index


def plan_sessions(
    segments: Iterable[Segment], free_roles: Sequence[str]
) -> list[tuple[str, Segment, SessionMessage]]:
    """(role, segment, message) for idle workers in streaming mode; see the module docstring."""
    free = list(free_roles)
    owned = dict.fromkeys(free, 0)
    bound: list[tuple[int, int, Segment, SessionMessage]] = []
    opens: list[tuple[int, Segment, SessionMessage]] = []
    for segment in segments:
        session = segment.session
        if session is None or session.finished:
            continue
        if session.owner in owned:
            owned[session.owner] += 1
        message = session.next_message(segment.newest_index, segment.end_index)
        if message is None:
            continue
        if isinstance(message, StreamOpen):
            opens.append((segment.order, segment, message))
        elif session.owner in owned:
            rank = 0 if isinstance(message, StreamClose) else 1
            bound.append((rank, segment.order, segment, message))
    plan: list[tuple[str, Segment, SessionMessage]] = []
    bound.sort(key=lambda item: item[:2])
    for _, _, segment, message in bound:
        owner = segment.session.owner if segment.session else None
        if owner in free:
            free.remove(owner)
            plan.append((owner, segment, message))
    opens.sort(key=lambda item: item[0])
    for _, segment, message in opens:
        if not free:
            break
        role = min(free, key=lambda r: owned[r])  # ties: the order the caller gave
        free.remove(role)
        owned[role] += 1
        plan.append((role, segment, message))
    return plan
