"""Commits from one confident hypothesis (``CommitOptions.confident_commit``): the pure rule,
the agreement's view of the hypotheses, and the scheduler committing with it (fakes)."""

from __future__ import annotations

import pytest

from pipeline.local_agreement import LocalAgreement
from pipeline.messages.transcripts import TranscriptFinal, TranscriptPartial
from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions, awaits_agreement, confident_count
from pipeline.words import Word
from tests.test_scheduler_fakes import RINGS, ongoing, options, result_words, started, words


def count(rest: list[Word], heard_end_s: float, *, agreed: int = 0, previous=None,
          previous_heard_end_s: float | None = None, next_probability: float = 0.0) -> int:  # fmt: skip
    return confident_count(
        rest, agreed, heard_end_s, previous, previous_heard_end_s, 0.8, 0.3, next_probability
    )


def test_confident_words_before_the_margin_are_committed_never_the_last() -> None:
    rest = words("the river runs down to")  # ends 0.3, 0.7, 1.1, 1.5, 1.9
    assert count(rest, heard_end_s=1.35) == 2  # "runs" ends 1.1 > 1.35 - 0.3
    assert count(rest, heard_end_s=1.85) == 4  # "down" ends 1.5 <= 1.55
    assert count(rest, heard_end_s=10.0) == 4  # "to" is the last word: never committed
    assert count(rest[:1], heard_end_s=10.0) == 0
    assert count([], heard_end_s=10.0) == 0


def test_an_unsure_word_stops_the_commit_unless_two_hypotheses_agreed_on_it() -> None:
    rest = words("the river@0.3 runs down to")
    assert count(rest, heard_end_s=10.0) == 1  # only "the": "river" is unsure
    assert count(rest, heard_end_s=10.0, agreed=2) == 4  # "river" is stable
    assert count(words("the river runs@0.5 down"), heard_end_s=10.0, agreed=2) == 2


def test_the_word_after_the_last_committed_one_may_have_to_be_confident() -> None:
    rest = words("the river runs down@0.3")
    assert count(rest, heard_end_s=10.0) == 3
    assert count(rest, heard_end_s=10.0, next_probability=0.5) == 2  # "down" unsure: not "runs"


def test_a_previous_hypothesis_that_heard_other_words_blocks_all_but_the_stable_ones() -> None:
    rest = words("a river runs down to the sea")  # the first 2 stable
    # the previous one heard up to 1.5 s and had "ruts" at 0.8-1.1 s, before its own margin
    previous = words("ruts", start_s=0.8)
    assert count(rest, 3.0, agreed=2, previous=previous, previous_heard_end_s=1.5) == 2
    # its last word, within its margin (its cut may have changed it), is no contradiction
    assert count(rest, 3.0, agreed=2, previous=previous, previous_heard_end_s=1.3) == 6
    # nothing heard after the stable words, or no previous hypothesis at all
    assert count(rest, 3.0, agreed=2, previous=[], previous_heard_end_s=1.5) == 6
    assert count(rest, 3.0, agreed=2) == 6


def test_settled_words_are_committed_over_a_disagreeing_previous_hypothesis() -> None:
    """Age-aware: a word heard ``settled_s`` before the newest audio needs only the lower
    probability, and the previous hypothesis' other words there no longer block it."""
    rest = words("a river@0.4 runs down to the sea")  # ends 0.3, 0.7, 1.1, 1.5, 1.9, 2.3, 2.7
    previous = words("ruts", start_s=0.8)

    def settled(heard_end_s: float, settled_s: float, probability: float = 0.3, **kw) -> int:
        return confident_count(rest, 0, heard_end_s, kw.get("previous"),
                               kw.get("previous_heard_end_s"), 0.8, 0.3, 0.0, settled_s,
                               probability)  # fmt: skip

    assert settled(3.0, 0.0) == 1  # off: "river" is unsure
    assert settled(3.0, 1.5) == 6  # "river" ends 2.3 s before 3.0: taken (never the last word)
    assert settled(3.0, 2.5) == 1  # not heard long enough ago
    assert settled(3.0, 1.5, probability=0.5) == 1  # under even the lower probability
    # the previous hypothesis said "ruts" there: only the words heard 1.5 s before the end
    assert settled(3.0, 0.0, previous=previous, previous_heard_end_s=1.5) == 0
    assert settled(3.1, 1.5, previous=previous, previous_heard_end_s=1.5) == 4  # up to "down"
    assert settled(3.5, 1.5, previous=previous, previous_heard_end_s=1.5) == 5  # and "to"


