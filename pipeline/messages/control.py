"""Control requests and replies (client REQ → supervisor REP/ROUTER), paired by name.

Every request has one reply kind; a request that fails is answered ``ControlError`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar

from pipeline.messages.base import Count, Message, Min, Payload, register
from pipeline.messages.transcripts import TranscriptFinal


@register
@dataclass(frozen=True, slots=True)
class StatusRequest(Message):
    kind: ClassVar[str] = "control.status"


@register
@dataclass(frozen=True, slots=True)
class StatusReply(Message):
    kind: ClassVar[str] = "control.status_reply"
    status: Payload  # processes, streams, queue depths, ...


@register
@dataclass(frozen=True, slots=True)
class MetricsRequest(Message):
    kind: ClassVar[str] = "control.metrics"


@register
@dataclass(frozen=True, slots=True)
class MetricsReply(Message):
    kind: ClassVar[str] = "control.metrics_reply"
    values: Payload


@register
@dataclass(frozen=True, slots=True)
class SetProfileRequest(Message):
    """Switch to a named profile; the supervisor checks the name against the configuration."""

    kind: ClassVar[str] = "control.set_profile"
    profile: str


@register
@dataclass(frozen=True, slots=True)
class SetProfileReply(Message):
    kind: ClassVar[str] = "control.set_profile_reply"
    profile: str  # the profile now in effect
    restarted: tuple[str, ...] = ()  # children restarted to apply it


@register
@dataclass(frozen=True, slots=True)
class ReplayRequest(Message):
    """Finals with ``seq >= since_seq`` (that the daemon still holds), at most ``max_count``.

    The daemon answers at most 1000 per reply and cuts a reply to its frame limit; follow
    ``ReplayReply.next_seq`` until a reply brings no finals.
    """

    kind: ClassVar[str] = "control.replay"
    since_seq: Count
    max_count: Annotated[int, Min(1)] = 1000
    stream_id: str = ""  # only this stream's finals ("" = every stream); next_seq as above


@register
@dataclass(frozen=True, slots=True)
class ReplayReply(Message):
    kind: ClassVar[str] = "control.replay_reply"
    finals: tuple[TranscriptFinal, ...]
    # where to ask from next: one past the last final here if the reply was cut (max_count, or
    # the frame limit: a daemon never sends a reply over it), else the seq the next final will get
    next_seq: Count


@register
@dataclass(frozen=True, slots=True)
class ShutdownRequest(Message):
    kind: ClassVar[str] = "control.shutdown"
    reason: str = ""


@register
@dataclass(frozen=True, slots=True)
class ShutdownAck(Message):
    kind: ClassVar[str] = "control.shutdown_ack"


@register
@dataclass(frozen=True, slots=True)
class ControlError(Message):
    """The answer to any request that failed (unknown profile, bad arguments, ...)."""

    kind: ClassVar[str] = "control.error"
    request_kind: str
    message: str
    details: dict[str, str] = field(default_factory=dict)


# ---- streams as a runtime resource --------------------------------------------------------


@register
@dataclass(frozen=True, slots=True)
class StreamOpenRequest(Message):
    """Open a stream: ``source`` as on the command line (``mic[:DEVICE]``, ``file:PATH``,
    ``push:FORMAT:RATE[:CHANNELS]``). Refused with ``ControlError`` naming why: a source that
    cannot be opened, the open-stream cap, or ``capacity`` (the pool cannot keep one more
    stream real-time; the measured load is in the message and ``details``)."""

    kind: ClassVar[str] = "control.stream_open"
    source: str
    pace: str = ""  # file sources: "realtime" or "fast" ("" = the daemon's capture.pace)
    loop: bool = False  # file sources: start again at the end
    label: str = ""  # chosen by the client, shown in status and stream.list
    profile: str = ""  # a profile for this stream's VAD and capture ("" = the daemon's)
    overrides: dict[str, str] = field(default_factory=dict)  # "section.key" -> value
    close_when_idle: bool = True  # push: the stream closes when its client ends or times out


@register
@dataclass(frozen=True, slots=True)
class StreamOpenReply(Message):
    kind: ClassVar[str] = "control.stream_open_reply"
    stream_id: str
    push_endpoint: str = ""  # push streams: where the client connects its DEALER


@register
@dataclass(frozen=True, slots=True)
class StreamCloseRequest(Message):
    """Close a stream: its open segment ends where the VAD had read and gets its final."""

    kind: ClassVar[str] = "control.stream_close"
    stream_id: str


@register
@dataclass(frozen=True, slots=True)
class StreamCloseReply(Message):
    kind: ClassVar[str] = "control.stream_close_reply"
    stream_id: str
    state: str  # "closing": its last final follows on the transcript socket


@register
@dataclass(frozen=True, slots=True)
class StreamListRequest(Message):
    kind: ClassVar[str] = "control.stream_list"


@register
@dataclass(frozen=True, slots=True)
class StreamListReply(Message):
    kind: ClassVar[str] = "control.stream_list_reply"
    streams: tuple[Payload, ...]  # one row per open stream (as in status["streams"])
