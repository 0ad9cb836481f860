"""Fewer mid-speech commits of short pieces, and partials sooner in a long uncommitted stretch."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions
from tests.test_scheduler_commits import finals, only, partial_round, paused, resumed
from tests.test_scheduler_fakes import RINGS, ended, ongoing, options, result_words, spoken, started


def scheduler(**commit) -> SegmentScheduler:
    return SegmentScheduler(options(commit=CommitOptions(**commit)), rings=RINGS)


@pytest.mark.parametrize("first_commit_min_s", [0.0, 3.5])
def test_a_short_piece_is_not_committed_while_speaking(first_commit_min_s: float) -> None:
    s = scheduler(first_commit_min_s=first_commit_min_s)
    s.speech_started(started(0, 0.0), 0.0)
    assert not finals(partial_round(s, 2.0, "we met at the old", 2.0))
    # "we met at the old" agreed, ends 1.9 s, 0.5 s before 3.0 s: committable by timing alone
    out = finals(partial_round(s, 3.0, "we met at the old station and", 3.0))
    if not first_commit_min_s:
        assert [f.text for f in out] == ["we met at the old"]
        return
    assert not out  # 3.0 s of the piece heard, under 3.5 s
    (part,) = finals(partial_round(s, 4.0, "we met at the old station and then we", 4.0))
    assert part.text == "we met at the old station and"


@pytest.mark.parametrize(("first_commit_min_s", "commit_min_s"), [(2.5, 0.0), (0.0, 2.5)])
def test_only_the_first_commit_of_a_piece_needs_its_length(
    first_commit_min_s: float, commit_min_s: float
) -> None:
    s = scheduler(first_commit_min_s=first_commit_min_s, commit_min_s=commit_min_s)
    s.speech_started(started(0, 0.0), 0.0)
    partial_round(s, 2.0, "we met at the old", 2.0)
    (first,) = finals(partial_round(s, 3.0, "we met at the old station and", 3.0))
    assert first.text == "we met at the old" and first.end_s == pytest.approx(1.95)
    # 2.05 s heard after the cut: a later commit of the piece (first_commit_min_s) goes, one
    # under commit_min_s of uncommitted audio waits
    out = finals(partial_round(s, 4.0, "we met at the old station and then we", 4.0))
    if first_commit_min_s:
        assert [f.text for f in out] == ["station and"]
        return
    assert not out
    heard = "we met at the old station and then we walked on"
    (second,) = finals(partial_round(s, 5.0, heard, 5.0))  # 3.05 s after the cut
    assert second.text == "station and then we"


def test_a_commit_at_a_pause_starts_a_new_piece() -> None:
    s = scheduler(first_commit_min_s=3.5)
    s.speech_started(started(0, 0.0), 0.0)
    partial_round(s, 2.0, "yes,", 2.0)  # (the same words twice would stretch the cadence)
    assert not finals(partial_round(s, 3.0, "yes.", 3.0))  # 3.0 s of the piece, under 3.5 s
    (answer,) = finals(s.speech_paused(paused(1.0, 3.1), 3.1))  # a sentence, committed at once
    assert answer.text == "yes." and answer.end_s == pytest.approx(2.05)
    s.speech_resumed(resumed(3.2), 3.2)
    # the next piece starts at the pause's cut (2.05 s): windows from there
    partial_round(s, 4.2, "we met at the old", 4.2)
    # "we met at the old" agreed, ends 3.95 s, 0.5 s before 5.2 s; 3.15 s of the piece heard
    assert not finals(partial_round(s, 5.2, "we met at the old station", 5.2))
    (part,) = finals(partial_round(s, 6.2, "we met at the old station and then", 6.2))
    assert part.text == "we met at the old station"


def test_the_first_commit_of_a_piece_may_need_a_larger_margin() -> None:
    s = scheduler(first_commit_margin_s=1.4)
    s.speech_started(started(0, 0.0), 0.0)
    partial_round(s, 2.0, "we met at the old", 2.0)
    (part,) = finals(partial_round(s, 3.0, "we met at the old station and", 3.0))
    # agreed up to "old" (1.9 s); words ending by 3.0 - 1.4 s: up to "the" (1.5 s)
    assert part.text == "we met at the"


@pytest.mark.parametrize("long_uncommitted_s", [0.0, 2.0])
def test_partials_go_sooner_in_a_long_uncommitted_stretch(long_uncommitted_s: float) -> None:
    s = scheduler(long_uncommitted_s=long_uncommitted_s, long_interval_s=0.5, margin_s=3.0)
    s.speech_started(started(0, 0.0), 0.0)
    partial_round(s, 1.5, "we met", 1.5)  # 1.5 s uncommitted: the profile's interval
    s.speech_ongoing(ongoing(0, 0.0, 2.2), 2.2)
    assert not s.dispatch(["asr-1"], 2.2)
    partial_round(s, 2.6, "we met at the old", 2.6)  # 2.6 s heard, none committed (margin 3 s)
    s.speech_ongoing(ongoing(0, 0.0, 3.2), 3.2)
    sent = s.dispatch(["asr-1"], 3.2)  # 0.6 s after the last
    if long_uncommitted_s:
        assert only(sent).is_partial
    else:
        assert not sent


def test_options_are_checked() -> None:
    for name in ("first_commit_min_s", "commit_min_s", "first_commit_margin_s",
                 "long_uncommitted_s", "long_interval_s"):  # fmt: skip
        with pytest.raises(ValueError, match=name):
            CommitOptions(**{name: -1.0})


def said(s: SegmentScheduler, segment_id: int, text: str, probability: float = 0.9) -> str:
    """A 2 s segment from ``segment_id * 5`` s, its final answered with ``text``: the prompt
    its final request was given."""
    t = segment_id * 5.0
    s.speech_started(started(segment_id, t), t)
    s.speech_ended(ended(segment_id, t, t + 2.0), t + 2.0)
    request = only(s.dispatch(["asr-1"], t + 2.0))
    assert not request.is_partial
    words = tuple(replace(w, probability=probability) for w in spoken(text))
    (final,) = finals(s.on_reply("asr-1", result_words(request, words), t + 2.3))
    assert final.text == text
    return request.prompt


@pytest.mark.parametrize("recent_chars", [0, 400, 20])
def test_a_segment_is_prompted_with_the_streams_recent_finals(recent_chars: int) -> None:
    s = scheduler(prompt_recent_chars=recent_chars)
    assert said(s, 0, "Never.") == ""
    assert said(s, 1, "The river was high.") == "Never."
    prompt = said(s, 2, "Yes.")
    if recent_chars == 0:
        assert prompt == "The river was high."  # the last final alone
    elif recent_chars == 400:
        assert prompt == "Never. The river was high."
    else:
        assert prompt == "The river was high."  # the tail, cut at a word boundary
        assert said(s, 3, "Fine.") == "was high. Yes."


def test_an_unsure_final_is_left_out_of_the_prompt() -> None:
    s = scheduler(prompt_recent_chars=400, prompt_min_probability=0.5)
    said(s, 0, "Good morning.")
    assert said(s, 1, "Neemah.", probability=0.3) == "Good morning."
    assert said(s, 2, "The river was high.") == "Good morning."  # "Neemah." left out
    last_only = scheduler(prompt_min_probability=0.5)
    said(last_only, 0, "Good morning.")
    said(last_only, 1, "Neemah.", probability=0.3)
    assert said(last_only, 2, "The river was high.") == "Good morning."
    with pytest.raises(ValueError, match="prompt_recent_chars"):
        CommitOptions(prompt_recent_chars=-1)
    with pytest.raises(ValueError, match="prompt_min_probability"):
        CommitOptions(prompt_min_probability=1.5)


def test_without_prompts_the_recent_finals_give_none() -> None:
    s = SegmentScheduler(
        options(commit=CommitOptions(prompt_recent_chars=400), use_prompt=False), rings=RINGS
    )
    said(s, 0, "Good morning.")
    assert said(s, 1, "The river was high.") == ""
