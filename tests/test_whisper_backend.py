"""WhisperBackend on the real embedded tiny.en and real audio, offline."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipeline.text_metrics import word_error_rate
from tests import whisper_audio
from tests.whisper_audio import DATA_DIR, RATE_HZ

cache_dir = whisper_audio.cache_dir
jfk = whisper_audio.jfk


@pytest.fixture(scope="module")
def backend(cache_dir):
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

    return WhisperBackend("", WhisperOptions())


@pytest.fixture(scope="module")
def jfk_reference() -> str:
    return json.loads((DATA_DIR / "references.json").read_text())["jfk.flac"]


@pytest.fixture(scope="module")
def jfk_result(backend, jfk):
    return backend.transcribe(jfk)


def test_jfk_matches_reference(jfk_result, jfk_reference, backend):
    assert word_error_rate(jfk_reference, jfk_result.text) <= 0.05, jfk_result.text
    assert backend.model_name == "whisper-tiny.en"
    assert jfk_result.details["temperature"] == 0.0


def test_word_timestamps(jfk_result, jfk):
    words = jfk_result.words
    assert "".join(w.text for w in words).strip() == jfk_result.text
    duration_s = jfk.size / RATE_HZ
    for previous, word in itertools.pairwise(words):
        assert previous.start_s <= word.start_s
    for word in words:
        assert 0.0 <= word.start_s <= word.end_s <= duration_s
        assert 0.0 < word.probability <= 1.0
    by_text = {w.text.strip(" ,.").lower(): w for w in words}
    # "country" ends the speech at ~10.5 s; "Americans" is said around 2.5-3.5 s
    assert 9.5 < by_text["country"].end_s <= duration_s
    assert 1.5 < by_text["americans"].start_s < 3.5


@pytest.mark.parametrize("kind", ["silence", "white noise"])
def test_silence_and_noise_give_nothing(backend, kind):
    rng = np.random.default_rng(1)
    audio = np.zeros(5 * RATE_HZ, np.float32)
    if kind == "white noise":
        audio = (0.05 * rng.standard_normal(5 * RATE_HZ)).astype(np.float32)
    result = backend.transcribe(audio)
    assert result.is_empty and result.words == (), result


def test_quiet_hiss_is_not_thank_you(backend):
    audio = (1e-3 * np.random.default_rng(2).standard_normal(5 * RATE_HZ)).astype(np.float32)
    assert backend.transcribe(audio).is_empty


def test_token_cap_is_enforced(backend, jfk):
    original = backend.options
    backend.options = replace(original, max_tokens_per_s=1.0, temperatures=(0.0,))
    try:
        result = backend.transcribe(jfk)
    finally:
        backend.options = original
    assert result.details["max_tokens"] == 11  # 1 token/s × 11 s
    assert result.details["tokens"] <= 11 and result.details["hit_cap"] == 1.0


def test_beam_search_and_prompt(backend, jfk, jfk_reference):
    original = backend.options
    backend.options = replace(original, beam_size=3, word_timestamps=False)
    try:
        beam = backend.transcribe(jfk, prompt="President Kennedy's inaugural address.")
    finally:
        backend.options = original
    assert word_error_rate(jfk_reference, beam.text) <= 0.05, beam.text


@pytest.mark.parametrize(
    "calls", [8, pytest.param(300, marks=pytest.mark.slow)], ids=["8-calls", "300-calls"]
)
def test_memory_stays_flat(backend, jfk, calls):
    psutil = pytest.importorskip("psutil")
    process = psutil.Process()
    piece = jfk[: 2 * RATE_HZ]
    original = backend.options
    backend.options = replace(original, word_timestamps=False)
    try:
        for _ in range(3):  # warm-up: allocator pools and caches settle
            backend.transcribe(piece)
        rss_before = process.memory_info().rss
        stats_before = backend.memory_stats()
        for _ in range(calls):
            backend.transcribe(piece)
    finally:
        backend.options = original
    stats_after = backend.memory_stats()
    growth = process.memory_info().rss - rss_before
    assert growth < 16 * 2**20, f"RSS grew {growth / 2**20:.1f} MiB over {calls} calls"
    mlx_before = stats_before.active_bytes + stats_before.cache_bytes
    assert stats_after.active_bytes + stats_after.cache_bytes <= mlx_before + 2**20


def test_importing_the_backend_does_not_import_mlx():
    code = "import sys, pipeline.backends.whisper_mlx; assert 'mlx.core' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
