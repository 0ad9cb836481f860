"""Local agreement judged between hypotheses a minimum of audio apart (``min_gap_s``)."""

from __future__ import annotations

import pytest

from pipeline.local_agreement import LocalAgreement
from tests.test_local_agreement import hypothesis


def test_hypotheses_closer_than_the_gap_do_not_agree() -> None:
    agreement = LocalAgreement(lookback=2, min_gap_s=0.9)
    agreement.update(hypothesis("the first public"), heard_end_s=2.0)
    # half a second later: the same words, but too little new audio to judge them
    assert agreement.update(hypothesis("the first public line"), heard_end_s=2.5).stable == ""
    # a second after the first: agreement with it, not with the one in between
    partial = agreement.update(hypothesis("the first public libraries were"), heard_end_s=3.0)
    assert partial.stable == "the first public"


@pytest.mark.parametrize(
    ("older", "expected"),
    [
        # both older ones lie a gap back; the one at 1.0 s shares the longer prefix
        ((("over time they grew", 1.0), ("over time we grew into", 1.5)), "over time they grew"),
        # the one at 1.8 s shares more words but heard only 0.7 s less
        ((("over time we", 1.0), ("over time they grew into", 1.8)), "over time"),
    ],
    ids=["any-far-enough-back", "only-a-gap-back"],
)
def test_the_newest_agrees_with_the_best_hypothesis_a_gap_back(
    older: tuple[tuple[str, float], ...], expected: str
) -> None:
    agreement = LocalAgreement(lookback=2, min_gap_s=0.9)
    for text, heard_end_s in older:
        agreement.update(hypothesis(text), heard_end_s=heard_end_s)
    partial = agreement.update(hypothesis("over time they grew into large"), heard_end_s=2.5)
    assert partial.stable == expected


def test_without_a_gap_consecutive_hypotheses_agree_as_before() -> None:
    agreement = LocalAgreement(lookback=2)
    agreement.update(hypothesis("the first public"), heard_end_s=2.0)
    assert agreement.update(hypothesis("the first public line"), heard_end_s=2.5).stable == (
        "the first public"
    )


def test_the_gap_needs_the_heard_end_and_agreement_of_two() -> None:
    with pytest.raises(ValueError, match="heard_end_s"):
        LocalAgreement(min_gap_s=1.0).update(hypothesis("yes"))
    with pytest.raises(ValueError, match="min_gap_s"):
        LocalAgreement(min_gap_s=-1.0)
    with pytest.raises(ValueError, match="min_gap_s"):
        LocalAgreement(agreement_count=3, min_gap_s=1.0)
