"""Commits that respect language: never inside a number, at a clause end when one is near."""

from __future__ import annotations

import pytest

from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import (
    CommitOptions,
    is_number,
    language_boundary,
    splits_number,
)
from pipeline.words import Word
from tests.test_scheduler_commits import finals, partial_round
from tests.test_scheduler_fakes import RINGS, options, spoken, started


def words(text: str) -> list[Word]:
    return list(spoken(text))


def ends_after(text: str, count: int, numbers: bool = True, reach: int = 0) -> str:
    """The words a commit of ``text``'s first ``count`` words keeps after the rule."""
    hypothesis = words(text)
    kept = language_boundary(hypothesis, 0, count, numbers=numbers, clause_reach_words=reach)
    return " ".join(w.text.strip() for w in hypothesis[:kept])


@pytest.mark.parametrize(
    "text",
    ["25", "1,", "10:30", "$40", "twenty", "twenty-three", "Hundred.", "99%", "1990."],
)
def test_digits_and_number_words_are_numbers(text: str) -> None:
    assert is_number(Word(0.0, 0.3, " " + text, 0.9))


@pytest.mark.parametrize("text", ["the", "someone", "twenty-ish", "point", "and", ","])
def test_other_words_are_not(text: str) -> None:
    assert not is_number(Word(0.0, 0.3, " " + text, 0.9))


@pytest.mark.parametrize(
    ("text", "count", "kept"),
    [
        ("the total is twenty three dollars", 4, "the total is"),  # twenty | three
        ("we sold 1, 000 tickets", 3, "we sold"),  # 1, | 000
        ("a hundred and five pens", 3, "a"),  # hundred and | five
        ("a hundred and five pens", 2, "a"),  # hundred | and five
        ("it is three point five metres", 4, "it is"),  # three point | five
        ("the bridge was built in 1890", 6, "the bridge was built in"),  # the number may go on
        ("the room number is 412 and the", 5, "the room number is 412"),  # "and" then no number
        ("the total is twenty three dollars", 5, "the total is twenty three"),  # whole
        ("it was built in 1890. Then we", 5, "it was built in 1890."),  # a sentence ends it
    ],
)
def test_a_commit_never_ends_inside_a_number(text: str, count: int, kept: str) -> None:
    assert ends_after(text, count) == kept


def test_numbers_off_leaves_the_boundary() -> None:
    assert (
        ends_after("the total is twenty three dollars", 4, numbers=False) == "the total is twenty"
    )
    assert splits_number(words("the total is twenty three dollars"), 4)


@pytest.mark.parametrize(
    ("text", "count", "kept"),
    [
        # a clause end two words back: cut there
        ("we met at noon, then walked to the park", 6, "we met at noon,"),
        # a clause end one word ahead: wait for it (no earlier clause end: nothing now)
        ("we met at the old station. Then we", 5, ""),
        # ahead, with an earlier clause end: commit up to that one
        ("yes, we met at the old station. Then", 6, "yes,"),
        # nothing within reach: mid-clause as the timing rules chose
        ("we met at the old station near the park", 4, "we met at the"),
        # already at a clause end
        ("we met at noon, then walked", 4, "we met at noon,"),
    ],
)
def test_a_commit_ends_at_a_clause_end_within_reach(text: str, count: int, kept: str) -> None:
    assert ends_after(text, count, reach=2) == kept


def test_without_waiting_only_a_clause_end_behind_moves_the_boundary() -> None:
    hypothesis = words("yes, we met at the old station. Then")
    kept = language_boundary(
        hypothesis, 0, 5, numbers=True, clause_reach_words=2, clause_wait=False
    )
    assert kept == 5  # "station." ahead is not waited for; "yes," is 4 words back
    kept = language_boundary(
        hypothesis, 0, 3, numbers=True, clause_reach_words=2, clause_wait=False
    )
    assert kept == 1  # "yes," 2 words back


def test_clause_reach_off_leaves_the_boundary() -> None:
    assert ends_after("we met at noon, then walked to the park", 6) == "we met at noon, then walked"


def test_reach_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="clause_reach_words"):
        CommitOptions(clause_reach_words=-1)


def scheduler(**commit) -> SegmentScheduler:
    return SegmentScheduler(options(commit=CommitOptions(**commit)), rings=RINGS)


@pytest.mark.parametrize("number_boundary", [False, True])
def test_the_scheduler_commits_no_half_number_while_speaking(number_boundary: bool) -> None:
    s = scheduler(number_boundary=number_boundary)
    s.speech_started(started(0, 0.0), 0.0)
    assert not finals(partial_round(s, 3.0, "the total comes to twenty", 3.0))
    # "... twenty" agreed and ends 1.9 s, 0.5 s before 4.0 s: committable by timing alone
    (part,) = finals(partial_round(s, 4.0, "the total comes to twenty three dollars", 4.0))
    if number_boundary:
        assert part.text == "the total comes to"
        heard = "the total comes to twenty three dollars and then the"  # window from 0 s
        (rest,) = finals(partial_round(s, 5.5, heard, 5.5))
        assert rest.text == "twenty three dollars"  # the number whole, in the next final
    else:
        assert part.text == "the total comes to twenty"


def test_a_stalled_commit_cuts_no_number_apart() -> None:
    s = scheduler(number_boundary=True)
    s.speech_started(started(0, 0.0), 0.0)
    assert not finals(partial_round(s, 3.0, "so then the river runs", 3.0))
    # no agreement, 8 s uncommitted: the words ending 2 s before 8 s would end at "twenty"
    heard = "and the river runs down to the wide sea and then far away for twenty five miles we go"
    (part,) = finals(partial_round(s, 8.0, heard, 8.0))
    assert part.text == "and the river runs down to the wide sea and then far away for"
    assert s.stats().stalled_commits == 1


def test_the_scheduler_waits_for_a_near_clause_end() -> None:
    s = scheduler(clause_reach_words=2)
    s.speech_started(started(0, 0.0), 0.0)
    assert not finals(partial_round(s, 3.0, "we walked along the river. Then", 3.0))
    # agreed up to "river." (ends 1.9 s); "Then we" heard as well
    (part,) = finals(partial_round(s, 4.0, "we walked along the river. Then we saw", 4.0))
    assert part.text == "we walked along the river."
