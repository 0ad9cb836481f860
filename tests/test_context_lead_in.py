"""Decoding after final words hears them again: a lead-in at a word boundary, forced as prefix.

The rest of a segment after commits (and, with ``context_lead_after_pause``, the requests after
a commit at a pause and those of a new segment of the stream) starts up to
``CommitOptions.context_lead_in_s`` before the new audio at a word boundary of the words already
final; those words are the decoder's forced prefix, left out of the prompt, and never published
again. Scheduler logic with fakes; the decode path with the
real model on jfk.flac.
"""

from __future__ import annotations

import pytest

from pipeline.messages.speech import SpeechPaused
from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions, lead_in_start_s, lead_in_words
from pipeline.words import Word
from tests import whisper_audio
from tests.test_scheduler_commits import finals, only, paused, resumed
from tests.test_scheduler_fakes import RINGS, SR, ended, ongoing, options, result, spoken, started

cache_dir = whisper_audio.cache_dir
jfk = whisper_audio.jfk


def committing(
    context_lead_in_s: float = 2.0, after_pause: bool = True, partials: bool = True
) -> SegmentScheduler:
    commit = CommitOptions(
        context_lead_in_s=context_lead_in_s,
        context_lead_after_pause=after_pause,
        context_lead_partials=partials,
    )
    return SegmentScheduler(options(commit=commit), rings=RINGS)


def test_lead_in_words_start_at_a_word_boundary_within_reach() -> None:
    words = spoken("then I went back home.")  # one word every 0.4 s, 0.3 s long: ends at 1.9
    lead = lead_in_words(words, 2.6, 2.0, 1.5)
    assert [w.text for w in lead] == [" went", " back", " home."]  # those starting >= 0.6 s
    assert lead_in_start_s(words, lead, 0.1) == pytest.approx(0.7)  # "I" ends there
    assert lead_in_words(words, 3.5, 2.0, 1.5) == []  # 1.6 s of silence: no lead-in
    assert lead_in_words(words, 2.6, 0.0, 1.5) == []  # off
    pieces = (Word(0.0, 0.3, " a", 0.9), Word(0.4, 0.7, " re", 0.9), Word(0.7, 0.9, "hour", 0.9))
    assert [w.text for w in lead_in_words(pieces, 2.5, 1.85, 1.8)] == []  # never half a word
    assert [w.text for w in lead_in_words(pieces, 2.5, 2.1, 1.8)] == [" re", "hour"]


def test_after_a_commit_at_a_pause_requests_hear_the_sentence_end_again() -> None:
    s = committing()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 2.5), 2.5)
    s.speech_paused(paused(2.5, 2.7), 2.7)
    early = only(s.dispatch(["asr-1"], 2.7))
    (part,) = finals(s.on_reply("asr-1", result(early, "Then I went back home."), 3.0))
    assert part.text == "Then I went back home." and part.end_s == pytest.approx(2.6)
    s.speech_resumed(resumed(3.0), 3.0)
    s.speech_ongoing(ongoing(0, 0.0, 4.5), 4.5)
    partial = only(s.dispatch(["asr-1"], 4.5))
    assert partial.is_partial and partial.start_index == round(0.7 * SR)
    assert partial.prefix == "went back home." and partial.prompt == "Then I"
    s.on_reply("asr-1", result(partial, "went back home. It rained"), 4.8)
    s.speech_ended(ended(0, 0.0, 5.0), 5.0)
    rest = only(s.dispatch(["asr-1"], 5.0))
    assert not rest.is_partial and rest.start_index == round(0.7 * SR)
    assert rest.prefix == "went back home." and rest.prompt == "Then I"
    (final,) = finals(s.on_reply("asr-1", result(rest, "went back home. It rained all day"), 5.3))
    assert final.text == "It rained all day" and final.start_s == part.end_s  # nothing twice
    assert s.idle()


def test_a_new_segment_hears_the_end_of_the_previous_final() -> None:
    s = committing()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 1.5), 1.5)
    s.speech_paused(paused(1.5, 1.7), 1.7)
    early = only(s.dispatch(["asr-1"], 1.7))
    (part,) = finals(s.on_reply("asr-1", result(early, "I went home."), 2.0))
    (empty,) = finals(s.speech_ended(ended(0, 0.0, 2.2), 2.3))
    assert empty.text == "" and s.idle()

    s.speech_started(started(1, 2.4), 2.7)  # "went" (0.4-0.7 s) and "home." within reach
    s.speech_ongoing(ongoing(1, 2.4, 4.0), 4.0)
    partial = only(s.dispatch(["asr-1"], 4.0))
    assert partial.start_index == round(0.3 * SR)  # in the previous segment's audio
    assert partial.prefix == "went home." and partial.prompt == "I"
    s.on_reply("asr-1", result(partial, "went home. It rained"), 4.3)
    s.speech_ended(ended(1, 2.4, 4.5), 4.5)
    rest = only(s.dispatch(["asr-1"], 4.5))
    assert rest.start_index == round(0.3 * SR) and rest.prefix == "went home."
    (final,) = finals(s.on_reply("asr-1", result(rest, "went home. It rained all day"), 4.8))
    assert final.text == "It rained all day" and final.start_s == pytest.approx(2.4)
    assert final.seq == part.seq + 2


