"""VAD on the shared recordings: utterances kept whole, no noise segments, splits where quiet."""

from __future__ import annotations

import itertools
import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.vad import SpeechEnd, SpeechStart, StreamVad, VadEvent
from pipeline.vad.energy import rms_dbfs

DATA_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
BLOCK_SAMPLES = 320  # 20 ms blocks, as capture writes them by default
RATE = SAMPLE_RATE_HZ

# Profile values this VAD was tuned to (see the VAD issue note); applied over config/profiles.py
# so the tests check what the profiles should ship. Empty once the profiles carry them.
PROPOSED_VAD_OVERRIDES: dict[str, dict[str, Any]] = {}  # the profiles now carry the proposals

pytestmark = pytest.mark.skipif(not DATA_DIR.is_dir(), reason="shared test audio not present")


@cache
def audio(name: str) -> np.ndarray:
    """A shared recording as 16 kHz mono float32, shape (n,)."""
    import soundfile as sf

    samples, rate = sf.read(DATA_DIR / name, dtype="float32", always_2d=True)
    mono = samples.mean(axis=1)
    if rate != RATE:
        import soxr

        mono = soxr.resample(mono, rate, RATE)
    return np.ascontiguousarray(mono, dtype=np.float32)


def utterances(name: str) -> list[tuple[float, float]]:
    meta = json.loads((DATA_DIR / name).with_suffix(".json").read_text())
    return [(u["start"], u["end"]) for u in meta["utterances"]]


def vad_config(profile: str = "balanced", **overrides: Any):
    from config.loader import load_config

    values = {**PROPOSED_VAD_OVERRIDES.get(profile, {}), **overrides}
    cli = {"profile": profile, **{f"vad.{k}": v for k, v in values.items()}}
    return load_config(environ={}, cli_overrides=cli).config.vad


def segments(samples: np.ndarray, config) -> tuple[list[SpeechEnd], list[VadEvent]]:
    """Run the streaming VAD over ``samples`` in capture-sized blocks; (ended segments, events)."""
    vad = StreamVad.from_config(config)
    events: list[VadEvent] = []
    for pos in range(0, samples.size, BLOCK_SAMPLES):
        events += vad.process(samples[pos : pos + BLOCK_SAMPLES], pos)
    events += vad.flush()
    return [e for e in events if isinstance(e, SpeechEnd)], events


def cut_utterances(ends: list[SpeechEnd], spans: list[tuple[float, float]]) -> list[tuple]:
    """Spans (seconds) not wholly inside one segment."""
    return [
        (a, b)
        for a, b in spans
        if not any(e.start_index <= a * RATE and b * RATE <= e.end_index for e in ends)
    ]


def noise_segments(ends: list[SpeechEnd], spans: list[tuple[float, float]]) -> list[SpeechEnd]:
    """Segments that overlap no reference span (wholly inside a pause)."""
    return [
        e
        for e in ends
        if not any(e.start_index < b * RATE and a * RATE < e.end_index for a, b in spans)
    ]


def inner(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Approximate sentence times shrunk by max(0.3 s, 20%) on each side."""
    return [(a + max(0.3, 0.2 * (b - a)), b - max(0.3, 0.2 * (b - a))) for a, b in spans]


@pytest.mark.parametrize("profile", ["balanced", "low-latency", "power-saving", "high-accuracy"])
def test_dictation_utterances_whole(profile: str) -> None:
    spans = utterances("dictation_dev.wav")
    ends, _ = segments(audio("dictation_dev.wav"), vad_config(profile))
    assert cut_utterances(ends, spans) == []
    assert noise_segments(ends, spans) == []


@pytest.mark.parametrize("profile", ["balanced", "low-latency"])
def test_harvard_sentences_whole(profile: str) -> None:
    spans = inner(utterances("harvard_list72_8k.wav"))
    ends, _ = segments(audio("harvard_list72_8k.wav"), vad_config(profile))
    assert cut_utterances(ends, spans) == []
    assert noise_segments(ends, spans) == []


def test_monologue_splits_only_at_max_duration_where_quiet() -> None:
    samples = audio("monologue_dev.wav")
    config = vad_config(max_segment_s=15.0)
    max_samples = int(config.max_segment_s * RATE)
    ends, events = segments(samples, config)
    spans = utterances("monologue_dev.wav")
    # Together the segments cover all speech, and they do not overlap.
    first, last = spans[0][0] * RATE, spans[-1][1] * RATE
    assert ends[0].start_index <= first and ends[-1].end_index >= last
    for a, b in itertools.pairwise(ends):
        assert a.split and b.start_index == a.end_index
    assert len(ends) == 3  # 35 s of speech, 15 s maximum
    for end in ends:
        assert end.length_samples <= max_samples
        if end.split:
            assert end.decided_index - end.start_index >= max_samples
            # The cut is quiet: its 32 ms are among the quietest fifth of the last 5 s.
            lookback = samples[end.decided_index - 5 * RATE : end.decided_index]
            levels = [rms_dbfs(lookback[k : k + 512]) for k in range(0, lookback.size - 511, 256)]
            at_cut = rms_dbfs(samples[end.end_index - 256 : end.end_index + 256])
            assert at_cut <= np.percentile(levels, 20)
    starts = [e for e in events if isinstance(e, SpeechStart)]
    assert [s.start_index for s in starts[1:]] == [e.end_index for e in ends[:-1]]


def _hum(n_samples: int) -> np.ndarray:
    t = np.arange(n_samples) / RATE
    hum = 0.1 * np.sin(2 * np.pi * 50 * t) + 0.03 * np.sin(2 * np.pi * 150 * t)
    return hum.astype(np.float32)


def _white(n_samples: int) -> np.ndarray:
    rms = 10 ** (-30 / 20)  # -30 dBFS
    return (np.random.default_rng(0).normal(0, rms, n_samples)).astype(np.float32)


@pytest.mark.parametrize("profile", ["balanced", "power-saving", "high-accuracy"])
@pytest.mark.parametrize(
    "make", [lambda n: np.zeros(n, np.float32), _white, _hum], ids=["silence", "white", "hum"]
)
def test_no_segments_in_non_speech(make, profile: str) -> None:
    _ends, events = segments(make(60 * RATE), vad_config(profile))
    assert events == []


def test_same_events_whatever_the_block_sizes() -> None:
    samples = audio("dictation_dev.wav")[: 20 * RATE]
    config = vad_config(max_segment_s=4.0)  # splits too
    _, reference = segments(samples, config)
    assert any(isinstance(e, SpeechEnd) and e.split for e in reference)
    rng = np.random.default_rng(1)
    for sizes in ([4097], [1, 511, 513], list(rng.integers(1, 6000, 50))):
        vad = StreamVad.from_config(config)
        events: list[VadEvent] = []
        pos = k = 0
        while pos < samples.size:
            size = int(sizes[k % len(sizes)])
            events += vad.process(samples[pos : pos + size], pos)
            pos, k = pos + size, k + 1
        assert events + vad.flush() == reference, sizes
