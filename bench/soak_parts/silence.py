"""Long silent stretches in the looped audio: a night with the microphone open.

``build_looped_audio`` writes one WAV that the daemon loops: ``every_passes`` passes of the
speech file, then ``silence_hours`` of silence, digital (zeros) or low noise (Gaussian at
``NOISE_DBFS``, the floor of a quiet room through a real microphone). The daemon runs it at pace
fast, so an hour of silence costs minutes of wall time (the VAD reads it; no request is made).

``silence_layout`` says where each stretch lies in one pass of the composite (pure logic, for the
accounting and the tests). The expected segments come from the in-process VAD over the composite
like any other looped file (``expected.compute_template``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

NOISE_DBFS = -60.0  # RMS of the low-noise silence, dB re full scale
CHUNK_S = 60.0  # silence is written a minute at a time (an hour never sits in memory)
SILENCE_KINDS = ("digital", "noise")


@dataclass(frozen=True)
class SilenceLayout:
    speech_samples: int  # one pass of the speech file
    every_passes: int  # passes of speech before each silent stretch
    silence_samples: int  # one silent stretch

    @property
    def loop_samples(self) -> int:
        """One pass of the composite file: the speech passes and one stretch."""
        return self.every_passes * self.speech_samples + self.silence_samples

    def silence_fraction(self) -> float:
        return self.silence_samples / self.loop_samples if self.loop_samples else 0.0

    def stretches_until(self, end_sample: int) -> list[tuple[int, int]]:
        """(start, end) sample ranges of every silent stretch that starts before ``end_sample``."""
        out = []
        start = self.every_passes * self.speech_samples
        while self.silence_samples > 0 and start < end_sample:
            out.append((start, start + self.silence_samples))
            start += self.loop_samples
        return out


def silence_layout(
    speech_samples: int, silence_hours: float, every_passes: int, rate_hz: int
) -> SilenceLayout:
    if every_passes < 1:
        raise ValueError(f"--silence-every {every_passes} must be >= 1 pass of the audio")
    if silence_hours < 0:
        raise ValueError(f"--silence-hours {silence_hours} must be >= 0")
    return SilenceLayout(speech_samples, every_passes, round(silence_hours * 3600 * rate_hz))


def build_looped_audio(
    source: Path,
    target: Path,
    silence_hours: float,
    every_passes: int,
    kind: str = "digital",
    seed: int = 0,
) -> SilenceLayout:
    """Write ``target``: ``every_passes`` x ``source`` then ``silence_hours`` of silence."""
    import soundfile

    if kind not in SILENCE_KINDS:
        raise ValueError(f"silence kind {kind!r} is not one of {', '.join(SILENCE_KINDS)}")
    speech, rate_hz = soundfile.read(str(source), dtype="int16", always_2d=True)
    layout = silence_layout(len(speech), silence_hours, every_passes, rate_hz)
    rng = np.random.default_rng(seed)
    noise_rms = 32767 * 10 ** (NOISE_DBFS / 20)
    channels = speech.shape[1]
    with soundfile.SoundFile(
        str(target), "w", samplerate=rate_hz, channels=channels, subtype="PCM_16"
    ) as out:
        for _ in range(every_passes):
            out.write(speech)
        left = layout.silence_samples
        chunk = int(CHUNK_S * rate_hz)
        while left > 0:
            size = min(chunk, left)
            if kind == "digital":
                block = np.zeros((size, channels), dtype=np.int16)
            else:
                noise = rng.normal(0.0, noise_rms, (size, channels))
                block = np.clip(np.round(noise), -32768, 32767).astype(np.int16)
            out.write(block)
            left -= size
    return layout