def test_without_the_partials_only_the_early_final_and_the_rest_hear_the_lead_in() -> None:
    """``context_lead_partials`` off (the daemon's setting): a new segment's partials start at
    its own audio, prompted with the previous final whole; its early final at the next pause
    and its rest start in the previous segment's audio, those words forced as the prefix."""
    s = committing(partials=False)
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 1.5), 1.5)
    s.speech_paused(paused(1.5, 1.7), 1.7)
    early = only(s.dispatch(["asr-1"], 1.7))
    finals(s.on_reply("asr-1", result(early, "I went home."), 2.0))
    finals(s.speech_ended(ended(0, 0.0, 2.2), 2.3))

    s.speech_started(started(1, 2.4), 2.7)
    s.speech_ongoing(ongoing(1, 2.4, 4.0), 4.0)
    partial = only(s.dispatch(["asr-1"], 4.0))
    assert partial.start_index == round(2.4 * SR)  # its own audio only
    assert partial.prefix == "" and partial.prompt == "I went home."
    s.on_reply("asr-1", result(partial, "It rained"), 4.3)
    s.speech_ongoing(ongoing(1, 2.4, 4.4), 4.4)
    s.speech_paused(SpeechPaused("mic", 1, round(2.4 * SR), round(4.4 * SR), round(4.6 * SR)), 4.6)
    early = only(s.dispatch(["asr-1"], 4.6))
    assert not early.is_partial and early.start_index == round(0.3 * SR)
    assert early.prefix == "went home." and early.prompt == "I"
    s.speech_ended(ended(1, 2.4, 4.8), 4.8)
    (final,) = finals(s.on_reply("asr-1", result(early, "went home. It rained all day."), 5.0))
    assert final.text == "It rained all day." and final.start_s == pytest.approx(2.4)
    assert s.idle()


@pytest.mark.parametrize(("context_lead_in_s", "after_pause"), [(0.0, True), (2.0, False)])
def test_lead_in_off_decodes_a_new_segment_alone(
    context_lead_in_s: float, after_pause: bool
) -> None:
    s = committing(context_lead_in_s, after_pause)
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ended(ended(0, 0.0, 1.5), 1.5)
    first = only(s.dispatch(["asr-1"], 1.5))
    s.on_reply("asr-1", result(first, "I went home."), 1.8)
    s.speech_started(started(1, 2.0), 2.2)
    s.speech_ended(ended(1, 2.0, 3.5), 3.5)
    second = only(s.dispatch(["asr-1"], 3.5))
    assert second.start_index == round(2.0 * SR) and second.prefix == ""
    assert second.prompt == "I went home."


def test_real_model_decodes_only_the_new_words_after_the_lead_in(cache_dir, jfk) -> None:
    """jfk.flac cut at its first pause: the second part decoded from a word boundary in the
    first, those words forced, gives every new word and none of the lead-in's again."""
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions
    from pipeline.local_agreement import words_after
    from pipeline.merging import merged_text
    from pipeline.text_metrics import normalize_word

    backend = WhisperBackend("", WhisperOptions(engine="numpy", blas_threads=1))
    first = backend.transcribe(jfk[: round(2.9 * SR)])
    assert [normalize_word(w.text) for w in first.words][-2:] == ["fellow", "americans"]
    lead = lead_in_words(first.words, 3.0, 2.0, 1.5)
    assert 2 <= len(lead) < len(first.words)
    start_s = lead_in_start_s(first.words, lead, 0.1)
    before = first.words[: len(first.words) - len(lead)]
    answer = backend.transcribe(
        jfk[round(start_s * SR) : round(7.9 * SR)],
        prompt=merged_text(before),
        prefix=merged_text(lead),
    )
    new = words_after(lead, [w.shifted(start_s) for w in answer.words])
    assert [normalize_word(w.text) for w in new] == (
        ["ask", "not", "what", "your", "country", "can", "do", "for", "you"]
    )
    assert new[0].start_s >= 2.8  # after the lead-in, where "ask" is spoken
