"""Requests carry a draft: the words the segment's newest hypothesis said after the committed
ones (``TranscribeRequest.draft``, ``CommitOptions.drafts``; scheduler with fake answers)."""

from __future__ import annotations

from pipeline.messages.transcripts import TranscriptFinal
from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions
from tests.test_scheduler_commits import only, partial_round
from tests.test_scheduler_fakes import RINGS, ended, ongoing, options, result, started


def scheduler(drafts: bool) -> SegmentScheduler:
    return SegmentScheduler(options(commit=CommitOptions(drafts=drafts)), rings=RINGS)


def test_partials_and_the_final_carry_the_words_after_the_committed_ones() -> None:
    s = scheduler(drafts=True)
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 3.0), 3.0)
    first = only(s.dispatch(["asr-1"], 3.0))
    assert first.is_partial and first.draft == ""  # no hypothesis yet
    s.on_reply("asr-1", result(first, "a river runs down to the"), 3.3)

    # nothing committed yet: the whole newest hypothesis is the draft
    s.speech_ongoing(ongoing(0, 0.0, 4.0), 4.0)
    second = only(s.dispatch(["asr-1"], 4.0))
    assert second.draft == "a river runs down to the"
    out = s.on_reply("asr-1", result(second, "a river runs down to the sea and"), 4.3)
    (part,) = [m for m in out if isinstance(m, TranscriptFinal)]
    assert part.text == "a river runs down to the"

    # committed words are the next partial's prefix, the rest of the newest hypothesis its draft
    s.speech_ongoing(ongoing(0, 0.0, 5.5), 5.5)
    third = only(s.dispatch(["asr-1"], 5.5))
    assert third.prefix == "a river runs down to the" and third.draft == "sea and"
    out = s.on_reply("asr-1", result(third, "a river runs down to the sea and it"), 5.8)
    assert [m.text for m in out if isinstance(m, TranscriptFinal)] == ["sea and"]

    # the rest: its lead-in's committed words forced, the uncommitted "it" drafted
    s.speech_ended(ended(0, 0.0, 6.0), 6.0)
    final = only(s.dispatch(["asr-1"], 6.0))
    assert not final.is_partial
    assert final.prefix.endswith("to the sea and") and final.draft == "it"


def test_no_draft_when_drafts_are_off() -> None:
    s = scheduler(drafts=False)
    s.speech_started(started(0, 0.0), 0.0)
    partial_round(s, 3.0, "a river runs down to the", 3.0)
    s.speech_ongoing(ongoing(0, 0.0, 4.0), 4.0)
    assert only(s.dispatch(["asr-1"], 4.0)).draft == ""
