"""The VAD hysteresis state machine: window verdicts in, segment events out.

States: quiet -> starting -> speaking -> stopping -> quiet.

- quiet: a speech window makes it ``starting`` at that window (the candidate start).
- starting: speech windows accumulate; once ``min_speech_samples`` of them are seen the
  segment starts (``SpeechStart``) at the candidate start minus the pre-roll, clamped to the
  stream start and to the last speech of the previous segment: the pre-roll may reach back into
  the previous segment's hangover (audio the VAD judged silence), so a short pause followed by a
  soft onset loses no speech. A silence of ``max_start_gap_samples``
  drops the candidate (a click or a burst is not speech).
- speaking: a non-speech window makes it ``stopping``.
- stopping: speech makes it ``speaking`` again; ``hangover_samples`` of silence after the last
  speech end the segment (``SpeechEnd``) at the end of that silence. Once ``pause_samples`` of
  that silence have passed, a ``SpeechPause`` goes out (the scheduler may decode the final
  early, or end the segment at once after a complete sentence); speech coming back after it
  sends a ``SpeechResume``. With ``pause_decode_samples`` set, a tentative ``SpeechPause`` goes
  out first, after that shorter silence (the scheduler starts decoding the early final then and
  commits it only once the pause is confirmed); speech coming back after either sends the
  ``SpeechResume``.

A segment that reaches ``max_segment_samples`` is split at the quietest point of the recent
past (the lowest 3-window mean energy in the last ``split_lookback_samples``); the next segment
starts right there. While speech goes on a ``SpeechProgress`` goes out every
``partial_interval_samples`` (none during the hangover's silence), the first one
``first_progress_samples`` after the start decision (a segment's first partial needs little
audio). Pre-roll, hangover and splits are index arithmetic: no audio is kept here, only one
level per window for the split search.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipeline.audio_format import seconds_to_samples
from pipeline.vad.detector import WindowVerdict
from pipeline.vad.events import (
    SpeechEnd,
    SpeechPause,
    SpeechProgress,
    SpeechResume,
    SpeechStart,
    VadEvent,
)

if TYPE_CHECKING:
    from config.schema import VadConfig

logger = logging.getLogger(__name__)

SPLIT_LOOKBACK_MAX_S = 5.0  # the split point is searched in at most this much recent audio
SPLIT_SMOOTH_WINDOWS = 3  # windows averaged when looking for the quietest point
PROGRESS_MAX_S = 0.25  # SpeechProgress at least this often: partials start from fresh audio
# The first SpeechProgress of a segment comes this soon after the start decision, so the
# scheduler learns the audio a first (preview) partial needs ~0.15 s sooner than one full step
# (bench/commit_latency.py --simulate --cost-model on the dictation: first partial p50 797 ->
# 706 ms with previews that give nothing tried again, see first_partial.py)
FIRST_PROGRESS_S = 0.1
# ... and not before this much speech (from its first speech window): a preview over less
# often fails Whisper's checks and is decoded again over the full 30 s window (~1 s of a worker;
# simulated on the dictation, 0.3 s of speech: first partial p50 1376 ms against 710)
FIRST_PROGRESS_SPEECH_S = 0.35


class VadState(enum.Enum):
    QUIET = "quiet"
    STARTING = "starting"
    SPEAKING = "speaking"
    STOPPING = "stopping"


@dataclass(frozen=True)
class SegmenterParams:
    """Hysteresis parameters, all in samples at 16 kHz."""

    min_speech_samples: int = 4_000  # speech needed before a segment starts (250 ms)
    hangover_samples: int = 9_600  # silence after the last speech that ends a segment (600 ms)
    pre_roll_samples: int = 4_800  # audio kept before the first speech window (300 ms)
    max_segment_samples: int = 480_000  # longer segments are split (30 s)
    partial_interval_samples: int = 16_000  # SpeechProgress cadence (1 s)
    max_start_gap_samples: int = 1_600  # silence that drops a start candidate (100 ms)
    split_lookback_samples: int = 80_000  # where the split point is searched (5 s)
    pause_samples: int = 3_200  # silence that sends a SpeechPause (200 ms); 0: no pause events
    pause_decode_samples: int = 0  # silence that sends a tentative SpeechPause first; 0: none
    first_progress_samples: int | None = None  # first SpeechProgress after the start decision
    # (None: one ``partial_interval_samples``) ...
    first_progress_speech_samples: int = 0  # ... once this much speech was heard

    def __post_init__(self) -> None:
        for name in ("min_speech_samples", "hangover_samples", "max_segment_samples"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.pause_samples < self.hangover_samples:
            raise ValueError(
                f"pause_samples must be in [0, hangover_samples = {self.hangover_samples}), "
                f"got {self.pause_samples}"
            )
        if self.pause_decode_samples and not 0 < self.pause_decode_samples < self.pause_samples:
            raise ValueError(
                f"pause_decode_samples must be 0 or in (0, pause_samples = {self.pause_samples}), "
                f"got {self.pause_decode_samples}"
            )
        if self.first_progress_speech_samples < 0:
            raise ValueError(
                "first_progress_speech_samples must not be negative, "
                f"got {self.first_progress_speech_samples}"
            )
        if self.first_progress_samples is not None and self.first_progress_samples < 0:
            raise ValueError(
                f"first_progress_samples must not be negative, got {self.first_progress_samples}"
            )
        if self.split_lookback_samples >= self.max_segment_samples:
            raise ValueError("split_lookback_samples must be shorter than max_segment_samples")

    @classmethod
    def from_config(cls, config: VadConfig) -> SegmenterParams:
        max_segment_samples = seconds_to_samples(config.max_segment_s)
        hangover_samples = seconds_to_samples(config.hangover_ms / 1000)
        pause_samples = min(seconds_to_samples(config.pause_ms / 1000), hangover_samples // 2)
        pause_decode_samples = seconds_to_samples(config.pause_decode_ms / 1000)
        if pause_decode_samples >= pause_samples:
            pause_decode_samples = 0  # a tentative pause only before the confirmed one
        return cls(
            min_speech_samples=seconds_to_samples(config.min_speech_ms / 1000),
            hangover_samples=hangover_samples,
            pre_roll_samples=seconds_to_samples(config.pre_roll_ms / 1000),
            max_segment_samples=max_segment_samples,
            partial_interval_samples=seconds_to_samples(
                min(config.partial_interval_s, PROGRESS_MAX_S)
            ),
            split_lookback_samples=min(
                seconds_to_samples(SPLIT_LOOKBACK_MAX_S), max_segment_samples // 2
            ),
            pause_samples=pause_samples,
            pause_decode_samples=pause_decode_samples,
            first_progress_samples=seconds_to_samples(FIRST_PROGRESS_S),
            first_progress_speech_samples=seconds_to_samples(FIRST_PROGRESS_SPEECH_S),
        )


class SpeechStateMachine:
    """Turns one verdict per window into ``SpeechStart``/``SpeechProgress``/``SpeechEnd``."""

    def __init__(self, params: SegmenterParams) -> None:
        self.params = params
        # (window start index, window end index, level dBFS) of the recent windows.
        self._levels: deque[tuple[int, int, float]] = deque()
        self.reset(0)

    @property
    def state(self) -> VadState:
        return self._state

    @property
    def segment_open(self) -> bool:
        return self._state in (VadState.SPEAKING, VadState.STOPPING)

    def reset(self, stream_start_index: int, next_segment_index: int = 0) -> None:
        """Start a new stream whose first sample is ``stream_start_index``."""
        self._state = VadState.QUIET
        self._floor_index = stream_start_index  # no segment may start before this
        self._segment_index = next_segment_index
        self._candidate_index = 0  # first speech window of a start candidate
        self._speech_samples = 0  # speech seen since the candidate
        self._last_speech_end_index = stream_start_index
        self._segment_start_index = 0
        self._next_progress_index = 0
        self._paused = False  # a SpeechPause went out for the current silence
        self._tentative = False  # a tentative SpeechPause went out for the current silence
        self._pause_number = 0  # pauses of the open segment so far
        self._levels.clear()

    @property
    def next_segment_index(self) -> int:
        return self._segment_index

    def update(self, start_index: int, end_index: int, verdict: WindowVerdict) -> list[VadEvent]:
        """Feed the verdict of the window ``[start_index, end_index)``; return the events it causes."""
        p = self.params
        events: list[VadEvent] = []
        self._levels.append((start_index, end_index, verdict.level_dbfs))
        while self._levels and self._levels[0][0] < end_index - p.split_lookback_samples:
            self._levels.popleft()

        state = self._state
        if state is VadState.QUIET and verdict.is_speech:
            self._candidate_index = start_index
            self._speech_samples = 0
            state = VadState.STARTING
        if state is VadState.STARTING:
            if verdict.is_speech:
                self._speech_samples += end_index - start_index
                self._last_speech_end_index = end_index
                if self._speech_samples >= p.min_speech_samples:
                    start = max(self._candidate_index - p.pre_roll_samples, self._floor_index)
                    events.append(self._open(start, end_index))
                    state = VadState.SPEAKING
            elif end_index - self._last_speech_end_index >= p.max_start_gap_samples:
                state = VadState.QUIET
        elif state is VadState.SPEAKING or state is VadState.STOPPING:
            if verdict.is_speech:
                if self._paused or self._tentative:
                    events.append(self._resume(start_index))
                self._last_speech_end_index = end_index
                state = VadState.SPEAKING
            else:
                state = VadState.STOPPING
                silence_samples = end_index - self._last_speech_end_index
                if silence_samples >= p.hangover_samples:
                    events.append(self._close(end_index, end_index, split=False))
                    state = VadState.QUIET
                elif not self._paused and 0 < p.pause_samples <= silence_samples:
                    events.append(self._pause(end_index))
                elif (
                    not self._paused
                    and not self._tentative
                    and 0 < p.pause_decode_samples <= silence_samples
                ):
                    events.append(self._pause(end_index, window_samples=end_index - start_index))
        self._set_state(state, end_index)

        if self.segment_open and end_index - self._segment_start_index >= p.max_segment_samples:
            events.extend(self._split(end_index))
        # No progress while stopping: a partial over the hangover's silence would only hold up
        # the final that is about to be due (a worker cannot be interrupted).
        if self._state is VadState.SPEAKING and end_index >= self._next_progress_index:
            events.append(SpeechProgress(self._segment_index, self._segment_start_index, end_index))
            while self._next_progress_index <= end_index:
                self._next_progress_index += p.partial_interval_samples
        return events

    def flush(self, end_index: int) -> list[VadEvent]:
        """End of stream at ``end_index``: close an open segment there (a start candidate that
        never reached the minimum speech is dropped)."""
        events: list[VadEvent] = []
        if self.segment_open:
            end = max(end_index, self._segment_start_index)
            events.append(self._close(end, end, split=False))
        self._set_state(VadState.QUIET, end_index)
        return events

    def _set_state(self, state: VadState, index: int) -> None:
        if state is not self._state and logger.isEnabledFor(logging.DEBUG):
            logger.debug("vad %s -> %s at %d", self._state.value, state.value, index)
        self._state = state

    def _open(self, start_index: int, decided_index: int) -> SpeechStart:
        self._segment_start_index = start_index
        p = self.params
        first = p.partial_interval_samples
        if p.first_progress_samples is not None:
            first = min(first, p.first_progress_samples)
        self._next_progress_index = min(
            decided_index + p.partial_interval_samples,
            max(decided_index + first, self._candidate_index + p.first_progress_speech_samples),
        )
        return SpeechStart(self._segment_index, start_index, decided_index)

    def _pause(self, decided_index: int, window_samples: int = 0) -> SpeechPause:
        """The confirmed pause; with ``window_samples`` (the VAD's window), the tentative one,
        naming where the confirmed one will be decided if the silence goes on (silence is counted
        in whole windows)."""
        confirm_index = 0
        if window_samples:
            self._tentative = True
            windows = -(-self.params.pause_samples // window_samples)
            confirm_index = self._last_speech_end_index + windows * window_samples
        else:
            self._paused = True
        return SpeechPause(
            self._segment_index,
            self._segment_start_index,
            self._last_speech_end_index,
            decided_index,
            self._pause_number,
            confirm_index=confirm_index,
        )

    def _resume(self, resume_index: int) -> SpeechResume:
        event = SpeechResume(
            self._segment_index, self._segment_start_index, resume_index, self._pause_number
        )
        self._paused = False
        self._tentative = False
        self._pause_number += 1
        return event

    def _close(self, end_index: int, decided_index: int, split: bool) -> SpeechEnd:
        event = SpeechEnd(
            self._segment_index, self._segment_start_index, end_index, decided_index, split
        )
        self._segment_index += 1
        self._paused = False
        self._tentative = False
        self._pause_number = 0
        # A later pre-roll may overlap this segment's hangover, never its speech; after a split
        # the next segment starts exactly at the split.
        self._floor_index = end_index if split else min(end_index, self._last_speech_end_index)
        return event

    def _split(self, end_index: int) -> list[VadEvent]:
        """The open segment reached the maximum duration at ``end_index``: cut it."""
        if self._state is VadState.STOPPING:
            # Already in the silence after speech: end here instead of starting a segment of silence.
            self._set_state(VadState.QUIET, end_index)
            end = min(end_index, self._segment_start_index + self.params.max_segment_samples)
            return [self._close(end, end_index, split=False)]
        split_index = self.quietest_index(
            self._segment_start_index + self.params.min_speech_samples
        )
        if split_index is None:
            split_index = end_index
        logger.debug("vad split of segment %d at %d", self._segment_index, split_index)
        ended = self._close(split_index, end_index, split=True)
        started = SpeechStart(self._segment_index, split_index, end_index)
        self._segment_start_index = split_index
        return [ended, started]

    def quietest_index(self, not_before_index: int) -> int | None:
        """Middle of the quietest stretch among the recent windows starting at or after
        ``not_before_index`` (lowest mean power over ``SPLIT_SMOOTH_WINDOWS`` windows; the
        latest wins a tie). None when no window qualifies."""
        windows = [w for w in self._levels if w[0] >= not_before_index]
        if not windows:
            return None
        power = np.power(10.0, np.array([w[2] for w in windows]) / 10.0)  # shape (n,)
        k = min(SPLIT_SMOOTH_WINDOWS, power.size)
        smoothed = np.convolve(power, np.ones(k) / k, mode="valid")  # shape (n - k + 1,)
        best = int(smoothed.size - 1 - np.argmin(smoothed[::-1]))
        first = windows[best]
        last = windows[best + k - 1]
        return (first[0] + last[1]) // 2
