"""Push-stream messages: a client sends PCM to a ``push:`` stream's capture, which answers.

Wire layout on the push socket (the capture binds a ROUTER, the client connects a DEALER):

    client → capture   [encode(PushAudio), raw PCM bytes]    one frame of audio
                       [encode(PushEnd)]                      this client is done: end its speech
                       [encode(PushFinalize)]                 end its speech now, keep sending
    capture → client   [encode(PushReply)]                    accepted / rejected / gap / reorder

The PCM travels raw in the second frame (interleaved, in the header's ``sample_format``), never
inside msgpack, so a frame costs no copy to pack. ``seq`` counts a client's frames from 0 with
no holes: a jump forward is a gap (frames lost in between), a step back a reorder or duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from pipeline.messages.base import Count, Max, Message, Min, NonNegFloat, register

PushSampleFormat = Literal["s16le", "f32le"]

PushReplyStatus = Literal[
    "accepted",  # the client's first frame: its audio starts at ``sample_index``
    "rejected",  # the frame was dropped; ``detail`` says why (format, size, garbage, busy)
    "gap",  # ``missing`` frames before this one never arrived; this one is written
    "reorder",  # this frame came after a later one (or twice): dropped
    "ended",  # a PushEnd (or the client's silence timeout) closed the client's speech
    "finalized",  # a PushFinalize: ``missing`` samples (16 kHz) of silence written at
    # ``sample_index`` end the open speech; the client goes on sending
]


@register
@dataclass(frozen=True, slots=True)
class PushAudio(Message):
    """Header of one PCM frame for ``stream_id``; the raw samples follow in the next part."""

    kind: ClassVar[str] = "push.audio"
    stream_id: str
    client_id: str  # chosen by the client (1-64 characters); one speaker at a time
    seq: Count  # this client's frame number, from 0, no holes
    sample_format: PushSampleFormat
    rate_hz: Annotated[int, Min(1_000), Max(768_000)]
    channels: Annotated[int, Min(1), Max(64)] = 1
    sent_at_s: NonNegFloat = 0.0  # time.time() at the client, for lag figures


@register
@dataclass(frozen=True, slots=True)
class PushEnd(Message):
    """``client_id`` has sent its last frame (``seq`` is one past it): end its speech now."""

    kind: ClassVar[str] = "push.end"
    stream_id: str
    client_id: str
    seq: Count


@register
@dataclass(frozen=True, slots=True)
class PushFinalize(Message):
    """End ``client_id``'s open speech now, the client staying on (Deepgram's ``Finalize``):
    ``silence_ms`` of silence is written after its audio (longer than the stream's VAD hangover,
    so the VAD ends the segment as soon as it reads it). ``seq`` is its next frame's number."""

    kind: ClassVar[str] = "push.finalize"
    stream_id: str
    client_id: str
    seq: Count
    silence_ms: Annotated[int, Min(100), Max(12_000)] = 1500


@register
@dataclass(frozen=True, slots=True)
class PushReply(Message):
    """The capture's answer to a push client (not to every frame: see ``PushReplyStatus``)."""

    kind: ClassVar[str] = "push.reply"
    stream_id: str
    client_id: str
    status: PushReplyStatus
    seq: Count = 0  # the frame the reply is about
    detail: str = ""
    sample_index: Count = 0  # ring index (16 kHz) where the client's audio starts / stands
    missing: Count = 0  # gap: frames that never arrived
