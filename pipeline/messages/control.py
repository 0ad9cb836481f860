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
