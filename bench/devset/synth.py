"""Speech from espeak-ng: one utterance at a time, trimmed to its voiced part, at 16 kHz.

espeak-ng cannot report word times, so the dev set synthesizes every sentence on its own and
places it at a known offset; a sentence's start and end are where its trimmed audio begins and
ends. espeak-ng's output is deterministic for a given text, voice, rate and pitch.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr

SAMPLE_RATE_HZ = 16_000
TRIM_THRESHOLD = 0.01  # |sample| above this counts as speech when trimming espeak's silence
TRIM_MARGIN_S = 0.01  # kept on each side of the voiced part
SYNTH_TIMEOUT_S = 30.0


class SynthesisError(RuntimeError):
    """espeak-ng is missing or failed on a sentence."""


@dataclass(frozen=True)
class Voice:
    """One espeak-ng speaker: language voice, variant, speaking rate and pitch."""

    name: str  # e.g. "en-us"
    variant: str  # e.g. "m3", "f2" ("" for the voice's default)
    rate_wpm: int  # espeak-ng -s (80..450)
    pitch: int  # espeak-ng -p (0..99)

    @property
    def spec(self) -> str:
        return f"{self.name}+{self.variant}" if self.variant else self.name

    def as_dict(self) -> dict[str, object]:
        return {"voice": self.spec, "rate_wpm": self.rate_wpm, "pitch": self.pitch}


def espeak_binary() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise SynthesisError(
            "espeak-ng is not installed (Debian: apt-get install espeak-ng; `make system-deps`)"
        )
    return path


def espeak_version() -> str:
    result = subprocess.run(
        [espeak_binary(), "--version"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip()


def synthesize(text: str, voice: Voice) -> np.ndarray:
    """``text`` spoken by ``voice``: float32 mono at 16 kHz, shape (samples,), trimmed."""
    command = [
        espeak_binary(), "-v", voice.spec, "-s", str(voice.rate_wpm), "-p", str(voice.pitch),
        "--stdout", text,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, timeout=SYNTH_TIMEOUT_S, check=False)
    if result.returncode != 0 or not result.stdout:
        raise SynthesisError(
            f"espeak-ng failed on {text!r} with {voice.spec}: "
            f"{result.stderr.decode(errors='replace').strip() or 'no audio'}"
        )
    audio, rate = soundfile.read(io.BytesIO(result.stdout), dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    audio = soxr.resample(audio, rate, SAMPLE_RATE_HZ, quality="HQ").astype(np.float32)
    return trim(audio)


def trim(audio: np.ndarray) -> np.ndarray:
    """``audio`` without the silence before the first and after the last voiced sample."""
    voiced = np.flatnonzero(np.abs(audio) > TRIM_THRESHOLD)
    if voiced.size == 0:
        raise SynthesisError("espeak-ng produced only silence")
    margin = round(TRIM_MARGIN_S * SAMPLE_RATE_HZ)
    start = max(0, int(voiced[0]) - margin)
    end = min(len(audio), int(voiced[-1]) + 1 + margin)
    return np.ascontiguousarray(audio[start:end])
