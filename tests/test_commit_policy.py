"""Commit rules while speech goes on: margin, cut points, sentence ends, windows, seams, loops."""

from __future__ import annotations

import pytest

from pipeline.local_agreement import LocalAgreement, words_after
from pipeline.scheduling.commit_policy import (
    CommitOptions,
    committable,
    continues,
    cut_after,
    ends_sentence,
    partial_window,
    sliding_window_start,
    window_start_after_commit,
    without_repetition_loop,
)
from pipeline.words import Word


def words(text: str, start_s: float = 0.0, step_s: float = 0.4, gap_s: float = 0.1) -> list[Word]:
    """One Word per token of ``text``, each ``step_s - gap_s`` long, ``step_s`` apart."""
    return [
        Word(start_s + i * step_s, start_s + i * step_s + step_s - gap_s, " " + token, 0.9)
        for i, token in enumerate(text.split())
    ]


def test_committable_stops_at_the_margin() -> None:
    stable = words("the river runs down to the sea")  # ends at 0.3, 0.7, ..., 2.7
    assert committable(stable, 0, heard_end_s=2.0, margin_s=0.5) == 4  # ends <= 1.5
    assert committable(stable, 0, heard_end_s=10.0, margin_s=0.5) == 7
    assert committable(stable, 5, heard_end_s=1.0, margin_s=0.5) == 5  # never goes back
    assert committable([], 0, heard_end_s=5.0, margin_s=0.5) == 0
    pieces = [*words("measure the flow re"), Word(1.6, 1.9, "-hour", 0.9)]
    assert committable(pieces, 0, heard_end_s=10.0, margin_s=0.5) == 5
    assert committable(pieces, 1, heard_end_s=2.2, margin_s=0.5) == 3  # not up to "re"


@pytest.mark.parametrize(
    ("text", "joined"),
    [("-hour", True), (" -hour", True), ("'s", True), ("hour", True), (" hour", False),
     (",", False), (" ", False), (",000", True), (".5", True), (" ,000", False), (".", False)],
)  # fmt: skip
def test_continues(text: str, joined: bool) -> None:
    assert continues(Word(0.0, 0.1, text, 0.9)) is joined


def test_cut_lies_between_words_and_before_the_margin() -> None:
    first, second = words("river runs", start_s=1.0)  # 1.0-1.3, 1.4-1.7
    assert cut_after(first, second, limit_s=9.0, pad_s=0.1) == pytest.approx(1.35)
    assert cut_after(first, None, limit_s=9.0, pad_s=0.1) == pytest.approx(1.4)
    assert cut_after(first, None, limit_s=1.32, pad_s=0.1) == pytest.approx(1.32)
    overlapping = Word(1.2, 1.5, " runs", 0.9)  # distorted timestamps: starts before 1.3
    assert cut_after(first, overlapping, limit_s=9.0, pad_s=0.1) == pytest.approx(1.3)
    assert cut_after(first, None, limit_s=0.5, pad_s=0.1) == pytest.approx(1.3)  # not inside it


@pytest.mark.parametrize(
    ("text", "complete"),
    [
        ("It rained.", True),
        ("Did it rain?", True),
        ('He said "stop!"', True),
        ("the rain, ", False),
        ("Dr", False),
        ("", False),
        ("and then...", True),
    ],
)
def test_ends_sentence(text: str, complete: bool) -> None:
    assert ends_sentence(text) is complete


def test_partial_window_never_exceeds_one_window_nor_skips_audio() -> None:
    assert partial_window(16_000, 80_000, 480_000) == (16_000, 80_000)
    assert partial_window(16_000, 900_000, 480_000) == (16_000, 496_000)  # oldest first
    assert partial_window(50_000, 40_000, 480_000) == (40_000, 40_000)


def test_window_moves_up_after_a_sentence_or_too_much_context() -> None:
    (comma,) = words("river,")
    (period,) = words("sea.")
    assert window_start_after_commit(0, 64_000, comma, 160_000, 0) == 0  # keeps the context
    assert window_start_after_commit(0, 64_000, period, 160_000, 0) == 64_000
    assert window_start_after_commit(0, 64_000, period, 160_000, 16_000) == 48_000  # lead-in
    assert window_start_after_commit(0, 170_000, comma, 160_000, 16_000) == 154_000
    assert window_start_after_commit(90_000, 64_000, period, 160_000, 0) == 90_000  # never back


def test_sliding_window_keeps_the_context_from_a_word_boundary() -> None:
    committed = words("the river runs down to the sea.")  # 0.4 s apart, each 0.3 s long
    cut = 44_800  # 2.8 s, after "sea." (2.4-2.7 s)
    # "to" (1.6 s) is the first word within 1.2 s of the cut: 0.1 s before it, still after
    # "down" ended (1.5 s)
    assert sliding_window_start(committed, 0, cut, 1.2, 0.1) == 24_000
    assert sliding_window_start(committed, 0, cut, 1.2, 0.3) == 24_000  # never into "down"
    # a sentence end does not restart the window: it is the context a later word needs
    assert sliding_window_start(committed, 0, cut, 10.0, 0.1) == 0
    assert sliding_window_start(committed, 30_000, cut, 10.0, 0.1) == 30_000  # never back
    # no whole word begins within the context: the caller keeps its older rule
    assert sliding_window_start(committed, 0, cut, 0.2, 0.1) is None
    assert sliding_window_start([], 0, cut, 5.0, 0.1) is None


def test_repetition_loop_is_cut_to_one_occurrence() -> None:
    looped = words("so I think I think I think I think")
    assert [w.text.strip() for w in without_repetition_loop(looped)] == ["so", "I", "think"]
    clean = words("I think so")
    assert without_repetition_loop(clean) == clean


def test_words_after_the_committed_prefix_in_a_window_with_context() -> None:
    committed = words("a river begins high in the mountains")  # ends 2.7
    window = words("high in the mountains fed by snow", start_s=1.2)  # context from 1.2 s
    assert [w.text.strip() for w in words_after(committed, window)] == ["fed", "by", "snow"]
    revised = words("hi in the mountain fed by snow", start_s=1.2)  # the anchor revised
    assert [w.text.strip() for w in words_after(committed, revised)] == ["fed", "by", "snow"]


def test_agreement_seeded_with_committed_words_continues_after_them() -> None:
    agreement = LocalAgreement()
    agreement.seed(words("the river ends."))
    assert agreement.partial.stable == "the river ends."
    agreement.update(words("the river ends. A new", start_s=0.0))
    partial = agreement.update(words("the river ends. A new day", start_s=0.0))
    assert partial.stable == "the river ends. A new"


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="margin_s"):
        CommitOptions(margin_s=-1)
    with pytest.raises(ValueError, match="repeat_limit"):
        CommitOptions(repeat_limit=1)
