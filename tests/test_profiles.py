"""The profiles' VAD and scheduling keys reach the parts that use them."""

from __future__ import annotations

from config.loader import load_config
from config.schema import VadConfig
from pipeline.audio_format import seconds_to_samples
from pipeline.scheduling import SchedulerOptions
from pipeline.vad.state_machine import SegmenterParams


def test_pause_ms_sets_the_pause_threshold_at_most_half_the_hangover() -> None:
    assert SegmenterParams.from_config(VadConfig(pause_ms=150)).pause_samples == 2_400
    capped = SegmenterParams.from_config(VadConfig(pause_ms=400, hangover_ms=600))
    assert capped.pause_samples == seconds_to_samples(0.3)


def test_each_profile_changes_what_it_says() -> None:
    def loaded(profile: str) -> tuple[SegmenterParams, SchedulerOptions]:
        config = load_config(None, environ={}, cli_overrides={"profile": profile}).config
        options = SchedulerOptions.from_config(config, "whisper", "tiny.en")
        return SegmenterParams.from_config(config.vad), options

    vad, options = loaded("balanced")
    fast_vad, fast = loaded("low-latency")
    _, saving = loaded("power-saving")
    assert fast.partial_interval_s <= options.partial_interval_s < saving.partial_interval_s
    assert fast_vad.pause_samples < vad.pause_samples
    assert fast_vad.hangover_samples <= vad.hangover_samples
