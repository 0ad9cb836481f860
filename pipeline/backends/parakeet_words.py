"""Parakeet's streaming options and the subword pieces -> words conversion.

Shared by the offline backend (``parakeet.py``) and the streaming session
(``parakeet_stream.py``); no model and no mlx here.

Words are built from the model's subword pieces: a piece whose text starts with a space (the
SentencePiece "▁" marker, turned into a space by parakeet-mlx) starts a new word; the others
continue the word before. A word's probability is the mean of its pieces' confidences.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from pipeline.errors import ConfigError
from pipeline.words import Transcription, Word

if TYPE_CHECKING:
    from config.schema import AsrConfig

SAMPLE_RATE = 16000  # Hz; the rate every backend receives
ATTENTION_MODES = ("local", "full")
DTYPES = ("float32", "bfloat16", "float16")  # float16 works but is slow on CPU
OFFLINE_MAX_WINDOW_S = (
    60.0  # full attention is quadratic in length; longer audio is chunked upstream
)


@dataclass(frozen=True, slots=True)
class StreamContext:
    """A streaming configuration in encoder frames (one frame = subsampling × mel hop)."""

    left_frames: int  # frames of history kept in the attention cache
    chunk_frames: int  # frames finalized per encoder step
    right_frames: int  # lookahead frames, re-encoded at the next step (they make the draft)
    frame_samples: int  # audio samples per encoder frame (1280 = 80 ms for parakeet)

    @property
    def context_size(self) -> tuple[int, int]:
        """parakeet-mlx's ``transcribe_stream(context_size=(left, right))``, in frames."""
        return (self.left_frames, self.right_frames)

    @property
    def step_frames(self) -> int:
        """Frames one encoder step consumes: the chunk plus its lookahead."""
        return self.chunk_frames + self.right_frames

    @property
    def latency_s(self) -> float:
        """Theoretical latency: audio is final once a chunk and its right context have arrived."""
        return self.step_frames * self.frame_samples / SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class ParakeetStreamingOptions:
    """How a parakeet stream trades latency for accuracy. Times in seconds of audio."""

    left_context_s: float = 5.0  # history the encoder attends to
    chunk_s: float = 0.5  # audio finalized per encoder step
    right_context_s: float = 0.5  # lookahead before a chunk is finalized
    attention: str = "local"  # local: each frame sees left/right context only; full: whole window
    dtype: str = "float32"  # weights and activations: float32, bfloat16 (float16: slow on CPU)
    min_confidence: float = 0.0  # pieces with a lower confidence are dropped

    PRESETS: ClassVar[dict[str, tuple[float, float, float]]] = {
        "low-latency": (2.0, 0.25, 0.25),
        "balanced": (5.0, 0.5, 0.5),
        "high-quality": (10.0, 1.0, 1.0),
    }

    def __post_init__(self) -> None:
        checks = (
            ("left_context_s", self.left_context_s >= 0, ">= 0"),
            ("chunk_s", self.chunk_s > 0, "> 0"),
            ("right_context_s", self.right_context_s >= 0, ">= 0"),
            ("attention", self.attention in ATTENTION_MODES, f"one of {ATTENTION_MODES}"),
            ("dtype", self.dtype in DTYPES, f"one of {DTYPES}"),
            ("min_confidence", 0.0 <= self.min_confidence <= 1.0, "in [0, 1]"),
        )
        for key, ok, allowed in checks:
            if not ok:
                raise ConfigError(f"parakeet {key}={getattr(self, key)!r}: must be {allowed}")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ParakeetStreamingOptions:
        """``low-latency`` (2/0.25/0.25 s), ``balanced`` (5/0.5/0.5 s), ``high-quality`` (10/1/1 s)."""
        if name not in cls.PRESETS:
            raise ConfigError(f"parakeet preset {name!r}: must be one of {tuple(cls.PRESETS)}")
        left_s, chunk_s, right_s = cls.PRESETS[name]
        return cls(left_context_s=left_s, chunk_s=chunk_s, right_context_s=right_s, **overrides)

    @classmethod
    def from_config(cls, asr: AsrConfig) -> ParakeetStreamingOptions:
        return cls(
            left_context_s=asr.parakeet_left_context_s,
            chunk_s=asr.parakeet_chunk_s,
            right_context_s=asr.parakeet_right_context_s,
            attention=asr.parakeet_attention,
            dtype=asr.dtype,
            min_confidence=asr.parakeet_min_confidence,
        )

    @property
    def latency_s(self) -> float:
        """Theoretical latency before frame rounding: chunk + right context."""
        return self.chunk_s + self.right_context_s

    def context(self, frame_samples: int) -> StreamContext:
        """These seconds in encoder frames of ``frame_samples`` samples (rounded to nearest)."""
        frame_s = frame_samples / SAMPLE_RATE
        return StreamContext(
            left_frames=_nearest_frames(self.left_context_s, frame_s),
            chunk_frames=max(1, _nearest_frames(self.chunk_s, frame_s)),
            right_frames=_nearest_frames(self.right_context_s, frame_s),
            frame_samples=frame_samples,
        )


