"""Commits while speaking, partials of the uncommitted audio, early finals at pauses (fakes)."""

from __future__ import annotations

import pytest

from pipeline.messages.speech import SpeechPaused, SpeechResumed
from pipeline.messages.transcripts import TranscriptFinal, TranscriptPartial
from pipeline.messages.work import TranscribeRequest
from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions
from pipeline.scheduling.commits import CommittedSegments
from tests.test_scheduler_fakes import (
    RINGS,
    SR,
    ended,
    ongoing,
    options,
    result,
    started,
)


def committing(
    margin_s: float = 0.5, context_lead_in_s: float = 2.0, **overrides
) -> SegmentScheduler:
    commit = CommitOptions(margin_s=margin_s, context_lead_in_s=context_lead_in_s)
    return SegmentScheduler(options(commit=commit, **overrides), rings=RINGS)


def only(assignments: list) -> TranscribeRequest:
    assert len(assignments) == 1, assignments
    return assignments[0][1]


def finals(messages: list) -> list[TranscriptFinal]:
    return [m for m in messages if isinstance(m, TranscriptFinal)]


def paused(pause_s: float, decided_s: float, number: int = 0) -> SpeechPaused:
    return SpeechPaused("mic", 0, 0, round(pause_s * SR), round(decided_s * SR), number)


def resumed(at_s: float, number: int = 0) -> SpeechResumed:
    return SpeechResumed("mic", 0, 0, round(at_s * SR), number)


def early_final_at_pause(s: SegmentScheduler) -> TranscribeRequest:
    """Speech to 1.5 s, a pause the VAD decides at 1.7 s: the early final sent then."""
    s.speech_ongoing(ongoing(0, 0.0, 1.5), 1.5)
    s.speech_paused(paused(1.5, 1.7), 1.7)
    return only(s.dispatch(["asr-1"], 1.7))


def partial_round(s: SegmentScheduler, audio_s: float, text: str, now_s: float) -> list:
    """Speech reaches ``audio_s``; the partial sent now is answered with ``text``."""
    s.speech_ongoing(ongoing(0, 0.0, audio_s), now_s)
    request = only(s.dispatch(["asr-1"], now_s))
    assert request.is_partial
    return s.on_reply("asr-1", result(request, text), now_s + 0.3)


@pytest.mark.parametrize("context_lead_in_s", [0.0, 2.0])
def test_stable_words_are_committed_while_speaking_and_the_rest_ends_the_segment(
    context_lead_in_s: float,
) -> None:
    s = committing(context_lead_in_s=context_lead_in_s)
    s.speech_started(started(0, 0.0), 0.0)
    assert not finals(partial_round(s, 3.0, "a river runs down to the", 3.0))
    out = partial_round(s, 4.0, "a river runs down to the sea and", 4.0)
    (part,) = finals(out)
    # "a ... the" agreed; all end <= 4.0 - 0.5; the cut lies between "the" (2.0-2.3) and "sea"
    assert part.text == "a river runs down to the" and part.seq == 1
    assert (part.start_s, part.end_s) == (0.0, pytest.approx(2.35, abs=1e-3))
    (partial,) = [m for m in out if isinstance(m, TranscriptPartial)]
    assert partial.stable == "" and partial.unstable == "sea and"
    assert partial.start_s == part.end_s
    assert s.stats().commits == 1

    # the next partial keeps the committed words as context (no sentence end yet), unprompted
    s.speech_ongoing(ongoing(0, 0.0, 5.5), 5.5)
    request = only(s.dispatch(["asr-1"], 5.5))
    assert (request.start_index, request.end_index) == (0, round(5.5 * SR)) and request.prompt == ""
    s.on_reply("asr-1", result(request, "a river runs down to the see"), 5.8)  # no agreement

    out = s.speech_ended(ended(0, 0.0, 6.0), 6.0)
    assert not finals(out)
    request = only(s.dispatch(["asr-1"], 6.0))
    assert not request.is_partial
    if context_lead_in_s:
        # the rest from a word boundary up to 2 s before the cut (2.35 s): "river" starts at
        # 0.4 s, so the window starts 0.1 s before it, at the end of "a"
        assert request.start_index == round(0.3 * SR) and request.end_index == 6 * SR
        assert request.prompt == "a"
        assert request.prefix == "river runs down to the"
    else:
        # the rest, with 1 s of lead-in before the cut, prompted with the text before that
        assert request.start_index == round(1.35 * SR) and request.end_index == 6 * SR
        assert request.prompt == "a river runs"
        # the lead-in's committed words are forced as its first words (jfk.flac lost words)
        assert request.prefix == "down to the"
    answer = f"{request.prefix} sea and it ends"
    (rest,) = finals(s.on_reply("asr-1", result(request, answer), 6.4))
    assert rest.seq == 2 and rest.start_s == part.end_s and rest.end_s == 6.0
    assert rest.text == "sea and it ends"  # the committed words of the lead-in are dropped
    assert s.idle()


