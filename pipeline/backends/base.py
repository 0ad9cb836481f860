"""The backend interface every inference engine implements.

A backend loads one model once and turns 16 kHz mono float32 audio into a ``Transcription``.
Stateful streaming models (parakeet) also open per-stream sessions fed with audio as it arrives.
Heavy imports (mlx, parakeet_mlx, mlx_whisper) happen inside the concrete backends only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from pipeline.errors import BackendError
from pipeline.words import Transcription, Word


@dataclass(frozen=True, slots=True)
class Capabilities:
    offline: bool  # transcribe(audio) works
    streaming: bool  # open_stream() works
    max_window_s: float  # longest audio one transcribe() call handles well (Whisper: 30 s)


@dataclass(frozen=True, slots=True)
class StreamUpdate:
    """What a streaming session produced after one ``feed``."""

    finalized: tuple[Word, ...] = ()  # words that will not change any more (new since last update)
    draft: tuple[Word, ...] = ()  # the current unstable tail; replaces the previous draft
    # Absolute position (samples fed since the session opened) up to which words are final.
    finalized_sample_count: int = 0


@dataclass(frozen=True, slots=True)
class MemoryStats:
    """Memory of the inference engine itself, beyond the process RSS."""

    active_bytes: int = 0  # MLX active (live array) memory
    cache_bytes: int = 0  # MLX buffer cache
    peak_bytes: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class StreamSession(ABC):
    """One stream's state inside a streaming backend, owned by exactly one worker."""

    @abstractmethod
    def feed(self, audio: np.ndarray) -> StreamUpdate:
        """Append audio (float32, shape (n,)) and return the new finals and the current draft."""

    @abstractmethod
    def finish(self) -> Transcription:
        """Flush the draft into finals and return the whole segment; the session is then reset."""

    @abstractmethod
    def reset(self) -> None:
        """Drop all state (called at every segment end)."""


class Backend(ABC):
    """A loaded model. Construct once per process; call ``transcribe`` many times."""

    name: str = "abstract"

    @property
    @abstractmethod
    def model_name(self) -> str:
        """A short human name of the loaded model (e.g. ``whisper-tiny.en``)."""

    @property
    @abstractmethod
    def capabilities(self) -> Capabilities: ...

    @abstractmethod
    def transcribe(self, audio: np.ndarray, prompt: str | None = None) -> Transcription:
        """Transcribe ``audio`` (float32, shape (n,), 16 kHz mono); word times relative to its start.

        ``prompt`` is the previous final text of the same stream, for backends that use it.
        Silence and noise give an empty ``Transcription``.
        """

    def open_stream(self) -> StreamSession:
        """Open a streaming session; only backends with ``capabilities.streaming``."""
        raise BackendError(f"backend {self.name!r} does not support streaming")

    def memory_stats(self) -> MemoryStats:
        return MemoryStats()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model."""
