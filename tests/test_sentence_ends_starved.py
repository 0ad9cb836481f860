"""A starved segment (sentence_ends.STARVED_S, off in the daemon): while streams share the pool,
a segment whose speech has waited ``starved_s`` uncommitted has its due partial sent first and
past the partial budget and the worker kept for finals. The real scheduler as the daemon builds its work
(``default_work``), real speech messages, two workers, one of them kept for finals."""

from __future__ import annotations

import pytest

from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions
from pipeline.scheduling.scheduler import default_work
from pipeline.scheduling.sentence_ends import STARVED_S
from tests.test_scheduler_fakes import options, result, started
from tests.test_sentence_ends_first import RINGS, WORKERS, heard


def held_partial(starved_s: float | None) -> list:
    """Streams "a" and "b" speak from 0 s; "a"'s partial at 1.5 s hears no sentence end and
    commits nothing, "b"'s holds one worker from 1.6 s. At 3.0 s "a"'s next partial is due
    (1 s interval) with 3.0 s of speech uncommitted: returns what goes to the free worker, the
    one kept for finals."""
    opts = options(commit=CommitOptions())
    work = default_work(opts)
    work[0].starved_s = starved_s  # type: ignore[attr-defined]
    s = SegmentScheduler(opts, RINGS, work=work, partial_share=0.25, reserve_for_finals=1)
    for stream in ("a", "b"):
        s.speech_started(started(0, 0.0, stream), 0.0)
    heard(s, 1.5, "a", "b")
    ((a_role, a_request),) = s.dispatch(WORKERS, 1.5)
    assert a_request.stream_id == "a"
    s.on_reply(a_role, result(a_request, "the first public"), 1.6)
    ((b_role, b_request),) = s.dispatch(WORKERS, 1.6)
    assert b_request.stream_id == "b" and b_request.is_partial
    heard(s, 3.0, "a", "b")
    return s.dispatch([role for role in WORKERS if role != b_role], 3.0)


def test_a_starved_segments_partial_goes_past_the_reserve() -> None:
    ((_, request),) = held_partial(3.0)
    assert request.stream_id == "a" and request.is_partial


def test_the_daemon_leaves_starved_segments_off() -> None:
    """Past the budget, starved partials defeat it once every stream starves
    (tests/test_partial_budget.py): off until a bound that keeps the budget is measured."""
    assert STARVED_S is None
    assert held_partial(STARVED_S) == []


@pytest.mark.parametrize("starved_s", [None, 3.5])
def test_under_the_bound_or_off_it_waits_for_the_reserve(starved_s) -> None:
    assert held_partial(starved_s) == []  # that worker stays free for finals