def test_window_moves_up_after_a_sentence_and_prompt_is_the_committed_text() -> None:
    s = committing()
    s.speech_started(started(0, 0.0), 0.0)
    partial_round(s, 3.0, "It rained. Then the sun", 3.0)
    (part,) = finals(partial_round(s, 4.0, "It rained. Then the sun came out", 4.0))
    assert part.text == "It rained. Then the sun"
    s.speech_ongoing(ongoing(0, 0.0, 6.0), 6.0)
    request = only(s.dispatch(["asr-1"], 6.0))
    assert request.start_index == 0  # "sun" ends no sentence: the context is kept
    out = s.on_reply("asr-1", result(request, "It rained. Then the sun came out. Birds"), 6.2)
    (part2,) = finals(out)
    assert part2.text == "came out." and part2.start_s == part.end_s
    s.speech_ongoing(ongoing(0, 0.0, 8.0), 8.0)
    request = only(s.dispatch(["asr-1"], 8.0))
    # a sentence ended: the window moves up to 1 s (the lead-in) before the cut
    assert request.start_index == round((part2.end_s - 1.0) * SR)
    assert request.prompt == "It rained. Then the"  # the committed words heard before it


def test_partial_context_keeps_whole_words_of_speech_before_the_uncommitted_audio() -> None:
    commit = CommitOptions(margin_s=0.5, context_lead_in_s=2.0, partial_context_s=1.5)
    s = SegmentScheduler(options(commit=commit), rings=RINGS)
    s.speech_started(started(0, 0.0), 0.0)
    partial_round(s, 3.0, "It rained. Then the sun", 3.0)
    (part,) = finals(partial_round(s, 4.0, "It rained. Then the sun came out", 4.0))
    assert part.end_s == pytest.approx(1.95)  # "sun" 1.6-1.9 s
    s.speech_ongoing(ongoing(0, 0.0, 6.0), 6.0)
    request = only(s.dispatch(["asr-1"], 6.0))
    # "Then" (0.8 s) is the first word within 1.5 s of the cut: the window starts where the
    # word before it ended (0.7 s), not at 0 (the growing context), and the committed words
    # it hears are forced as the decoder's prefix
    assert request.start_index == round(0.7 * SR)
    assert (request.prompt, request.prefix) == ("It rained.", "Then the sun")
    (part2,) = finals(s.on_reply("asr-1", result(request, "Then the sun came out. Birds"), 6.2))
    assert part2.text == "came out." and part2.end_s == pytest.approx(2.65)
    s.speech_ongoing(ongoing(0, 0.0, 8.0), 8.0)
    request = only(s.dispatch(["asr-1"], 8.0))
    # a sentence end does not restart the window 1 s before the cut (inside "out."): it
    # still hears 1.5 s of speech, from "the" (1.2 s; "Then" ended at 1.1 s)
    assert request.start_index == round(1.1 * SR)
    assert (request.prompt, request.prefix) == ("It rained. Then", "the sun came out.")


def test_partial_window_never_exceeds_one_window() -> None:
    s = committing()
    window = options().window_samples
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 2 * window / SR), 0.0)
    request = only(s.dispatch(["asr-1"], 1.0))
    assert (request.start_index, request.end_index) == (0, window)


def test_complete_sentence_at_a_pause_is_final_at_once() -> None:
    s = committing(margin_s=1.5)
    s.speech_started(started(0, 0.0), 0.0)
    partial_round(s, 1.4, "Yes I agree.", 1.4)
    out = partial_round(s, 1.5, "Yes I agree.", 2.5)  # stable, but within the margin
    assert not finals(out)
    out = s.speech_paused(paused(1.3, 1.6), 2.6)
    (part,) = finals(out)
    assert part.text == "Yes I agree." and part.end_s == pytest.approx(1.45)
    assert s.stats().endpoint_commits == 1
    # the segment ends with no speech after the pause: its final is empty and needs no work
    out = s.speech_ended(ended(0, 0.0, 1.9), 2.9)
    (rest,) = finals(out)
    assert rest.text == "" and rest.seq == 2 and rest.start_s == part.end_s
    assert s.dispatch(["asr-1"], 3.0) == [] and s.idle()


