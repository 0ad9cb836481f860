"""A sentence's last words in continuous speech: the partial timed by a sentence end
(``CommitOptions.sentence_end_delay_s``) and agreement on where a sentence ends
(``CommitOptions.boundary_tolerance_s``, ``commit_policy.sentence_boundary_count``). The pure
rule, and the scheduler with fake answers. The daemon times the partial (on), not the
boundary rule (off: the module doc of ``commit_policy`` has the figures)."""

from __future__ import annotations

from pipeline.messages.transcripts import TranscriptFinal
from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions, sentence_boundary_count
from pipeline.words import Word
from tests.test_scheduler_fakes import RINGS, ongoing, options, result_words, started, words


def boundary(rest: list[Word], previous: list[Word] | None, heard_end_s: float = 10.0) -> int:
    return sentence_boundary_count(rest, 0, heard_end_s, previous, 9.0, 0.2, 0.3, 4)


def test_two_hypotheses_ending_a_sentence_at_one_place_commit_the_newest_up_to_it() -> None:
    newest = words("the morning witching off. During the")  # "off." ends 1.5 s
    assert boundary(newest, words("the mortgage is off. During")) == 4
    assert boundary(newest, words("the mortgage is off.")) == 0  # its end: the window's end
    assert boundary(newest, words("the mortgage is off. During", start_s=0.4)) == 0  # 0.4 s on
    assert boundary(newest, words("the mortgage is off but")) == 0  # no sentence end there
    assert boundary(newest, None) == 0
    assert boundary(newest, words("the mortgage is off. During"), heard_end_s=1.6) == 0  # margin
    assert boundary(words("the morning witching off."), words("the mortgage is off. During")) == 0
    many = words("one two three four five. Six", start_s=-0.4)  # 5 unagreed words: too many
    assert boundary(many, words("the mortgage is off. During")) == 0
    assert sentence_boundary_count(many, 1, 10.0, words("a b c off. D"), 9.0, 0.2, 0.3, 4) == 5


def scheduler(**commit) -> SegmentScheduler:
    options_ = CommitOptions(
        confident_commit=True, confident_probability=0.8, confident_margin_s=0.2, **commit
    )
    return SegmentScheduler(options(commit=options_), rings=RINGS)


def answer(s: SegmentScheduler, said: list[Word], now_s: float) -> list:
    """The partial dispatched now is answered at once with ``said``."""
    ((_, request),) = s.dispatch(["asr-1"], now_s)
    assert request.is_partial and request.start_index == 0
    return s.on_reply("asr-1", result_words(request, tuple(said)), now_s)


def finals(messages: list) -> list[str]:
    return [m.text for m in messages if isinstance(m, TranscriptFinal)]


def test_a_sentence_end_heard_unsure_brings_the_next_partial_at_once() -> None:
    for delay_s in (0.0, 0.5):
        s = scheduler(sentence_end_delay_s=delay_s)
        s.speech_started(started(0, 0.0), 0.0)
        s.speech_ongoing(ongoing(0, 0.0, 2.0), 2.0)
        # "ran." ends 1.1 s, more than 0.5 s before the newest audio; nothing is sure enough
        said = words("the@0.5 river@0.5 ran.@0.5 Then@0.5 it@0.5")
        assert not finals(answer(s, said, 2.0))
        s.speech_ongoing(ongoing(0, 0.0, 2.25), 2.25)
        if not delay_s:  # off: the profile's interval after the last partial
            assert not s.dispatch(["asr-1"], 2.25)
            continue
        out = answer(s, words("the@0.5 river@0.5 ran.@0.5 Then@0.5 it@0.5 went@0.5"), 2.25)
        assert finals(out) == ["the river ran. Then it"]  # agreed with the one before
        # one such partial per sentence end: the next goes a partial interval later
        s.speech_ongoing(ongoing(0, 0.0, 2.5), 2.5)
        assert not s.dispatch(["asr-1"], 2.5)


def test_a_sentence_end_yet_to_be_heard_past_the_delay_waits_for_it() -> None:
    s = scheduler(sentence_end_delay_s=0.5)
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 1.6), 1.6)
    # "ran." ends 1.1 s: heard 0.5 s past at 1.6 s of audio; its hypothesis' last word, not
    # a sentence end (Whisper ends every window with one)
    assert not finals(answer(s, words("the@0.5 river@0.5 ran.@0.5 Then.@0.5"), 1.6))
    s.speech_ongoing(ongoing(0, 0.0, 1.85), 1.85)  # "ran." is followed: its 0.5 s are past
    assert s.dispatch(["asr-1"], 1.85)


def test_the_newest_hypothesis_commits_a_sentence_both_end_at_one_place() -> None:
    for tolerance_s in (0.0, 0.3):
        s = scheduler(boundary_tolerance_s=tolerance_s)
        s.speech_started(started(0, 0.0), 0.0)
        s.speech_ongoing(ongoing(0, 0.0, 2.4), 2.4)
        said = words("the mortgage@0.3 which@0.3 is@0.3 off.@0.5 During@0.5")
        assert finals(answer(s, said, 2.4)) == ["the"]  # sure, a word after it
        s.speech_ongoing(ongoing(0, 0.0, 3.4), 3.4)
        said = words("the morning@0.3 is@0.3 witching@0.3 off.@0.5 During@0.5 the@0.5 night@0.5")
        out = answer(s, said, 3.4)
        # the two said other words ("mortgage which is" / "morning is witching"), but both
        # end the sentence at 1.9 s: with the rule the newest one's words are final
        assert finals(out) == (["morning is witching off."] if tolerance_s else [])


def test_the_daemon_times_a_partial_by_a_sentence_end_and_leaves_the_boundary_rule_off() -> None:
    from config.loader import load_config
    from pipeline.scheduling import SchedulerOptions

    commit = SchedulerOptions.from_config(load_config(None).config, "whisper", "tiny.en").commit
    assert commit is not None
    assert (commit.sentence_end_delay_s, commit.boundary_tolerance_s) == (0.5, 0.0)
    plain = CommitOptions()  # direct callers keep the plain rules
    assert (plain.sentence_end_delay_s, plain.boundary_tolerance_s) == (0.0, 0.0)
    # the configuration key turns it off (0) or moves it
    for value in (0.0, 0.8):
        config = load_config(None, cli_overrides={"asr.sentence_end_delay_s": str(value)}).config
        commit = SchedulerOptions.from_config(config, "whisper", "tiny.en").commit
        assert commit is not None and commit.sentence_end_delay_s == value
