"""What the VAD state machine emits: small frozen events with absolute sample indices.

These stay inside ``pipeline.vad``; the VAD worker translates them into the bus messages
(``SpeechStarted``, ``SpeechOngoing``, ``SpeechPaused``, ``SpeechResumed``, ``SpeechEnded``)
with the stream id. Every index is an
absolute ring index (samples since the ring's start, 16 kHz). ``segment_index`` counts the
segments of one stream from 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class SpeechStart:
    segment_index: int  # per-stream segment counter
    start_index: int  # first sample of the segment, pre-roll included
    decided_index: int  # the audio up to this index had been seen when the start was decided


@dataclass(frozen=True)
class SpeechProgress:
    segment_index: int
    start_index: int  # first sample of the segment
    current_index: int  # audio of the segment seen so far ends here (exclusive)


@dataclass(frozen=True)
class SpeechPause:
    """Silence began inside an open segment (its hangover is running): the segment may end
    here, or speech may resume (``SpeechResume``). At most one per stretch of silence, or two:
    a tentative one (``confirm_index`` set) before the confirmed one."""

    segment_index: int
    start_index: int  # first sample of the segment
    pause_index: int  # the silence begins here (end of the last speech window)
    decided_index: int  # the audio up to this index had been seen when the pause was decided
    pause_number: int  # counts the pauses of the segment from 0
    confirm_index: int = 0  # tentative: where the pause is confirmed if the silence goes on

    @property
    def tentative(self) -> bool:
        """Sent at the shorter decode threshold; the confirmed pause may follow."""
        return self.confirm_index > 0


@dataclass(frozen=True)
class SpeechResume:
    """Speech came back after a ``SpeechPause``, before the hangover ended the segment."""

    segment_index: int
    start_index: int  # first sample of the segment
    resume_index: int  # first sample of the speech window that resumed it
    pause_number: int  # the pause it ends


@dataclass(frozen=True)
class SpeechEnd:
    segment_index: int
    start_index: int  # first sample of the segment
    end_index: int  # one past the last sample of the segment, hangover included
    decided_index: int  # the audio up to this index had been seen when the end was decided
    split: bool  # True: cut at the maximum segment duration; speech goes on in the next segment

    @property
    def length_samples(self) -> int:
        return self.end_index - self.start_index


VadEvent = Union[SpeechStart, SpeechProgress, SpeechPause, SpeechResume, SpeechEnd]  # noqa: UP007 (py3.10 target, runtime alias)
