"""bench/stream_replay.py: two streams of real speech (dictation_dev.wav, shared data) through
the real VAD, scheduler and tiny.en on the simulated clock: every reference utterance is
final, promptly, and the same clips give the same figures twice (load-independent)."""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import pytest
import soundfile

from bench.e2e_parts.latency import load_utterances
from bench.stream_clips import Clip, RefUtterance
from bench.stream_replay import replay
from tests.data_paths import DATA_DIR

CLIP_S = 14.0  # the first three sentences


def _clips(tmp_path, starts_s: tuple[float, ...]) -> list[Clip]:
    audio, rate = soundfile.read(DATA_DIR / "dictation_dev.wav", dtype="float32")
    utterances = load_utterances(DATA_DIR / "dictation_dev.json")
    clips = []
    for i, start_s in enumerate(starts_s):
        path = tmp_path / f"dictation-{i:02d}.wav"
        piece = audio[int(start_s * rate) : int((start_s + CLIP_S) * rate)]
        soundfile.write(path, np.ascontiguousarray(piece), rate)
        inside = tuple(
            RefUtterance(u.text, u.start_s - start_s, u.end_s - start_s)
            for u in utterances
            if u.start_s >= start_s and u.end_s <= start_s + CLIP_S
        )
        clips.append(Clip(path, "dictation", f"dictation_dev.wav@{start_s}", inside))
    return clips


def _setup(seconds: float):
    from config.loader import load_config
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

    config = load_config(None).config
    backend = WhisperBackend("", replace(WhisperOptions.from_config(config.asr), blas_threads=1))
    args = argparse.Namespace(
        seconds=seconds, workers=2, cores=2.0, stream_cores=0.052,
        cost_model=[0.00046, 0.009], trace_over=None, commit=[],
    )  # fmt: skip
    return config, backend, args


def test_one_real_stream_is_final_promptly(tmp_path) -> None:
    config, backend, args = _setup(8.0)  # the utterance ends more than 2 s before the close
    (clip,) = _clips(tmp_path, (0.0,))
    clip = replace(clip, utterances=clip.utterances[:1])  # "Good morning. ... meeting." 5.15 s
    figures = replay([clip], set(), args, backend, config)
    assert figures["missed"] == 0 and figures["dictation_utterances"] == 1, figures
    assert figures["dictation_p95_s"] is not None and figures["dictation_p95_s"] < 1.0, figures


@pytest.mark.slow
def test_two_real_streams_are_final_promptly_and_the_same_twice(tmp_path) -> None:
    config, backend, args = _setup(CLIP_S)
    clips = _clips(tmp_path, (0.0, 6.0))  # two streams, different stretches
    first = replay(clips, set(), args, backend, config)
    assert first["missed"] == 0 and first["dictation_utterances"] >= 3, first
    # dictation with pauses, two streams on two workers: each sentence final within a second
    assert first["dictation_p95_s"] is not None and first["dictation_p95_s"] < 1.0, first
    assert first["early_finals_requested"] > 0 and first["partials_requested"] > 0, first
    assert replay(clips, set(), args, backend, config) == first  # the simulated clock


def test_schedules_shift_the_streams_starts() -> None:
    """Schedule 0 starts every stream at 0 (the replay as before); the others delay every stream
    but the first by under ``shift_s``, in 20 ms blocks, differently from schedule to schedule."""
    from bench.stream_replay import schedule_offsets

    assert schedule_offsets(4, 0, 0.6) == [0.0] * 4
    one, two = schedule_offsets(4, 1, 0.6), schedule_offsets(4, 2, 0.6)
    assert one[0] == two[0] == 0.0 and one != two
    for offset in one + two:
        assert 0.0 <= offset <= 0.6 and abs(offset / 0.02 - round(offset / 0.02)) < 1e-9


def test_a_shifted_stream_counts_the_same_utterances_at_their_shifted_times(tmp_path) -> None:
    config, backend, args = _setup(8.0)
    (clip,) = _clips(tmp_path, (0.0,))
    clip = replace(clip, utterances=clip.utterances[:1])
    shifted = replay([clip], set(), args, backend, config, offsets=[0.5])
    assert shifted["offsets_s"] == [0.5]
    assert shifted["missed"] == 0 and shifted["dictation_utterances"] == 1, shifted
    assert shifted["dictation_p95_s"] is not None and shifted["dictation_p95_s"] < 1.0, shifted
