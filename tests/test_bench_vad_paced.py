"""bench/vad.py's paced figures: the VAD fed one capture block per wake-up at speaking speed."""

from __future__ import annotations

from bench.vad import load_recording, vad_config
from bench.vad_parts.paced import paced_figures
from pipeline.audio_format import SAMPLE_RATE_HZ


def test_paced_figures_cover_each_block_size_and_the_hot_loop() -> None:
    excerpt = load_recording("dictation_dev.wav").samples[:SAMPLE_RATE_HZ]  # 1 s: ~2 s paced
    figures = paced_figures(vad_config("balanced", shipped=True), excerpt, [32, 96])
    assert set(figures["paced_cpu_fraction"]) == {"32", "96"}
    assert all(v > 0 for v in figures["paced_cpu_fraction"].values()), figures
    assert figures["paced_hot_cpu_fraction"] > 0, figures
    assert figures["paced_audio_s"] == 1.0
