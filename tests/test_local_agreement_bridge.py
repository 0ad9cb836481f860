"""Local agreement that bridges one word the hypotheses say differently."""

from __future__ import annotations

import pytest

from pipeline.local_agreement import LocalAgreement
from tests.test_local_agreement import hypothesis

BRIDGED = "while dreaming seems to play a role in"


def stable_after(first: str, second: str, bridge_words: int, lookback: int = 1) -> str:
    agreement = LocalAgreement(lookback=lookback, bridge_words=bridge_words)
    agreement.update(hypothesis(first))
    return agreement.update(hypothesis(second)).stable


def test_one_differing_word_followed_by_agreement_is_bridged_with_the_newest_word() -> None:
    first = "while dreaming seem to play a role in"
    second = "while dreaming seems to play a role in memory"
    assert stable_after(first, second, 0) == "while dreaming"  # a prefix rule stops there
    assert stable_after(first, second, 3) == "while dreaming seems to play a role in"
    assert stable_after(first, second, 3, lookback=2) == "while dreaming seems to play a role in"


def test_a_similar_bridge_takes_only_forms_of_one_word() -> None:
    agreement = LocalAgreement(bridge_words=3, bridge_similar=True)
    agreement.update(hypothesis("while dreaming seem to play a role in"))
    assert (
        agreement.update(hypothesis("while dreaming seems to play a role in x")).stable == BRIDGED
    )
    agreement = LocalAgreement(bridge_words=3, bridge_similar=True)
    agreement.update(hypothesis("because the leaf rich soil behind"))
    assert (
        agreement.update(hypothesis("because the reef rich soil behind it")).stable == "because the"
    )


def test_no_bridge_without_enough_agreeing_words_after() -> None:
    assert stable_after("we met at the bank", "we met at a bank today", 2) == "we met at"
    # two differing words in a row are not bridged
    assert stable_after("we met at the old bank now", "we met by a old bank now", 2) == "we met"


def test_the_older_hypothesis_keeps_only_words_after_the_bridged_ones() -> None:
    agreement = LocalAgreement(bridge_words=2)
    agreement.update(hypothesis("so they seem to go"))
    agreement.update(hypothesis("so they seems to go home"))
    partial = agreement.update(hypothesis("so they seems to go home now"))
    assert partial.stable == "so they seems to go home"


def test_bridge_words_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="bridge_words"):
        LocalAgreement(bridge_words=-1)


def test_the_daemon_takes_the_bridge_from_the_configuration() -> None:
    from config.loader import load_config
    from pipeline.scheduling import SchedulerOptions

    overrides = {"asr.agreement_bridge_words": "3"}
    config = load_config(None, cli_overrides=overrides).config
    options = SchedulerOptions.from_config(config, "whisper", "tiny.en")
    assert options.commit is not None and options.commit.agreement_bridge_words == 3
    assert options.commit.agreement_bridge_similar  # words alike only


@pytest.mark.parametrize(("bridge_words", "committed"), [(0, "while dreaming"), (3, BRIDGED)])
def test_the_scheduler_commits_past_a_word_the_hypotheses_say_differently(
    bridge_words: int, committed: str
) -> None:
    from pipeline.scheduling import SegmentScheduler
    from pipeline.scheduling.commit_policy import CommitOptions
    from tests.test_scheduler_commits import finals, partial_round
    from tests.test_scheduler_fakes import RINGS, options, started

    commit = CommitOptions(agreement_bridge_words=bridge_words)
    s = SegmentScheduler(options(commit=commit), rings=RINGS)
    s.speech_started(started(0, 0.0), 0.0)
    assert not finals(partial_round(s, 4.0, "while dreaming seem to play a role in", 4.0))
    (part,) = finals(partial_round(s, 5.0, "while dreaming seems to play a role in memory", 5.0))
    assert part.text == committed
