"""Voice activity detection: tiered window detector, hysteresis state machine, streaming front.

``StreamVad.from_config(vad_config)`` is the entry point; the tiers (``energy``, ``webrtc``,
``silero``), the ``TieredDetector`` and the ``SpeechStateMachine`` are usable on their own.
Heavy imports (onnxruntime, webrtcvad) happen only when a tier is built.
"""

from pipeline.vad.detector import (
    WINDOW_SAMPLES,
    DetectorStats,
    SpeechDetector,
    TierStats,
    WindowVerdict,
)
from pipeline.vad.events import (
    SpeechEnd,
    SpeechPause,
    SpeechProgress,
    SpeechResume,
    SpeechStart,
    VadEvent,
)
from pipeline.vad.state_machine import SegmenterParams, SpeechStateMachine, VadState
from pipeline.vad.stream_vad import StreamVad

__all__ = [
    "WINDOW_SAMPLES",
    "DetectorStats",
    "SegmenterParams",
    "SpeechDetector",
    "SpeechEnd",
    "SpeechPause",
    "SpeechProgress",
    "SpeechResume",
    "SpeechStart",
    "SpeechStateMachine",
    "StreamVad",
    "TierStats",
    "VadEvent",
    "VadState",
    "WindowVerdict",
]