def test_early_final_at_a_pause_is_the_final_when_the_segment_ends() -> None:
    s = committing()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 1.5), 1.5)
    assert s.speech_paused(paused(1.5, 1.7), 1.7) == []
    assert s.queue_depths()["finals"] == 1  # the early final is final work waiting
    request = only(s.dispatch(["asr-1"], 1.7))
    assert s.queue_depths()["finals"] == 0
    assert not request.is_partial and (request.start_index, request.end_index) == (0, 1.6 * SR)
    assert s.dispatch(["asr-2"], 1.7) == []  # no partial over the pause's silence
    assert finals(s.on_reply("asr-1", result(request, "so I went"), 2.1)) == []  # mid-clause
    out = s.speech_ended(ended(0, 0.0, 2.1), 2.3)
    (final,) = finals(out)
    assert final.text == "so I went" and final.latency_ms == 0.0
    assert s.dispatch(["asr-1"], 2.3) == [] and s.idle()
    assert s.stats().early_finals_used == 1 and s.stats().early_finals_wasted == 0


def test_early_final_ending_a_sentence_is_committed_when_it_comes_back() -> None:
    s = committing()
    s.speech_started(started(0, 0.0), 0.0)
    request = early_final_at_pause(s)
    out = s.on_reply("asr-1", result(request, "I went home."), 2.0)
    (part,) = finals(out)
    assert part.text == "I went home." and part.end_s == pytest.approx(1.6)
    (rest,) = finals(s.speech_ended(ended(0, 0.0, 2.1), 2.3))  # nothing after: empty at once
    assert rest.text == "" and s.idle()


def test_speech_resuming_wastes_an_early_final_that_ends_mid_clause() -> None:
    """With ``commit_resumed_early`` off (on by default: tests/test_early_final_resumed.py)."""
    commit = CommitOptions(margin_s=0.5, context_lead_in_s=2.0)
    work = CommittedSegments(commit)
    work.commit_resumed_early = False
    s = SegmentScheduler(options(commit=commit), rings=RINGS, work=(work,))
    s.speech_started(started(0, 0.0), 0.0)
    request = early_final_at_pause(s)
    s.speech_resumed(resumed(1.8), 1.8)
    assert finals(s.on_reply("asr-1", result(request, "so I went"), 2.0)) == []
    assert s.stats().early_finals_wasted == 1
    s.speech_ongoing(ongoing(0, 0.0, 3.0), 3.0)
    assert only(s.dispatch(["asr-1"], 3.0)).is_partial  # partials go on
    s.speech_ended(ended(0, 0.0, 3.5), 3.5)
    request = only(s.dispatch(["asr-2"], 3.5))
    assert not request.is_partial and request.start_index == 0  # the whole segment, as usual


def test_no_partial_while_final_work_waits() -> None:
    s = committing()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 2.0), 2.0)
    s.speech_started(started(1, 3.0), 3.0)
    s.speech_ongoing(ongoing(1, 3.0, 5.0), 5.0)
    (assignment,) = s.dispatch(["asr-1"], 5.0)
    assert not assignment[1].is_partial  # the final of segment 0 first


def test_commit_state_is_forgotten() -> None:
    s = committing()
    for segment_id in range(3):
        t = segment_id * 10.0
        s.speech_started(started(segment_id, t), t)
        s.speech_ongoing(ongoing(segment_id, t, t + 3.0), t + 3.0)
        request = only(s.dispatch(["asr-1"], t + 3.0))
        s.on_reply("asr-1", result(request, "one two three four"), t + 3.1)
        s.speech_ended(ended(segment_id, t, t + 4.0), t + 4.0)
        request = only(s.dispatch(["asr-1"], t + 4.0))
        s.on_reply("asr-1", result(request, "one two three four"), t + 4.1)
    assert s.idle()
    assert all(v == 0 for k, v in s.sizes().items() if k != "streams_known"), s.sizes()


