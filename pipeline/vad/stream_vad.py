"""The streaming VAD front: blocks of any size in, segment events out.

``StreamVad`` frames the blocks read from the ring into fixed windows on a grid anchored at
the stream's first index, judges each window with a ``SpeechDetector`` and feeds the verdicts to
the ``SpeechStateMachine``. Only one partial window is carried between calls, so the memory is
fixed; and since the grid does not depend on how the audio was cut into blocks, the same audio
gives the same events whatever the block sizes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from pipeline.audio_format import SAMPLE_DTYPE
from pipeline.vad.detector import DetectorStats, SpeechDetector
from pipeline.vad.events import VadEvent
from pipeline.vad.state_machine import SegmenterParams, SpeechStateMachine, VadState

if TYPE_CHECKING:
    from config.schema import VadConfig

logger = logging.getLogger(__name__)


class StreamVad:
    """VAD of one stream: ``process`` blocks, ``flush`` at the end, ``reset`` for a new stream."""

    def __init__(self, detector: SpeechDetector, params: SegmenterParams) -> None:
        self.detector = detector
        self.params = params
        self.machine = SpeechStateMachine(params)
        n = detector.window_samples
        self._window_samples = n
        # [previous window | current window being filled], shape (2 * n,).
        self._context = np.zeros(2 * n, dtype=SAMPLE_DTYPE)
        self._filled = 0  # samples of the current window received so far
        self._stream_start_index: int | None = None  # first index of the stream, once seen
        self._window_start_index = 0  # index of the current window's first sample

    @classmethod
    def from_config(cls, config: VadConfig) -> StreamVad:
        """The tiered detector and the state machine, both configured from ``config``."""
        from pipeline.vad.tiered import TieredDetector

        return cls(TieredDetector.from_config(config), SegmenterParams.from_config(config))

    @property
    def state(self) -> VadState:
        return self.machine.state

    @property
    def next_index(self) -> int:
        """Index of the next sample this VAD expects (the end of what it has received)."""
        return self._window_start_index + self._filled

    @property
    def samples_to_next_window(self) -> int:
        """Samples still needed before the next window is judged: fed fewer, ``process`` only
        buffers them (no event can come), so a reader may wait for this many."""
        return self._window_samples - self._filled

    def reset(self, next_segment_index: int = 0) -> None:
        """Forget the stream: the next ``process`` call starts a new one at its start index."""
        self.detector.reset()
        self.machine.reset(0, next_segment_index)
        self._context[:] = 0.0
        self._filled = 0
        self._stream_start_index = None
        self._window_start_index = 0

    def stats(self) -> DetectorStats:
        return self.detector.stats()

    def take_stats(self) -> DetectorStats:
        return self.detector.take_stats()

    def process(self, block: np.ndarray, start_index: int) -> list[VadEvent]:
        """Feed ``block`` (float32, shape (n,), 16 kHz) whose first sample is ``start_index``.

        Audio already received is skipped. A gap (``start_index`` past the expected index, e.g.
        after a ring overrun) closes an open segment where the audio stopped and starts a new
        stream at ``start_index``. Returns the events in order.
        """
        events: list[VadEvent] = []
        if self._stream_start_index is None:
            self._begin(start_index)
        elif start_index > self.next_index:
            logger.warning(
                "vad input gap: expected index %d, got %d; restarting the stream",
                self.next_index,
                start_index,
            )
            events.extend(self.machine.flush(self.next_index))
            next_segment = self.machine.next_segment_index
            self.reset(next_segment)
            self._begin(start_index)
        elif start_index < self.next_index:
            skip = self.next_index - start_index
            logger.debug("vad input overlap: skipping %d samples already seen", skip)
            block = block[skip:]
        if block.size == 0:
            return events

        n = self._window_samples
        pos = 0
        while pos < block.size:
            take = min(n - self._filled, block.size - pos)
            self._context[n + self._filled : n + self._filled + take] = block[pos : pos + take]
            self._filled += take
            pos += take
            if self._filled == n:
                events.extend(self._run_window())
        return events

    def flush(self, end_index: int | None = None) -> list[VadEvent]:
        """End of stream: close an open segment at ``end_index`` (default: the end of the audio
        received; a partial last window counts as received) and reset for a new stream."""
        end = self.next_index if end_index is None else end_index
        events = self.machine.flush(end)
        self.reset()
        return events

    def _begin(self, start_index: int) -> None:
        self._stream_start_index = start_index
        self._window_start_index = start_index
        self.machine.reset(start_index, self.machine.next_segment_index)

    def _run_window(self) -> list[VadEvent]:
        n = self._window_samples
        assert self._stream_start_index is not None
        start_index = self._window_start_index
        verdict = self.detector.judge(self._context, start_index - self._stream_start_index)
        events = self.machine.update(start_index, start_index + n, verdict)
        self._context[:n] = self._context[n:]
        self._filled = 0
        self._window_start_index += n
        return events
