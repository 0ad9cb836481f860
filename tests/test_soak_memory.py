"""The soak's comparable memory samples (idle right after a request), the slope + 2 standard
errors bound, and the silent stretches of the looped file: pure logic, no daemon."""

from __future__ import annotations

import soundfile

from bench.soak_parts.memory import (
    MemorySample,
    MemorySeries,
    fit_all,
    requests_just_completed,
    worst_upper,
)
from bench.soak_parts.silence import build_looped_audio, silence_layout
from tests.data_paths import DATA_DIR


def _status(audio_s: float, *rows: tuple[str, int, str, int]) -> dict:
    return {
        "ring": {"write_s": audio_s},
        "processes": [
            {"role": role, "pid": pid, "state": state, "completed": completed}
            for role, pid, state, completed in rows
        ],
    }


def test_only_idle_workers_that_just_completed_a_request_are_sampled() -> None:
    completed: dict = {}
    rows = _status(0, ("asr-1", 10, "ready", 4), ("vad", 11, "running", 0))["processes"]
    assert requests_just_completed(rows, completed) == []  # first sight: the count only
    busy = _status(0, ("asr-1", 10, "busy", 5))["processes"]
    assert requests_just_completed(busy, completed) == []  # in a request: not comparable
    idle = _status(0, ("asr-1", 10, "ready", 6))["processes"]
    assert requests_just_completed(idle, completed) == [("asr-1", 10)]
    assert requests_just_completed(idle, completed) == []  # no new request since
    restarted = _status(0, ("asr-1", 12, "ready", 1))["processes"]
    assert requests_just_completed(restarted, completed) == []  # a new pid starts counting


def test_after_request_samples_remove_the_saw_tooth_from_the_bound() -> None:
    """A worker leaking 3 MB per audio hour, +0..70 MB whenever sampled mid-request, over half an
    hour of audio: every-poll samples give a bound far over 5, after-request ones the leak."""
    memory = MemorySeries()
    leak_mb_per_audio_h = 3.0
    for step in range(400):
        audio_s = step * 4.5
        base = 400.0 + leak_mb_per_audio_h * audio_s / 3600
        busy = step % 3 != 0
        status = _status(audio_s, ("asr-1", 7, "busy" if busy else "ready", step))
        memory.sample_after_requests(status, float(step), rss_mb_of=lambda pid, b=base: b)
        saw_mb = 7.0 * ((step * 7919) % 11) if busy else 0.0
        sample = MemorySample(float(step), audio_s, 7, base + saw_mb, None, None)
        memory.samples.setdefault("asr-1", []).append(sample)
    fits = fit_all(memory, warmup_audio_s=0.0, settle_s=0.0)["asr-1"]
    comparable = fits["rss_after_request"]
    assert comparable["samples_fitted"] >= 100
    assert abs(comparable["slope_mb_per_audio_h"] - leak_mb_per_audio_h) < 0.01
    assert comparable["upper_mb_per_audio_h"] < leak_mb_per_audio_h + 0.1
    assert fits["rss"]["upper_mb_per_audio_h"] > 10  # drowned: fails a 5 MB/h target
    worst = worst_upper({"asr-1": fits})
    assert worst["role"] == "asr-1" and worst["fit"] == "rss_after_request"
    assert worst["upper"] == comparable["upper_mb_per_audio_h"]
    assert worst_upper({})["upper"] is None and worst_upper({})["reason"]


def test_silent_stretches_follow_every_n_passes(tmp_path) -> None:
    layout = silence_layout(800, silence_hours=0.001, every_passes=2, rate_hz=16_000)
    assert layout.silence_samples == 57_600 and layout.loop_samples == 1600 + 57_600
    assert layout.stretches_until(2 * layout.loop_samples) == [
        (1600, 59_200),
        (1600 + layout.loop_samples, 59_200 + layout.loop_samples),
    ]
    target = tmp_path / "looped.wav"
    built = build_looped_audio(DATA_DIR / "dictation_dev.wav", target, 0.002, 2, kind="noise")
    audio, rate_hz = soundfile.read(str(target), dtype="int16")
    assert rate_hz == 16_000 and len(audio) == built.loop_samples
    speech = 2 * built.speech_samples
    tail = audio[speech:].astype(float)
    assert 0 < (tail**2).mean() ** 0.5 < 40  # low noise, about -60 dBFS (33 LSB RMS)


def test_floor_samples_find_the_leak_of_a_worker_that_is_never_idle() -> None:
    """Pace fast with a backlog: always busy, so no after-request sample; the lowest RSS per
    window (the trough between requests) still gives the leak, and the bound stays under 5."""
    memory = MemorySeries()
    leak_mb_per_audio_h = 3.0
    for step in range(900):  # a 1 s poll for 15 minutes, 2 audio seconds per wall second
        audio_s = step * 2.0
        trough = 400.0 + leak_mb_per_audio_h * audio_s / 3600
        rss_mb = trough + 7.0 * ((step * 7919) % 11)  # 0..70 MB into a request
        status = _status(audio_s, ("asr-1", 7, "busy", step))
        memory.sample_after_requests(status, float(step), rss_mb_of=lambda pid, r=rss_mb: r)
        memory.observe_floor(status, float(step), rss_mb_of=lambda pid, r=rss_mb: r)
        sample = MemorySample(float(step), audio_s, 7, rss_mb, None, None)
        memory.samples.setdefault("asr-1", []).append(sample)
    fits = fit_all(memory, warmup_audio_s=0.0, settle_s=0.0)["asr-1"]
    assert "rss_after_request" not in fits
    floor = fits["rss_floor"]
    assert floor["samples_fitted"] >= 50
    assert abs(floor["slope_mb_per_audio_h"] - leak_mb_per_audio_h) < 0.5, floor
    assert floor["upper_mb_per_audio_h"] < 5 < fits["rss"]["upper_mb_per_audio_h"]
    assert worst_upper({"asr-1": fits})["fit"] == "rss_floor"