def test_no_cut_before_the_piece_that_continues_a_word() -> None:
    rest = [*words("the flow re"), Word(1.2, 1.4, "-hour", 0.95), *words("so", start_s=1.6)]
    assert count(rest, heard_end_s=1.5) == 2  # "re" ends by the margin; "-hour" continues it


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="confident_probability"):
        CommitOptions(confident_probability=1.5)
    with pytest.raises(ValueError, match="confident_next_probability"):
        CommitOptions(confident_next_probability=-0.1)
    with pytest.raises(ValueError, match="confident_margin_s"):
        CommitOptions(confident_margin_s=-0.1)
    with pytest.raises(ValueError, match="settled_s"):
        CommitOptions(settled_s=-1.0)
    with pytest.raises(ValueError, match="settled_probability"):
        CommitOptions(settled_probability=2.0)
    with pytest.raises(ValueError, match="agreement_lookback"):
        CommitOptions(agreement_lookback=0)


def test_agreement_shows_the_hypotheses_and_accepts_words_without_agreement() -> None:
    agreement = LocalAgreement()
    agreement.update(words("a river runs"))
    assert agreement.previous_tail is None
    assert [w.text for w in agreement.newest_tail] == [" a", " river", " runs"]
    partial = agreement.update(words("a river walks down to"))
    assert partial.stable == "a river"
    assert [w.text for w in agreement.previous_tail] == [" runs"]
    assert [w.text for w in agreement.newest_tail] == [" walks", " down", " to"]

    partial = agreement.accept(2)  # "walks down" made final on confidence
    assert partial.stable == "a river walks down" and partial.unstable == "to"
    assert agreement.previous_tail == ()  # its "runs" lay before the accepted words' end
    partial = agreement.update(words("a river walks down to the sea"))
    assert partial.stable == "a river walks down to" and partial.unstable == "the sea"
    partial = agreement.update(words("a river walks down to the sea and"))
    assert partial.stable == "a river walks down to the sea"  # agreement goes on after them
    with pytest.raises(ValueError, match="count"):
        agreement.accept(5)

    assert not agreement.newest_looped
    agreement.update(words("I think I think I think I think"))
    assert agreement.newest_looped


def confident_scheduler(**commit) -> SegmentScheduler:
    options_ = CommitOptions(
        confident_commit=True, confident_probability=0.8, confident_margin_s=0.3, **commit
    )
    return SegmentScheduler(options(commit=options_), rings=RINGS)


def round_with(s: SegmentScheduler, audio_s: float, said: list[Word], now_s: float) -> list:
    """Speech reaches ``audio_s``; the partial sent now is answered with ``said``."""
    s.speech_ongoing(ongoing(0, 0.0, audio_s), now_s)
    ((_, request),) = s.dispatch(["asr-1"], now_s)
    assert request.is_partial and request.start_index == 0
    return s.on_reply("asr-1", result_words(request, tuple(said)), now_s + 0.3)


def finals(messages: list) -> list[str]:
    return [m.text for m in messages if isinstance(m, TranscriptFinal)]


