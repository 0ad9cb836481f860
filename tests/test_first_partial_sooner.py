"""A segment's first partial sooner: the VAD's first SpeechProgress comes ``first_progress``
after the start decision (not one full interval), and a first preview that gave nothing lets
the next one go with the next audio (fakes for the scheduler; the real state machine)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from config.loader import load_config
from pipeline.messages.transcripts import TranscriptPartial
from pipeline.messages.work import WorkerError
from pipeline.scheduling.first_partial import PREVIEW_TRIES, is_preview
from pipeline.vad import StreamVad
from pipeline.vad.events import SpeechProgress, SpeechStart
from pipeline.vad.state_machine import FIRST_PROGRESS_S, SegmenterParams
from tests.test_scheduler_commits import committing, only
from tests.test_scheduler_fakes import SR, ongoing, result, started
from tests.test_vad_units import PARAMS, LevelDetector, W, noise, of, run, silence


def test_first_progress_after_the_start_decision_then_the_usual_cadence() -> None:
    params = dataclasses.replace(PARAMS, first_progress_samples=4 * W)
    audio = noise(3 * 16_000)
    events = run(StreamVad(LevelDetector(), params), audio)
    (start,) = of(events, SpeechStart)
    progress = [p.current_index for p in of(events, SpeechProgress) if p.segment_index == 0]
    assert 0 <= progress[0] - (start.decided_index + 4 * W) < W
    due_second = progress[0] + params.partial_interval_samples
    assert 0 <= progress[1] - due_second < W


def test_without_first_progress_the_first_waits_one_interval() -> None:
    audio = np.concatenate([noise(2 * 16_000), silence(16_000)])
    events = run(StreamVad(LevelDetector(), PARAMS), audio)
    (start,) = of(events, SpeechStart)
    first = of(events, SpeechProgress)[0].current_index
    assert 0 <= first - (start.decided_index + PARAMS.partial_interval_samples) < W


def test_profiles_send_the_first_progress_sooner() -> None:
    for profile in ("balanced", "low-latency"):
        config = load_config(None, cli_overrides={"profile": profile}).config
        params = SegmenterParams.from_config(config.vad)
        assert params.first_progress_samples == round(FIRST_PROGRESS_S * 16_000)
        assert params.first_progress_samples < params.partial_interval_samples


def test_negative_first_progress_is_refused() -> None:
    with pytest.raises(ValueError, match="first_progress_samples"):
        dataclasses.replace(PARAMS, first_progress_samples=-1)


def test_a_first_preview_that_gave_nothing_is_tried_again_with_the_next_audio() -> None:
    s = committing()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 0.6), 0.6)
    preview = only(s.dispatch(["asr-1"], 0.6))
    assert is_preview(preview, s.options)
    dropped = WorkerError(preview.request_id, "suspect_partial", "gave nothing", retryable=False)
    assert s.on_reply("asr-1", dropped, 0.8) == []
    s.speech_ongoing(ongoing(0, 0.0, 0.7), 0.85)  # well inside the partial interval
    again = only(s.dispatch(["asr-1"], 0.85))
    assert is_preview(again, s.options) and again.end_index == round(0.7 * SR)
    shown = [m for m in s.on_reply("asr-1", result(again, "a river"), 1.0)
             if isinstance(m, TranscriptPartial)]  # fmt: skip
    assert [p.unstable for p in shown] == ["a river"]
    s.speech_ongoing(ongoing(0, 0.0, 1.2), 1.2)  # something shown: the interval holds again
    assert s.dispatch(["asr-1"], 1.2) == []


def test_a_preview_with_text_keeps_the_interval() -> None:
    s = committing()
    s.speech_started(started(0, 0.0), 0.0)
    s.speech_ongoing(ongoing(0, 0.0, 0.6), 0.6)
    preview = only(s.dispatch(["asr-1"], 0.6))
    s.on_reply("asr-1", result(preview, "a river"), 0.8)
    s.speech_ongoing(ongoing(0, 0.0, 1.1), 0.9)
    assert s.dispatch(["asr-1"], 0.9) == []


def test_first_progress_waits_for_the_speech_a_preview_needs() -> None:
    params = dataclasses.replace(
        PARAMS, first_progress_samples=2 * W, first_progress_speech_samples=14 * W
    )
    audio = np.concatenate([silence(16 * W), noise(3 * 16_000)])
    events = run(StreamVad(LevelDetector(), params), audio)
    (start,) = of(events, SpeechStart)
    onset = 16 * W  # the first speech window (the segment starts a pre-roll before it)
    assert start.start_index == onset - PARAMS.pre_roll_samples
    assert start.decided_index + 2 * W < onset + 14 * W  # the speech floor decides here
    first = of(events, SpeechProgress)[0].current_index
    assert 0 <= first - (onset + 14 * W) < W


def test_previews_that_keep_giving_nothing_fall_back_to_the_usual_cadence() -> None:
    s = committing()
    s.speech_started(started(0, 0.0), 0.0)
    now_s, audio_s = 0.6, 0.6
    for _ in range(PREVIEW_TRIES):
        s.speech_ongoing(ongoing(0, 0.0, audio_s), now_s)
        preview = only(s.dispatch(["asr-1"], now_s))
        assert s.on_reply("asr-1", result(preview, ""), now_s + 0.1) == []
        now_s, audio_s = now_s + 0.15, audio_s + 0.1
    s.speech_ongoing(ongoing(0, 0.0, audio_s), now_s)
    assert s.dispatch(["asr-1"], now_s) == []  # noise, music: no preview every step
