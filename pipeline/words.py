"""Words and transcriptions: what every backend returns and every merger and publisher consumes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word. Times are seconds relative to the start of the audio given."""

    start_s: float
    end_s: float
    text: str  # as the model wrote it, leading space included for Whisper tokens
    probability: float  # mean token probability in [0, 1]

    def shifted(self, offset_s: float) -> Word:
        """The same word with both times moved by ``offset_s`` seconds."""
        return replace(self, start_s=self.start_s + offset_s, end_s=self.end_s + offset_s)


@dataclass(frozen=True, slots=True)
class Transcription:
    """A backend's answer for one piece of audio."""

    text: str  # the whole text, stripped
    words: tuple[Word, ...] = ()
    duration_s: float = 0.0  # length of the audio transcribed
    # Diagnostics of the decode (Whisper: no-speech probability, average log-probability,
    # compression ratio, temperature used). Free-form numbers, for metrics and tests.
    details: dict[str, float] = field(default_factory=dict)

    def shifted(self, offset_s: float) -> Transcription:
        """The same transcription with every word moved by ``offset_s`` seconds."""
        return replace(self, words=tuple(w.shifted(offset_s) for w in self.words))

    @property
    def is_empty(self) -> bool:
        return not self.text.strip()
