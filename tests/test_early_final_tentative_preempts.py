"""A tentative pause's early final pre-empts a partial while streams share the pool
(``streams.tentative_preempts``): with every worker on a partial when the tentative pause
comes, the unsent early final counts as final work waiting and the newest partial is cancelled
for it; off, or a stream alone, it pre-empts nothing (it waits for a worker that comes free).
The real scheduler as the daemon builds its work (``default_work``), real speech messages."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.messages.work import CANCELLED, WorkerError
from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions
from pipeline.scheduling.scheduler import default_work
from tests.test_scheduler_commits import paused
from tests.test_scheduler_fakes import RINGS, SR, ongoing, options, started
from tests.test_scheduler_fakes import sharing as sharing_keys


def busy_at_a_tentative_pause(*, sharing: bool, on: bool) -> SegmentScheduler:
    """'mic' (and with ``sharing`` 'room') speak from 0 s; at 1.5 s each has a partial in
    flight on its own worker; at 1.6 s mic's tentative pause (confirmed at 1.7 s)."""
    opts = options(
        commit=CommitOptions(margin_s=0.5, context_lead_in_s=2.0),
        sharing=sharing_keys(tentative_preempts=on),
    )
    s = SegmentScheduler(opts, rings=RINGS, work=default_work(opts))
    streams = ("mic", "room") if sharing else ("mic",)
    for stream in streams:
        s.speech_started(started(0, 0.0, stream), 0.0)
        s.speech_ongoing(ongoing(0, 0.0, 1.5, stream), 1.5)
    sent = s.dispatch(["asr-1", "asr-2"][: len(streams)], 1.5)
    assert sorted(r.stream_id for _, r in sent) == sorted(streams)
    assert all(r.is_partial for _, r in sent)
    s.speech_paused(dataclasses.replace(paused(1.5, 1.6), confirm_index=round(1.7 * SR)), 1.6)
    assert s.dispatch([], 1.6) == []
    return s


def test_while_sharing_it_cancels_the_newest_partial_and_takes_its_worker() -> None:
    s = busy_at_a_tentative_pause(sharing=True, on=True)
    ((role, cancel),) = s.preemptions(1.6)
    assert role == "asr-2" and cancel.request_id == "room/0/p1"
    assert s.preemptions(1.61) == []  # asked once
    s.on_reply("asr-2", WorkerError(cancel.request_id, CANCELLED, "cancelled after 0.020 s"), 1.62)
    (early,) = [r for _, r in s.dispatch(["asr-2"], 1.62)]
    assert early.stream_id == "mic" and early.early_final
    assert early.end_index == round(1.6 * SR)
    assert s.stats().partials_preempted == 1


@pytest.mark.parametrize(("sharing", "on"), [(True, False), (False, True)])
def test_off_or_alone_it_pre_empts_nothing(sharing, on) -> None:
    s = busy_at_a_tentative_pause(sharing=sharing, on=on)
    assert s.preemptions(1.6) == []
    assert s.stats().partials_preempted == 0
