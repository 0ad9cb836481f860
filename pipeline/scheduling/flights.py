"""What the scheduler has in flight: one record per request sent and not yet answered or lost.

Keyed by the request id (``TranscribeRequest``) or the session id (stream messages: a session
has at most one message in flight, and its reply carries the session id).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pipeline.messages.work import StreamClose, StreamFeed, StreamOpen, TranscribeRequest

WorkRequest = TranscribeRequest | StreamOpen | StreamFeed | StreamClose


class Purpose(enum.Enum):
    CHUNK = "chunk"  # a final chunk of an ended segment
    PARTIAL = "partial"  # the newest audio of an open segment
    SESSION = "session"  # a streaming session's open, feed or close


@dataclass(frozen=True, slots=True)
class Flight:
    role: str  # the worker it went to
    request: WorkRequest
    segment: tuple[str, int]  # (stream id, segment id)
    purpose: Purpose
    index: int = 0  # CHUNK: the chunk index; PARTIAL: the partial's serial


def flight_key(request: WorkRequest) -> str:
    """The id a reply to ``request`` carries."""
    return request.request_id if isinstance(request, TranscribeRequest) else request.session_id