def test_audio_committed_before_a_vad_restart_is_not_transcribed_again() -> None:
    s = committing()
    s.speech_started(started(0, 0.0), 0.0)
    partial_round(s, 3.0, "a river runs down to the", 3.0)
    (part,) = finals(partial_round(s, 4.0, "a river runs down to the sea and", 4.0))
    s.vad_restarted("mic")  # the open segment is dropped; its committed part stays published
    s.speech_started(started(1, 0.0), 5.0)  # detected again from its start
    s.speech_ended(ended(1, 0.0, 6.0), 6.0)
    request = only(s.dispatch(["asr-1"], 6.0))
    assert request.start_index == round(part.end_s * SR)  # from the last cut
    (rest,) = finals(s.on_reply("asr-1", result(request, "sea and it ends"), 6.5))
    assert (rest.segment_id, rest.seq, rest.start_s) == (1, 2, part.end_s)


def test_hypotheses_that_keep_disagreeing_commit_what_lies_far_behind() -> None:
    s = committing()
    s.speech_started(started(0, 0.0), 0.0)
    assert not finals(partial_round(s, 3.0, "so then the river runs", 3.0))
    spoken_8s = "and the river runs down to the wide sea and then far away from all the hills we go"
    out = partial_round(s, 8.0, spoken_8s, 8.0)
    (part,) = finals(out)  # no agreement at the first word, 8 s uncommitted: stalled
    # the newest hypothesis' words that end at least 2 s before its end (8 s)
    assert part.text == "and the river runs down to the wide sea and then far away from all"
    assert s.stats().stalled_commits == 1 and s.stats().commits == 1
    (partial,) = [m for m in out if isinstance(m, TranscriptPartial)]
    assert (partial.stable, partial.unstable) == ("", "the hills we go")


def test_no_cut_before_the_rest_of_a_word() -> None:
    s = committing()
    s.speech_started(started(0, 0.0), 0.0)
    partial_round(s, 3.0, "measure the flow re", 3.0)
    out = partial_round(s, 4.0, "measure the flow re -hour so", 4.0)  # " -hour" continues "re"
    (part,) = finals(out)
    assert part.text == "measure the flow"


def test_speech_event_hands_each_vad_message_to_its_handler() -> None:
    """``speech_event`` (the daemon's and the benches' one entry) gives the same outputs as the
    handler of the message's type, and refuses anything else by name."""
    one, other = committing(), committing()
    messages = [
        started(0, 0.0),
        ongoing(0, 0.0, 1.5),
        paused(1.5, 1.7),
        resumed(1.8),
        ended(0, 0.0, 2.4),
    ]
    handlers = [other.speech_started, other.speech_ongoing, other.speech_paused,
                other.speech_resumed, other.speech_ended]  # fmt: skip
    for now_s, (message, handler) in enumerate(zip(messages, handlers, strict=True)):
        assert one.speech_event(message, float(now_s)) == handler(message, float(now_s))
    assert one.queue_depths() == other.queue_depths()
    with pytest.raises(TypeError, match="TranscribeRequest"):
        one.speech_event(only(one.dispatch(["asr-1"], 5.0)), 5.0)


@pytest.mark.parametrize(("keep", "other_speaking"), [(False, True), (True, True), (True, False)])
def test_an_early_final_still_unsent_when_speech_resumes(keep: bool, other_speaking: bool) -> None:
    """The only worker is busy through a short pause. With ``keep_unsent_early`` (the default)
    and another stream in speech, the early final planned at the pause is sent when the worker
    comes free and its sentence committed; off, or with this stream alone in speech, it is
    dropped at the resume and the next request is a partial."""
    s = SegmentScheduler(
        options(commit=CommitOptions(margin_s=0.5, keep_unsent_early=keep)), rings=RINGS
    )
    s.speech_started(started(0, 0.0), 0.0)
    if other_speaking:
        s.speech_started(started(0, 0.0, "room"), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 1.5), 1.5)
    partial = only(s.dispatch(["asr-1"], 1.5))
    assert partial.is_partial
    s.speech_paused(paused(1.5, 1.7), 1.7)
    s.speech_resumed(resumed(1.8), 1.8)
    s.speech_ongoing(ongoing(0, 0.0, 2.5), 2.5)
    s.on_reply("asr-1", result(partial, "I went"), 2.5)
    request = only(s.dispatch(["asr-1"], 2.5))
    if not (keep and other_speaking):
        assert request.is_partial
        return
    assert not request.is_partial and request.end_index == round(1.6 * SR)
    (part,) = finals(s.on_reply("asr-1", result(request, "I went home."), 2.8))
    assert part.text == "I went home." and part.end_s == pytest.approx(1.6)
    assert s.stats().early_finals_used == 1
