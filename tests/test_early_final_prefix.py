"""An early final forces the committed words its window hears as its decoder prefix, as
partials do (``CommitOptions.prefix_committed``), so it decodes only the words after them
(fakes: the scheduler's requests and how their answers are committed)."""

from __future__ import annotations

from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions
from tests.test_scheduler_commits import finals, only, partial_round, paused
from tests.test_scheduler_fakes import RINGS, SR, options, result, started


def spoken_until_a_pause(prefix_committed: bool = True):
    """ "a river runs down to the" committed while speaking, then a pause at 4.5 s."""
    commit = CommitOptions(margin_s=0.5, prefix_committed=prefix_committed)
    s = SegmentScheduler(options(commit=commit), rings=RINGS)
    s.speech_started(started(0, 0.0), 0.0)
    partial_round(s, 3.0, "a river runs down to the", 3.0)
    (part,) = finals(partial_round(s, 4.0, "a river runs down to the sea and", 4.0))
    assert part.text == "a river runs down to the"
    s.speech_paused(paused(4.5, 4.7), 4.7)
    early = only(s.dispatch(["asr-1"], 4.7))
    assert early.early_final and not early.is_partial
    return s, early


def test_the_early_final_forces_the_committed_words_its_window_hears():
    s, early = spoken_until_a_pause()
    # no sentence end yet: the window still starts at the segment, with the committed words
    assert early.start_index == 0 and early.end_index == round(4.6 * SR)
    assert early.prompt == "" and early.prefix == "a river runs down to the"
    out = s.on_reply("asr-1", result(early, f"{early.prefix} sea and lake."), 5.0)
    (rest,) = finals(out)
    assert rest.text == "sea and lake."  # the forced words are not committed twice
    assert s.stats().early_finals_used == 1


def test_without_prefix_committed_the_early_final_decodes_them_again():
    s, early = spoken_until_a_pause(prefix_committed=False)
    assert early.start_index == 0 and early.prefix == ""
    (rest,) = finals(s.on_reply("asr-1", result(early, "a river runs down to the sea."), 5.0))
    assert rest.text == "sea."
