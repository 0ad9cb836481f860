"""An early final whose text ends mid-sentence, and speech resumed after its pause: committed at
its cut while another stream is in speech (early_finals.COMMIT_RESUMED_EARLY), not dropped. The
real scheduler with real speech messages; alone, or with ``commit_resumed_early`` off, it is
dropped (wasted) as before."""

from __future__ import annotations

import pytest

from pipeline.messages.transcripts import TranscriptFinal
from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions
from pipeline.scheduling.commits import CommittedSegments
from tests.test_scheduler_commits import early_final_at_pause, finals, only, resumed
from tests.test_scheduler_fakes import RINGS, SR, ended, ongoing, options, result, started


def committing(commit_resumed: bool = True, other_speaking: bool = True) -> SegmentScheduler:
    """A scheduler whose "mic" stream starts a segment at 0 s (and "room" one, in speech
    throughout, with ``other_speaking``)."""
    commit = CommitOptions(margin_s=0.5, context_lead_in_s=2.0)
    work = CommittedSegments(commit)
    work.commit_resumed_early = commit_resumed
    s = SegmentScheduler(options(commit=commit), rings=RINGS, work=(work,))
    s.speech_started(started(0, 0.0), 0.0)
    if other_speaking:
        s.speech_started(started(0, 0.0, "room"), 0.0)
    return s


def segment_finals(s: SegmentScheduler, now_s: float) -> list[TranscriptFinal]:
    """End the segment at 3.5 s and answer its rest's final work with "back home"."""
    s.speech_ended(ended(0, 0.0, 3.5), now_s)
    request = only(s.dispatch(["asr-2"], now_s))
    assert not request.is_partial
    return finals(s.on_reply("asr-2", result(request, "back home"), now_s + 0.2))


@pytest.mark.parametrize("commit_resumed", [True, False])
def test_an_early_final_in_flight_at_a_resume_is_committed_at_its_cut(
    commit_resumed: bool,
) -> None:
    s = committing(commit_resumed)
    early = early_final_at_pause(s)
    assert early.early_final and early.end_index == round(1.6 * SR)
    s.speech_resumed(resumed(1.8), 1.8)
    out = finals(s.on_reply("asr-1", result(early, "so I went"), 2.0))
    if not commit_resumed:
        assert out == [] and s.stats().early_finals_wasted == 1
        (last,) = segment_finals(s, 3.5)
        assert last.start_s == 0.0  # the whole segment is decoded again
        return
    (part,) = out
    assert part.text == "so I went" and part.end_s == pytest.approx(1.6)
    assert s.stats().early_finals_used == 1 and s.stats().early_finals_wasted == 0
    s.speech_ongoing(ongoing(0, 0.0, 3.0), 3.0)
    partial = only(s.dispatch(["asr-1"], 3.0))  # partials go on, over the audio after the cut
    assert partial.is_partial and partial.start_index == round(1.6 * SR)
    s.on_reply("asr-1", result(partial, "back"), 3.1)
    (last,) = segment_finals(s, 3.5)
    assert last.start_s == pytest.approx(1.6) and last.seq == part.seq + 1


@pytest.mark.parametrize("commit_resumed", [True, False])
def test_an_early_final_held_when_speech_resumes_is_committed_then(commit_resumed: bool) -> None:
    s = committing(commit_resumed)
    early = early_final_at_pause(s)
    assert finals(s.on_reply("asr-1", result(early, "so I went"), 1.9)) == []  # held
    out = finals(s.speech_resumed(resumed(2.0), 2.0))
    if not commit_resumed:
        assert out == [] and s.stats().early_finals_wasted == 1
        return
    (part,) = out
    assert part.text == "so I went" and part.end_s == pytest.approx(1.6)
    (last,) = segment_finals(s, 3.5)
    assert last.start_s == pytest.approx(1.6)


def test_alone_an_early_final_ending_mid_sentence_is_dropped_at_a_resume() -> None:
    """One stream in speech: its partials are never held back, and the partials over the whole
    sentence commit it sooner than a cut at the pause would (the module doc's figures)."""
    s = committing(other_speaking=False)
    early = early_final_at_pause(s)
    s.speech_resumed(resumed(1.8), 1.8)
    assert finals(s.on_reply("asr-1", result(early, "so I went"), 2.0)) == []
    assert s.stats().early_finals_wasted == 1


def test_an_early_final_that_heard_nothing_is_still_dropped_at_a_resume() -> None:
    s = committing()
    early = early_final_at_pause(s)
    s.speech_resumed(resumed(1.8), 1.8)
    assert finals(s.on_reply("asr-1", result(early, ""), 2.0)) == []
    assert s.stats().early_finals_wasted == 1
