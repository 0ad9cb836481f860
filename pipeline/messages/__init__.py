"""Inter-process messages: one frozen dataclass per kind, one registry, one ``encode``/``decode``.

Families: ``audio`` (capture), ``push`` (clients feeding a push stream), ``speech`` (vad events), ``work`` (worker protocol),
``transcripts`` (published), ``control`` (requests and replies).
"""

from pipeline.messages.audio import AudioTick, CaptureEvent, EndOfStream, RingOverrunReport
from pipeline.messages.base import (
    DEFAULT_MAX_FRAME_BYTES,
    REGISTRY,
    SCHEMA_VERSION,
    FrameRejected,
    Message,
    register,
)
from pipeline.messages.codec import REJECTION_REASONS, decode, encode
from pipeline.messages.control import (
    ControlError,
    MetricsReply,
    MetricsRequest,
    ReplayReply,
    ReplayRequest,
    SetProfileReply,
    SetProfileRequest,
    ShutdownAck,
    ShutdownRequest,
    StatusReply,
    StatusRequest,
)
from pipeline.messages.push import PushAudio, PushEnd, PushReply
from pipeline.messages.speech import SpeechEnded, SpeechOngoing, SpeechStarted, VadStats
from pipeline.messages.transcripts import (
    FINAL_STATUSES,
    GAP_REASONS,
    GapEvent,
    Metrics,
    SpeechEvent,
    TranscriptFinal,
    TranscriptPartial,
)
from pipeline.messages.work import (
    Heartbeat,
    Ready,
    Shutdown,
    StreamClose,
    StreamFeed,
    StreamOpen,
    StreamUpdate,
    TranscribeRequest,
    TranscribeResult,
    WorkerError,
)

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "FINAL_STATUSES",
    "GAP_REASONS",
    "REGISTRY",
    "REJECTION_REASONS",
    "SCHEMA_VERSION",
    "AudioTick",
    "CaptureEvent",
    "ControlError",
    "EndOfStream",
    "FrameRejected",
    "GapEvent",
    "Heartbeat",
    "Message",
    "Metrics",
    "MetricsReply",
    "MetricsRequest",
    "PushAudio",
    "PushEnd",
    "PushReply",
    "Ready",
    "ReplayReply",
    "ReplayRequest",
    "RingOverrunReport",
    "SetProfileReply",
    "SetProfileRequest",
    "Shutdown",
    "ShutdownAck",
    "ShutdownRequest",
    "SpeechEnded",
    "SpeechEvent",
    "SpeechOngoing",
    "SpeechStarted",
    "StatusReply",
    "StatusRequest",
    "StreamClose",
    "StreamFeed",
    "StreamOpen",
    "StreamUpdate",
    "TranscribeRequest",
    "TranscribeResult",
    "TranscriptFinal",
    "TranscriptPartial",
    "VadStats",
    "WorkerError",
    "decode",
    "encode",
    "register",
]
