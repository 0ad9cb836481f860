"""A sentence end at a short pause (sentence_ends.SHORT_PAUSE_SENTENCES): while another stream is
in speech, the early final decoded at a tentative pause (``vad.pause_decode_ms``) whose text ends
a sentence is committed at its cut when speech resumes before the pause is confirmed; one that
ends mid-sentence, or a stream alone, drops it as before. The real scheduler as the daemon
builds its work (``default_work``), real speech messages, fake answers."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions
from pipeline.scheduling.scheduler import default_work
from tests.test_scheduler_commits import finals, only, paused, resumed
from tests.test_scheduler_fakes import RINGS, SR, ongoing, options, result, started
from tests.test_scheduler_fakes import sharing as sharing_keys


def scheduler(*, sharing: bool, keep_unsent: bool = False) -> SegmentScheduler:
    """ "mic" speaks from 0 s to 1.5 s, then a tentative pause decided at 1.6 s (confirmed at 1.7
    s if the silence goes on): its early final is sent then. With ``sharing``, "room" is in
    speech too."""
    opts = options(
        commit=CommitOptions(margin_s=0.5, context_lead_in_s=2.0),
        sharing=sharing_keys(short_pause_unsent=keep_unsent),
    )
    s = SegmentScheduler(opts, rings=RINGS, work=default_work(opts))
    s.speech_started(started(0, 0.0), 0.0)
    if sharing:
        s.speech_started(started(0, 0.0, "room"), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 1.5), 1.5)
    tentative = dataclasses.replace(paused(1.5, 1.6), confirm_index=round(1.7 * SR))
    s.speech_paused(tentative, 1.6)
    return s


def early_final(s: SegmentScheduler):
    (early,) = [r for _, r in s.dispatch(["asr-1"], 1.6) if r.stream_id == "mic"]
    assert early.early_final and early.end_index == round(1.6 * SR)
    return early


@pytest.mark.parametrize("answered_first", [True, False])
def test_a_sentence_end_at_a_short_pause_is_committed_at_the_resume(answered_first) -> None:
    s = scheduler(sharing=True)
    early = early_final(s)
    out = []
    if answered_first:
        assert finals(s.on_reply("asr-1", result(early, "I went home."), 1.62)) == []  # held
    out += finals(s.speech_resumed(resumed(1.65), 1.65))  # 150 ms: not a pause for the VAD
    if not answered_first:
        out += finals(s.on_reply("asr-1", result(early, "I went home."), 1.8))
    (part,) = out
    assert part.text == "I went home." and part.end_s == pytest.approx(1.6)
    assert s.stats().early_finals_used == 1 and s.stats().early_finals_wasted == 0
    # the segment goes on from the cut
    s.speech_ongoing(ongoing(0, 0.0, 3.0), 3.0)
    s.speech_ongoing(ongoing(0, 0.0, 3.0, "room"), 3.0)
    partials = [r for _, r in s.dispatch(["asr-1", "asr-2"], 3.0) if r.stream_id == "mic"]
    assert partials and partials[0].start_index >= round(1.5 * SR)


@pytest.mark.parametrize("answered_first", [True, False])
def test_a_short_pause_mid_sentence_is_dropped(answered_first) -> None:
    s = scheduler(sharing=True)
    early = early_final(s)
    if answered_first:
        assert finals(s.on_reply("asr-1", result(early, "I went"), 1.62)) == []
    assert finals(s.speech_resumed(resumed(1.65), 1.65)) == []
    if not answered_first:
        assert finals(s.on_reply("asr-1", result(early, "I went"), 1.8)) == []
    assert s.stats().early_finals_used == 0 and s.stats().early_finals_wasted == 1


def test_a_stream_alone_drops_it_as_before() -> None:
    s = scheduler(sharing=False)
    early = only(s.dispatch(["asr-1"], 1.6))
    assert finals(s.on_reply("asr-1", result(early, "I went home."), 1.62)) == []
    assert finals(s.speech_resumed(resumed(1.65), 1.65)) == []
    assert s.stats().early_finals_used == 0 and s.stats().early_finals_wasted == 1


@pytest.mark.parametrize("keep_unsent", [True, False])
def test_one_unsent_at_the_resume_is_kept_only_with_short_pause_unsent(keep_unsent) -> None:
    """No worker was free from the tentative pause to the resume (a tentative pause's early
    final pre-empts nothing): ``short_pause_unsent`` keeps it and sends it on the next free
    worker, committed if it ends a sentence; off (the daemon's default), it is dropped."""
    s = scheduler(sharing=True, keep_unsent=keep_unsent)
    s.speech_resumed(resumed(1.65), 1.65)
    sent = [r for _, r in s.dispatch(["asr-1"], 1.7) if r.stream_id == "mic"]
    early = [r for r in sent if r.early_final]
    if not keep_unsent:
        assert early == []
        return
    (request,) = early
    assert request.end_index == round(1.6 * SR)
    (part,) = finals(s.on_reply("asr-1", result(request, "I went home."), 1.9))
    assert part.text == "I went home." and part.end_s == pytest.approx(1.6)
