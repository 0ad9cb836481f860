"""Mid-speech commits held before a word the newest hypothesis is unsure of
(``CommitOptions.unsure_hold_probability``, ``unsure_hold_s``; off by default)."""

from __future__ import annotations

import pytest

from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions
from tests.test_scheduler_commits import finals, only
from tests.test_scheduler_fakes import RINGS, ongoing, options, result_words, started, words


def answered(s: SegmentScheduler, audio_s: float, text: str) -> list:
    """Speech reaches ``audio_s``; the partial sent then is answered with ``text`` ("word@p"
    sets a word's probability), one word every 0.4 s from 0."""
    s.speech_ongoing(ongoing(0, 0.0, audio_s), audio_s)
    request = only(s.dispatch(["asr-1"], audio_s))
    assert request.is_partial
    return s.on_reply("asr-1", result_words(request, tuple(words(text))), audio_s + 0.3)


@pytest.mark.parametrize(
    ("probability", "hold_s", "committed"),
    [
        (0.0, 0.0, "a river runs down to the"),  # off
        (0.6, 0.0, "a river"),  # held at "runs" however old
        (0.6, 1.0, "a river runs down to the"),  # "runs" (ends 1.1 s) is 2.9 s old
        (0.6, 3.0, "a river"),  # ... under 3 s
        (0.4, 0.0, "a river runs down to the"),  # 0.5 is not under 0.4
    ],
)
def test_a_commit_stops_before_an_unsure_word(
    probability: float, hold_s: float, committed: str
) -> None:
    commit = CommitOptions(unsure_hold_probability=probability, unsure_hold_s=hold_s)
    s = SegmentScheduler(options(commit=commit), rings=RINGS)
    s.speech_started(started(0, 0.0), 0.0)
    assert not finals(answered(s, 3.0, "a river runs@0.5 down to the"))
    # "a ... the" agreed, all end by 4.0 - 0.5 s
    (part,) = finals(answered(s, 4.0, "a river runs@0.5 down to the sea and"))
    assert part.text == committed


def test_the_options_are_checked() -> None:
    with pytest.raises(ValueError, match="unsure_hold_probability"):
        CommitOptions(unsure_hold_probability=1.5)
    with pytest.raises(ValueError, match="unsure_hold_s"):
        CommitOptions(unsure_hold_s=-1.0)
