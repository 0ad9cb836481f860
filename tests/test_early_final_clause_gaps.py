"""Clause gaps (``CommitOptions.hold_after_clause_gaps``): once speech came back soon after a
confirmed pause of a segment, an early final whose text ends a sentence is held instead of
committed at its pause (tiny.en ends any audio it is given with a full stop). The real
scheduler with real speech messages and fake answers; the profile-level effect on the real VAD
and model is measured with ``bench/commit_latency.py --simulate`` (docs/performance_log.md)."""

from __future__ import annotations

from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions
from pipeline.scheduling.commits import CommittedSegments
from tests.test_scheduler_commits import finals, only, paused, resumed
from tests.test_scheduler_fakes import RINGS, ended, ongoing, options, result, started


def scheduler(hold_after: int) -> SegmentScheduler:
    commit = CommitOptions(
        margin_s=0.5, context_lead_in_s=2.0, hold_after_clause_gaps=hold_after, clause_gap_s=0.3
    )
    s = SegmentScheduler(options(commit=commit), rings=RINGS, work=(CommittedSegments(commit),))
    s.speech_started(started(0, 0.0), 0.0)
    return s


def first_sentence(s: SegmentScheduler, resume_s: float) -> None:
    """Speech to 1.5 s, a pause confirmed at 1.7 s whose early final says a full sentence
    (committed: no clause gap yet), then speech again from ``resume_s``."""
    s.speech_ongoing(ongoing(0, 0.0, 1.5), 1.5)
    s.speech_paused(paused(1.5, 1.7), 1.7)
    early = only(s.dispatch(["asr-1"], 1.7))
    (part,) = finals(s.on_reply("asr-1", result(early, "I went home."), 1.8))
    assert part.text == "I went home."
    s.speech_resumed(resumed(resume_s), resume_s + 0.05)


def second_pause(s: SegmentScheduler) -> list:
    """Speech to 3.5 s, a pause confirmed at 3.7 s; its early final says a full sentence: the
    finals published on its answer."""
    s.speech_ongoing(ongoing(0, 0.0, 3.5), 3.5)
    s.speech_paused(paused(3.5, 3.7, number=1), 3.7)
    early = only(s.dispatch(["asr-1"], 3.7))
    assert early.early_final
    return finals(s.on_reply("asr-1", result(early, "And then I slept."), 3.8))


def test_after_a_clause_gap_a_sentence_end_at_a_pause_is_held() -> None:
    s = scheduler(hold_after=1)
    first_sentence(s, resume_s=1.7)  # 0.2 s of silence: a clause gap
    assert second_pause(s) == []  # held, not committed at the pause
    # the segment ends with no speech after the pause: the held early final is its final
    out = finals(s.speech_ended(ended(0, 0.0, 3.9), 4.0))
    assert [f.text for f in out] == ["And then I slept."]
    assert s.stats().early_finals_wasted == 0


def test_a_held_sentence_end_is_dropped_when_speech_resumes() -> None:
    s = scheduler(hold_after=1)
    first_sentence(s, resume_s=1.7)
    assert second_pause(s) == []
    assert finals(s.speech_resumed(resumed(4.2, number=1), 4.25)) == []  # alone: dropped
    assert s.stats().early_finals_wasted == 1


def test_a_long_pause_is_no_clause_gap() -> None:
    s = scheduler(hold_after=1)
    first_sentence(s, resume_s=2.0)  # 0.5 s of silence
    assert [f.text for f in second_pause(s)] == ["And then I slept."]


def test_off_a_clause_gap_changes_nothing() -> None:
    s = scheduler(hold_after=0)
    first_sentence(s, resume_s=1.7)
    assert [f.text for f in second_pause(s)] == ["And then I slept."]


def test_the_daemon_takes_it_from_the_configuration() -> None:
    from config.loader import load_config
    from pipeline.scheduling import SchedulerOptions

    config = load_config(None, cli_overrides={"asr.hold_after_clause_gaps": "2"}).config
    options = SchedulerOptions.from_config(config, "whisper", "tiny.en")
    assert options.commit is not None and options.commit.hold_after_clause_gaps == 2