def _nearest_frames(seconds: float, frame_s: float) -> int:
    return math.floor(seconds / frame_s + 0.5 + 1e-9)


@dataclass(frozen=True, slots=True)
class Piece:
    """One decoded subword piece; times in seconds from the start of the audio (or stream)."""

    start_s: float
    end_s: float
    text: str  # " word" starts a word, "ing" continues one
    confidence: float  # parakeet-mlx's entropy-based confidence in [0, 1]

    @property
    def starts_word(self) -> bool:
        return self.text.startswith(" ")


def pieces_from_tokens(tokens: Iterable[Any], offset_s: float = 0.0) -> list[Piece]:
    """parakeet-mlx ``AlignedToken``s (start, end, text, confidence) shifted by ``offset_s``."""
    return [
        Piece(
            start_s=offset_s + float(t.start),
            end_s=offset_s + float(t.end),
            text=t.text,
            confidence=min(1.0, max(0.0, float(t.confidence))),
        )
        for t in tokens
    ]


def group_words(pieces: Sequence[Piece]) -> list[list[Piece]]:
    """Split pieces into words: a new word at every piece that starts with a space."""
    groups: list[list[Piece]] = []
    for piece in pieces:
        if piece.starts_word or not groups:
            groups.append([piece])
        else:
            groups[-1].append(piece)
    return groups


def word_from_pieces(pieces: Sequence[Piece], min_confidence: float = 0.0) -> Word | None:
    """One word from its pieces, without those under ``min_confidence``; None if none is left."""
    kept = [p for p in pieces if p.confidence >= min_confidence]
    if not kept:
        return None
    text = "".join(p.text for p in kept)
    if pieces[0].starts_word and not text.startswith(" "):
        text = " " + text
    return Word(
        start_s=kept[0].start_s,
        end_s=max(p.end_s for p in kept),
        text=text,
        probability=float(np.mean([p.confidence for p in kept])),
    )


def words_from_pieces(pieces: Sequence[Piece], min_confidence: float = 0.0) -> list[Word]:
    words = (word_from_pieces(g, min_confidence) for g in group_words(pieces))
    return [w for w in words if w is not None]


def transcription_from_words(words: Sequence[Word], duration_s: float) -> Transcription:
    return Transcription(
        text="".join(w.text for w in words).strip(), words=tuple(words), duration_s=duration_s
    )


def clamp_pieces(pieces: Sequence[Piece], end_s: float, start_s: float = 0.0) -> list[Piece]:
    """Pieces with times inside [start_s, end_s] and starts non-decreasing (decoders may overshoot)."""
    out: list[Piece] = []
    floor_s = start_s
    for p in pieces:
        piece_start_s = min(max(p.start_s, floor_s), end_s)
        piece_end_s = min(max(p.end_s, piece_start_s), end_s)
        out.append(Piece(piece_start_s, piece_end_s, p.text, p.confidence))
        floor_s = piece_start_s
    return out
