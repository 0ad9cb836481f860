"""An early final decoded at a tentative pause (``vad.pause_decode_ms``, before ``vad.pause_ms``):
sent as soon as the shorter silence is seen, committed only once the pause is confirmed, dropped
when speech resumes first. The real scheduler with real speech messages and fake answers (the
real VAD and tiny.en: ``tests/test_early_final_tentative_model.py``)."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions
from pipeline.scheduling.commits import CommittedSegments
from tests.test_scheduler_commits import finals, only, paused, resumed
from tests.test_scheduler_fakes import RINGS, SR, ongoing, options, result, started


def scheduler() -> SegmentScheduler:
    """Speech of the "mic" stream from 0 s to 1.5 s, then silence: a tentative pause decided
    at 1.6 s (its early final sent then)."""
    commit = CommitOptions(margin_s=0.5, context_lead_in_s=2.0)
    s = SegmentScheduler(options(commit=commit), rings=RINGS, work=(CommittedSegments(commit),))
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 1.5), 1.5)
    return s


def tentative(decided_s: float, number: int = 0):
    """The tentative pause of the silence from 1.5 s, confirmed at 1.7 s if it goes on."""
    return dataclasses.replace(paused(1.5, decided_s, number), confirm_index=round(1.7 * SR))


def test_committed_when_the_pause_is_confirmed_not_before() -> None:
    s = scheduler()
    s.speech_paused(tentative(1.6), 1.6)
    early = only(s.dispatch(["asr-1"], 1.6))
    # its window ends at the confirmed pause's cut, the middle of 1.5-1.7 s: the same audio
    assert early.early_final and early.end_index == round(1.6 * SR)
    assert finals(s.on_reply("asr-1", result(early, "I went home."), 1.65)) == []  # held
    (part,) = finals(s.speech_paused(paused(1.5, 1.7), 1.7))  # confirmed: committed at once
    assert part.text == "I went home." and part.end_s == pytest.approx(1.6)
    assert s.stats().early_finals_used == 1 and s.stats().early_finals_wasted == 0


def test_answered_after_the_confirmation_it_is_committed_on_arrival() -> None:
    s = scheduler()
    s.speech_paused(tentative(1.6), 1.6)
    early = only(s.dispatch(["asr-1"], 1.6))
    assert finals(s.speech_paused(paused(1.5, 1.7), 1.7)) == []
    assert s.dispatch(["asr-2"], 1.7) == []  # the confirmed pause sends no second early final
    (part,) = finals(s.on_reply("asr-1", result(early, "I went home."), 1.9))
    assert part.text == "I went home."


@pytest.mark.parametrize("answered_first", [True, False])
def test_dropped_when_speech_resumes_before_the_confirmation(answered_first: bool) -> None:
    s = scheduler()
    s.speech_paused(tentative(1.6), 1.6)
    early = only(s.dispatch(["asr-1"], 1.6))
    if answered_first:
        assert finals(s.on_reply("asr-1", result(early, "I went."), 1.62)) == []
    s.speech_resumed(resumed(1.65), 1.65)  # a short gap between words, not a pause
    if not answered_first:
        assert finals(s.on_reply("asr-1", result(early, "I went."), 1.8)) == []
    assert s.stats().early_finals_used == 0 and s.stats().early_finals_wasted == 1
    # the segment goes on: its partials still cover the audio from its start
    s.speech_ongoing(ongoing(0, 0.0, 3.0), 3.0)
    partial = only(s.dispatch(["asr-1"], 3.0))
    assert partial.is_partial and partial.start_index == 0


def test_a_tentative_early_final_pre_empts_no_partial() -> None:
    s = scheduler()
    s.speech_ongoing(ongoing(0, 0.0, 1.5), 1.5)
    s.speech_paused(tentative(1.6), 1.6)
    assert s.queue_depths().get("finals", 0) == 0  # speculative: not final work yet
    s.speech_paused(paused(1.5, 1.7), 1.7)
    assert s.queue_depths().get("finals", 0) == 1
