"""A word is over once the next has begun (``CommitOptions.confident_next_start_s``): the
confident commit judged by the start of the following word, not by the word's own end, which
Whisper stretches to the next word's start when it leaves out punctuation."""

from __future__ import annotations

import pytest

from pipeline.messages.transcripts import TranscriptFinal
from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions, confident_count, followed
from pipeline.words import Word
from tests.test_scheduler_fakes import RINGS, ongoing, options, result_words, started

# monologue_dev, a partial that heard up to 6.43 s without the comma: "rain" ends where "and"
# starts, 0.13 s before the newest audio (with the comma, "rain," ended at 6.22 s)
UNPUNCTUATED = [
    Word(5.50, 5.70, " and", 0.95),
    Word(5.70, 6.14, " summer", 0.95),
    Word(6.14, 6.30, " rain", 0.98),
    Word(6.30, 6.40, " and", 0.29),
    Word(6.40, 6.40, " it", 0.66),
]
HEARD_END_S = 6.43


def count(next_start_s: float, next_start_probability: float = 0.0, agreed: int = 0) -> int:
    return confident_count(
        UNPUNCTUATED, agreed, HEARD_END_S, None, None, 0.6, 0.2, 0.0, 0.0, 0.0,
        next_start_s, next_start_probability,
    )  # fmt: skip


def test_off_the_stretched_end_keeps_the_word_waiting() -> None:
    assert count(0.0) == 2  # "rain" ends 6.30 > 6.43 - 0.2 s: only "and summer"


def test_a_word_whose_next_word_began_is_committed() -> None:
    assert count(0.1) == 3  # "and" began 6.30 <= 6.43 - 0.1 s: "rain" is over
    assert count(0.15) == 2  # "and" began only 0.13 s before the newest audio
    assert count(0.02) == 3  # "it" began 0.03 s before, but "and" (0.29) is not confident


def test_the_next_word_may_have_to_be_stable_or_confident() -> None:
    assert count(0.1, next_start_probability=0.6) == 2  # "and" at 0.29: not sure of it
    assert count(0.1, next_start_probability=0.6, agreed=4) == 3  # "and" stable: sure


def test_followed_needs_a_next_word() -> None:
    assert not followed(UNPUNCTUATED, 4, 0, HEARD_END_S, 0.1, 0.0)  # the last word
    assert not followed(UNPUNCTUATED, 2, 0, HEARD_END_S, 0.0, 0.0)  # off
    assert followed(UNPUNCTUATED, 2, 0, HEARD_END_S, 0.1, 0.0)


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="confident_next_start_s"):
        CommitOptions(confident_next_start_s=-0.1)
    with pytest.raises(ValueError, match="confident_next_start_probability"):
        CommitOptions(confident_next_start_probability=1.5)
    assert CommitOptions().confident_next_start_s == 0  # off until measured


@pytest.mark.parametrize("next_start_s", [0.0, 0.1])
def test_the_scheduler_commits_the_word_before_a_begun_one(next_start_s: float) -> None:
    commit = CommitOptions(
        confident_commit=True,
        confident_probability=0.6,
        confident_margin_s=0.2,
        confident_next_start_s=next_start_s,
        confident_next_start_probability=0.0,
    )
    s = SegmentScheduler(options(commit=commit), rings=RINGS)
    s.speech_started(started(0, 4.0), 4.0)
    s.speech_ongoing(ongoing(0, 4.0, HEARD_END_S), HEARD_END_S)
    ((_, request),) = s.dispatch(["asr-1"], HEARD_END_S)
    assert request.is_partial
    offset_s = request.start_index / 16000
    said = tuple(w.shifted(-offset_s) for w in UNPUNCTUATED)
    out = s.on_reply("asr-1", result_words(request, said), HEARD_END_S + 0.3)
    committed = [m.text for m in out if isinstance(m, TranscriptFinal)]
    assert committed == (["and summer rain"] if next_start_s else ["and summer"])


def test_the_daemon_leaves_the_next_start_rule_off_and_the_key_turns_it_on() -> None:
    from config.loader import load_config
    from pipeline.scheduling import SchedulerOptions

    commit = SchedulerOptions.from_config(load_config(None).config, "whisper", "tiny.en").commit
    assert commit is not None and commit.confident_next_start_s == 0
    on = load_config(None, cli_overrides={"asr.confident_next_start_s": "0.1"}).config
    commit = SchedulerOptions.from_config(on, "whisper", "tiny.en").commit
    assert commit is not None and commit.confident_next_start_s == 0.1
    assert commit.confident_next_start_probability == 0.6
