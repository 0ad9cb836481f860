"""A starved segment (``streams.starved_s``, off in the daemon): while streams share the pool, a
segment whose speech has waited ``starved_s`` uncommitted has its due partial sent first, and
``streams.starved_priority`` says past what: order (nothing), reserve (the worker kept for
finals), one / full (that and the partial budget; one: one at a time over the pool). The real
scheduler as the daemon builds its work (``default_work``), real speech messages, two workers,
one of them kept for finals."""

from __future__ import annotations

import pytest

from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions
from pipeline.scheduling.options import SharingOptions
from pipeline.scheduling.scheduler import default_work
from tests.test_scheduler_fakes import options, result, started
from tests.test_scheduler_fakes import sharing as sharing_keys
from tests.test_sentence_ends_first import RINGS, WORKERS, heard


def held_partial(sharing: SharingOptions, share: float = 0.25) -> list:
    """Streams "a" and "b" speak from 0 s; "a"'s partial at 1.5 s hears no sentence end and
    commits nothing, "b"'s holds one worker from 1.6 s. At 3.0 s "a"'s next partial is due
    (1 s interval) with 3.0 s of speech uncommitted: returns what goes to the free worker, the
    one kept for finals."""
    opts = options(commit=CommitOptions(), sharing=sharing)
    s = SegmentScheduler(
        opts, RINGS, work=default_work(opts), partial_share=share, reserve_for_finals=1
    )
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


@pytest.mark.parametrize("priority", ["reserve", "one", "full"])
def test_a_starved_segments_partial_goes_past_the_reserve(priority) -> None:
    ((_, request),) = held_partial(sharing_keys(starved_s=3.0, starved_priority=priority))
    assert request.stream_id == "a" and request.is_partial


def test_in_order_only_it_waits_for_the_reserve() -> None:
    assert held_partial(sharing_keys(starved_s=3.0, starved_priority="order")) == []


@pytest.mark.parametrize("priority", ["reserve", "order"])
def test_the_budget_holds_it_unless_it_goes_past_the_budget(priority) -> None:
    """A budget spent (share 0.05): reserve and order hold the starved partial back; one and
    full (above, and here) send it."""
    assert held_partial(sharing_keys(starved_s=3.0, starved_priority=priority), 0.05) == []
    ((_, request),) = held_partial(sharing_keys(starved_s=3.0, starved_priority="one"), 0.05)
    assert request.stream_id == "a"


def test_the_daemon_leaves_starved_segments_off() -> None:
    assert sharing_keys().starved_s == 0.0 == SharingOptions().starved_s
    assert held_partial(sharing_keys()) == []


@pytest.mark.parametrize("starved_s", [0.0, 3.5])
def test_under_the_bound_or_off_it_waits_for_the_reserve(starved_s) -> None:
    sharing = sharing_keys(starved_s=starved_s, starved_priority="full")
    assert held_partial(sharing) == []  # that worker stays free for finals


def both_starved(priority: str) -> list:
    """Streams "a" and "b" speak from 0 s, each partial at 1.5 s commits nothing, and the budget
    is spent (share 0.01, no worker kept for finals): at 3.0 s both segments are starved and
    due, both workers free. Returns what goes."""
    opts = options(
        commit=CommitOptions(), sharing=sharing_keys(starved_s=3.0, starved_priority=priority)
    )
    s = SegmentScheduler(opts, RINGS, work=default_work(opts), partial_share=0.01)
    for stream in ("a", "b"):
        s.speech_started(started(0, 0.0, stream), 0.0)
    heard(s, 1.5, "a", "b")
    first = s.dispatch(WORKERS, 1.5)  # the account starts full
    assert sorted(r.stream_id for _, r in first) == ["a", "b"]
    for role, request in first:
        s.on_reply(role, result(request, "the first public"), 1.6)
    heard(s, 3.0, "a", "b")
    return s.dispatch(WORKERS, 3.0)


def test_one_sends_one_starved_partial_past_the_budget_at_a_time() -> None:
    assert both_starved("reserve") == []  # held by the spent budget
    ((_, request),) = both_starved("one")
    assert request.is_partial
    assert sorted(r.stream_id for _, r in both_starved("full")) == ["a", "b"]
