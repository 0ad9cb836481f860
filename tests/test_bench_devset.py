"""The bench dev set: espeak-ng speech built by seed, byte for byte the same each time."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from bench.devset.build import (
    CONTINUOUS_GAP_S,
    PAUSE_BUCKETS_S,
    build,
    ensure_devset,
)

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make system-deps)"
)


def contents(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_same_seed_same_bytes_other_seed_other_audio(tmp_path: Path) -> None:
    first = build(tmp_path / "a", seed=3, scale_name="tiny")
    build(tmp_path / "b", seed=3, scale_name="tiny")
    build(tmp_path / "c", seed=4, scale_name="tiny")
    assert contents(tmp_path / "a") == contents(tmp_path / "b")
    assert (tmp_path / "a" / "dictation.wav").read_bytes() != (
        tmp_path / "c" / "dictation.wav"
    ).read_bytes()
    assert [f["name"] for f in first["files"]] == ["dictation.wav", "continuous.wav"]


def test_reference_times_mark_the_speech(tmp_path: Path) -> None:
    build(tmp_path, seed=5, scale_name="tiny")
    for stem, (low_gap, high_gap) in (
        ("dictation", (PAUSE_BUCKETS_S[0][0], PAUSE_BUCKETS_S[-1][1])),
        ("continuous", CONTINUOUS_GAP_S),
    ):
        audio, rate = soundfile.read(tmp_path / f"{stem}.wav", dtype="float32")
        reference = json.loads((tmp_path / f"{stem}.json").read_text())
        utterances = reference["utterances"]
        assert rate == 16000 and reference["duration"] == pytest.approx(len(audio) / rate, abs=1e-3)
        assert reference["text"] == " ".join(u["text"] for u in utterances)
        for before, after in itertools.pairwise(utterances):
            assert low_gap - 1e-3 <= after["start"] - before["end"] <= high_gap + 1e-3
        for u in utterances:
            inside = audio[round(u["start"] * rate) : round(u["end"] * rate)]
            assert np.sqrt(np.mean(inside**2)) > 0.02, u  # speech
        lead = audio[: round(utterances[0]["start"] * rate) - 160]
        assert 0.0 < np.sqrt(np.mean(lead**2)) < 0.005  # low background noise only


def test_full_scale_holds_over_3000_words_and_long_stretches(tmp_path: Path) -> None:
    manifest = ensure_devset(seed=7, scale_name="full", cache_dir=tmp_path)
    assert manifest["words"] >= 3000
    kinds = {f["name"]: f["kind"] for f in manifest["files"]}
    assert kinds["dictation.wav"] == "dictation" and kinds["continuous.wav"] == "continuous"
    directory = next(tmp_path.glob("v*-seed7-full"))
    continuous = json.loads((directory / "continuous.json").read_text())["utterances"]
    stretches, start = [], continuous[0]["start"]
    for before, after in itertools.pairwise(continuous):
        if after["start"] - before["end"] > CONTINUOUS_GAP_S[1] + 1e-3:
            stretches.append(before["end"] - start)
            start = after["start"]
    stretches.append(continuous[-1]["end"] - start)
    assert len(stretches) >= 3 and min(stretches) > 60.0
    dictation = json.loads((directory / "dictation.json").read_text())["utterances"]
    assert len({u["voice"] for u in dictation}) >= 4
    assert len({u["rate_wpm"] for u in dictation}) >= 3
    assert {"answer", "number"} <= {u["kind"] for u in dictation}
    assert ensure_devset(seed=7, scale_name="full", cache_dir=tmp_path) == manifest  # cached
