"""What travels to a worker and how its answer is matched to it.

A request is keyed by its request id (``TranscribeRequest``) or its session id (stream messages:
a session has at most one message in flight, and its reply carries the session id). Ids are
unique per attempt (``request_ids``), so a late reply to an old attempt finds no flight.
"""

from __future__ import annotations

from pipeline.messages.base import Message
from pipeline.messages.work import (
    StreamClose,
    StreamFeed,
    StreamOpen,
    StreamUpdate,
    TranscribeRequest,
    TranscribeResult,
    WorkerError,
)

WorkRequest = TranscribeRequest | StreamOpen | StreamFeed | StreamClose
WorkReply = TranscribeResult | WorkerError | StreamUpdate


def flight_key(request: WorkRequest) -> str:
    """The id a reply to ``request`` carries."""
    return request.request_id if isinstance(request, TranscribeRequest) else request.session_id


def reply_key(message: Message) -> str | None:
    """The id of the request ``message`` answers; None when it is no reply."""
    if isinstance(message, TranscribeResult | WorkerError):
        return message.request_id
    if isinstance(message, StreamUpdate):
        return message.session_id
    return None
