"""WebRTC VAD tier: Google's GMM voice detector over int16 frames of 10, 20 or 30 ms.

The detector windows (512 samples, 32 ms, set by Silero) do not line up with WebRTC frames,
so WebRTC keeps its own frame grid, anchored at the stream start: a window's verdict is taken
from the WebRTC frames that *end* inside it. A frame that starts in the previous window is
read from the previous window's samples, which the caller passes along.

Frames are pre-emphasized (``y[n] = x[n] - 0.97 x[n-1]``, a gentle high-pass) before WebRTC
sees them: mains hum (50/60 Hz and low harmonics) is damped by more than 20 dB, so a humming
microphone is not taken for a voice, while speech formants pass. On the shared recordings
this changed no segment of the balanced profile and removed every hum segment of the
WebRTC-only (power-saving) profile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from pipeline.audio_format import SAMPLE_RATE_HZ

logger = logging.getLogger(__name__)

FRAME_MS_CHOICES = (10, 20, 30)  # frame lengths WebRTC VAD accepts
INT16_FULL_SCALE = 32767.0  # float sample 1.0 in int16


@dataclass(frozen=True)
class WebRtcParams:
    aggressiveness: int = 2  # 0 (least) to 3 (most aggressive about calling frames non-speech)
    frame_ms: int = 30  # WebRTC frame length, one of FRAME_MS_CHOICES
    pre_emphasis: float = 0.97  # first-difference coefficient applied before WebRTC; 0 = none

    def __post_init__(self) -> None:
        if self.frame_ms not in FRAME_MS_CHOICES:
            raise ValueError(f"webrtc frame_ms={self.frame_ms}; allowed: {FRAME_MS_CHOICES}")
        if not 0 <= self.aggressiveness <= 3:
            raise ValueError(f"webrtc aggressiveness={self.aggressiveness}; allowed: 0..3")
        if not 0.0 <= self.pre_emphasis < 1.0:
            raise ValueError(f"webrtc pre_emphasis={self.pre_emphasis}; allowed: [0, 1)")

    @property
    def frame_samples(self) -> int:
        """Samples per WebRTC frame at 16 kHz (160, 320 or 480)."""
        return SAMPLE_RATE_HZ * self.frame_ms // 1000


def float_to_int16(samples: np.ndarray) -> np.ndarray:
    """float32 samples in [-1, 1], shape (n,) -> int16 of shape (n,), clipped."""
    scaled = np.clip(samples, -1.0, 1.0) * INT16_FULL_SCALE
    return np.rint(scaled).astype(np.int16)


class WebRtcVad:
    """Frame-level WebRTC VAD on one 16 kHz stream.

    ``speech_fraction`` judges the frames of the stream's grid that end within a window;
    ``reset`` starts a new stream (fresh noise model, grid anchored at the new start).
    """

    def __init__(self, params: WebRtcParams) -> None:
        try:
            import webrtcvad
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the WebRTC VAD tier needs the 'webrtcvad-wheels' package (import webrtcvad)"
            ) from e
        self.params = params
        self._module = webrtcvad
        self._vad = webrtcvad.Vad(params.aggressiveness)
        self._emphasized = np.zeros(0, dtype=np.float32)  # reused buffer, grows to the context

    def reset(self) -> None:
        """Forget the adaptive noise model: a new stream starts."""
        self._vad = self._module.Vad(self.params.aggressiveness)

    def is_speech(self, frame: np.ndarray) -> bool:
        """One frame: float32 of shape (frame_samples,) -> WebRTC's speech verdict."""
        pcm = float_to_int16(frame).tobytes()
        return bool(self._vad.is_speech(pcm, SAMPLE_RATE_HZ, self.params.frame_samples))

    def speech_fraction(self, context: np.ndarray, window_offset: int, stream_offset: int) -> float:
        """Fraction of the grid frames ending inside the window that WebRTC calls speech.

        ``context``: float32, shape (n,), the previous window followed by the current one;
        the current window is ``context[window_offset:]``. ``stream_offset``: samples from
        the stream start to ``context[0]`` (the grid is anchored at the stream start). Frames
        that would start before ``context[0]`` are skipped. Returns 0.0 when no frame ends
        inside the window (cannot happen for windows at least one frame long).
        """
        frame_samples = self.params.frame_samples
        context = self._pre_emphasize(context)
        window_start = stream_offset + window_offset
        window_end = stream_offset + context.size
        # First grid frame end strictly after the window start.
        first_end = (window_start // frame_samples + 1) * frame_samples
        frames = 0
        speech = 0
        for frame_end in range(first_end, window_end + 1, frame_samples):
            lo = frame_end - frame_samples - stream_offset
            if lo < 0:
                continue
            frames += 1
            speech += self.is_speech(context[lo : lo + frame_samples])
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("webrtc window@%d: %d/%d frames speech", window_start, speech, frames)
        return speech / frames if frames else 0.0

    def _pre_emphasize(self, context: np.ndarray) -> np.ndarray:
        """``context`` (float32, shape (n,)) with ``y[i] = x[i] - a x[i-1]``; ``y[0] = (1 - a) x[0]``."""
        a = self.params.pre_emphasis
        if a == 0.0:
            return context
        if self._emphasized.size != context.size:
            self._emphasized = np.empty(context.size, dtype=np.float32)
        out = self._emphasized
        np.multiply(context[:-1], -a, out=out[1:])
        out[1:] += context[1:]
        out[0] = (1.0 - a) * context[0]
        return out