@pytest.mark.parametrize("on", [True, False])
def test_scheduler_commits_one_confident_hypothesis_and_agrees_on_from_there(on: bool) -> None:
    commit = CommitOptions(confident_commit=on, confident_probability=0.8, confident_margin_s=0.3)
    s = SegmentScheduler(options(commit=commit), rings=RINGS)
    s.speech_started(started(0, 0.0), 0.0)
    # the first hypothesis heard 1.2 s: "a river", its last word cut at 1.0 s; "a" is
    # confident, ends 0.3 s before the newest audio and a word follows it
    first = [Word(0.0, 0.3, " a", 0.95), Word(0.4, 1.0, " river", 0.5)]
    assert finals(round_with(s, 1.2, first, 1.2)) == (["a"] if on else [])
    # the next heard 2.2 s and says "rover": the previous one's "river" ended within its own
    # margin (1.0 > 1.2 - 0.3 s), so it contradicts nothing, and the confident words that end
    # 0.3 s before 2.2 s with a word after them are final: "rover runs", not "down" (unsure)
    out = round_with(s, 2.2, words("a rover runs down@0.4 the@0.9"), 2.2)
    if not on:
        assert finals(out) == ["a"]  # agreed, 0.5 s before the newest audio
        assert s.stats().confident_commits == 0
        return
    assert finals(out) == ["rover runs"] and s.stats().confident_commits == 2
    (partial,) = [m for m in out if isinstance(m, TranscriptPartial)]
    assert (partial.stable, partial.unstable) == ("", "down the")
    # the previous hypothesis said "down the" (the 1.6-1.9 s word ended before its margin),
    # this one "down to the": "down" agreed, "to" contradicted, so only "down" is final
    out = round_with(s, 3.2, words("a rover runs down to the sea"), 3.2)
    assert finals(out) == ["down"] and s.stats().confident_commits == 2
    out = round_with(s, 4.2, words("a rover runs down to the sea and@0.5 on"), 4.2)
    assert finals(out) == ["to the sea"]  # agreed; "and" unsure
    assert s.stats().commits == 4


def test_words_one_agreement_short_bring_the_next_partial_sooner() -> None:
    assert awaits_agreement(words("the river runs"), heard_end_s=1.5, margin_s=0.5)
    assert not awaits_agreement(words("the river runs"), heard_end_s=0.7, margin_s=0.5)
    assert not awaits_agreement(words("the"), heard_end_s=5.0, margin_s=0.5)  # its last word

    commit = CommitOptions(agreement_interval_s=0.5)
    s = SegmentScheduler(options(commit=commit), rings=RINGS)
    s.speech_started(started(0, 0.0), 0.0)
    round_with(s, 1.2, words("a river"), 1.2)  # "a" ends 0.3 <= 1.2 - 0.5: one agreement short
    s.speech_ongoing(ongoing(0, 0.0, 1.6), 1.6)
    assert not s.dispatch(["asr-1"], 1.6)
    s.speech_ongoing(ongoing(0, 0.0, 1.7), 1.7)
    ((_, request),) = s.dispatch(["asr-1"], 1.7)  # 0.5 s after the last, not 1 s
    assert request.is_partial
    out = s.on_reply("asr-1", result_words(request, tuple(words("a river runs"))), 1.9)
    assert finals(out) == ["a river"]
    s.speech_ongoing(ongoing(0, 0.0, 2.3), 2.3)  # "runs" (0.8-1.1 s) short of the margin
    assert not s.dispatch(["asr-1"], 2.3)
    s.speech_ongoing(ongoing(0, 0.0, 2.7), 2.7)
    assert s.dispatch(["asr-1"], 2.7)  # the profile's interval after the last


def test_the_daemon_commits_confident_words() -> None:
    from config.loader import load_config
    from pipeline.scheduling import SchedulerOptions

    config = load_config(None).config
    commit = SchedulerOptions.from_config(config, "whisper", "tiny.en").commit
    assert commit is not None and commit.confident_commit
    assert not CommitOptions().confident_commit  # direct callers keep the plain rule
    config = load_config(None, cli_overrides={"asr.confident_commit": "false"}).config
    commit = SchedulerOptions.from_config(config, "whisper", "tiny.en").commit
    assert commit is not None and not commit.confident_commit
