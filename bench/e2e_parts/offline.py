"""The offline reference: the model as a daemon worker loads it, run in the bench's process."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import soxr

from pipeline.audio_format import SAMPLE_RATE_HZ


def load_audio(path: Path) -> np.ndarray:
    """Any file soundfile reads, as float32 mono at 16 kHz, shape (samples,)."""
    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != SAMPLE_RATE_HZ:
        mono = soxr.resample(mono, rate, SAMPLE_RATE_HZ, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


class OfflineEngine:
    """One long-form pass per file, and the engine alone on given spans."""

    def __init__(self, workers: int, settings: tuple[str, ...] = ()) -> None:
        from config.loader import load_config
        from pipeline.backends.mlx_runtime import default_blas_threads
        from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions
        from pipeline.scheduling.options import SchedulerOptions

        overrides = dict(kv.split("=", 1) for kv in settings if kv.startswith("asr."))
        config = load_config(None, cli_overrides={**overrides, "asr.workers": workers}).config
        threads = config.asr.blas_threads or default_blas_threads(workers)
        options = replace(WhisperOptions.from_config(config.asr), blas_threads=threads)
        self.backend = WhisperBackend("", options)
        self.chunking = SchedulerOptions.from_config(config, "whisper", "model").chunking
        self.blas_threads = threads
        self._warm = False

    def long_form(self, audio: np.ndarray) -> tuple[str, float, float]:
        """(text, wall seconds, CPU seconds of this process) of one offline pass."""
        from pipeline.long_form import transcribe_long

        if not self._warm:
            transcribe_long(self.backend, audio[: SAMPLE_RATE_HZ * 5])
            self._warm = True
        cpu_s, wall_s = time.process_time(), time.perf_counter()
        text = transcribe_long(self.backend, audio).text
        return text, time.perf_counter() - wall_s, time.process_time() - cpu_s

    def segment_ms(self, audio: np.ndarray, finals: list[dict[str, Any]]) -> list[float]:
        """Engine milliseconds per final's span, cut into the scheduler's chunks."""
        from pipeline.chunking import split_span

        times_ms, prompt = [], ""
        for final in finals:
            start = round(final["start_s"] * SAMPLE_RATE_HZ)
            end = min(len(audio), round(final["end_s"] * SAMPLE_RATE_HZ))
            total_ms = 0.0
            for chunk in split_span(start, end, self.chunking):
                started_s = time.perf_counter()
                self.backend.transcribe(
                    audio[chunk.start_index : chunk.end_index], prompt=prompt or None
                )
                total_ms += (time.perf_counter() - started_s) * 1000.0
            times_ms.append(total_ms)
            prompt = final["text"] or prompt
        return times_ms
