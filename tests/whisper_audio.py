"""Shared pieces of the real-model Whisper tests: the shared recordings at 16 kHz, and a model
cache of the test module's own (the embedded model, no network).

A module takes the fixtures by name: ``cache_dir = whisper_audio.cache_dir``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
RATE_HZ = 16_000


def load_audio(name: str) -> np.ndarray:
    """A shared recording, mono, resampled to 16 kHz."""
    import soundfile
    import soxr

    audio, rate = soundfile.read(str(DATA_DIR / name), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    return soxr.resample(audio, rate, RATE_HZ).astype(np.float32) if rate != RATE_HZ else audio


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("STREAMSCRIBE_CACHE_DIR", os.environ.get(
        "STREAMSCRIBE_TEST_CACHE_DIR", str(tmp_path_factory.mktemp("model-cache"))))  # fmt: skip
    mp.setenv("HF_HUB_OFFLINE", "1")
    yield
    mp.undo()


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    return load_audio("jfk.flac")
