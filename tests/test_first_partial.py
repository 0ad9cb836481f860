"""A segment's first partial goes over half the usual audio and is a preview: shown as unstable
text, never agreed on (fakes, no processes)."""

from __future__ import annotations

from pipeline.messages.transcripts import TranscriptFinal, TranscriptPartial
from pipeline.scheduling.first_partial import is_preview, partial_min_samples
from tests.test_scheduler_commits import committing, only
from tests.test_scheduler_fakes import SR, ongoing, options, result, started


def partials(messages: list) -> list[TranscriptPartial]:
    return [m for m in messages if isinstance(m, TranscriptPartial)]


def test_the_first_partial_needs_half_the_audio_and_at_least_half_a_second() -> None:
    assert partial_min_samples(options(), first=True) == SR // 2  # of 1 s
    assert partial_min_samples(options(), first=False) == SR
    assert partial_min_samples(options(partial_min_audio_samples=2 * SR), first=True) == SR
    assert partial_min_samples(options(partial_min_audio_samples=SR // 2), first=True) == SR // 2


def test_a_preview_is_shown_but_not_agreed_on_and_the_next_partial_needs_the_full_audio() -> None:
    s = committing()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 0.4), 0.4)
    assert s.dispatch(["asr-1"], 0.4) == []  # less than half a second
    s.speech_ongoing(ongoing(0, 0.0, 0.6), 0.6)
    preview = only(s.dispatch(["asr-1"], 0.6))
    assert preview.is_partial and is_preview(preview, s.options) and preview.preview
    (shown,) = partials(s.on_reply("asr-1", result(preview, "a river runs"), 0.8))
    assert (shown.stable, shown.unstable) == ("", "a river runs")
    s.speech_ongoing(ongoing(0, 0.0, 0.9), 1.6)  # the interval passed, but under 1 s of audio
    assert s.dispatch(["asr-1"], 1.6) == []
    s.speech_ongoing(ongoing(0, 0.0, 1.7), 1.7)
    second = only(s.dispatch(["asr-1"], 1.7))
    assert not is_preview(second, s.options) and not second.preview
    (shown,) = partials(s.on_reply("asr-1", result(second, "a river runs down"), 1.9))
    # the preview's words were not a hypothesis: nothing is stable after one real partial
    assert (shown.stable, shown.unstable) == ("", "a river runs down")
    s.speech_ongoing(ongoing(0, 0.0, 2.8), 2.8)
    third = only(s.dispatch(["asr-1"], 2.8))
    out = s.on_reply("asr-1", result(third, "a river runs down to"), 3.0)
    (part,) = [m for m in out if isinstance(m, TranscriptFinal)]  # agreed by the real ones
    assert part.text == "a river runs down"
