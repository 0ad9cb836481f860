"""Answering control requests on the supervisor's ROUTER socket.

Every request gets a reply: the paired reply message, or ``ControlError`` naming what was wrong
(an unexpected kind, a bad argument). Frames that do not decode at all are counted and logged by
the ``Receiver`` and never reach here. Nothing a client sends can stop the loop.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pipeline.bus import PeerUnreachable, Receiver, send_message
from pipeline.errors import StreamscribeError
from pipeline.messages import (
    ControlError,
    Message,
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

if TYPE_CHECKING:
    from workers.supervisor import Supervisor

logger = logging.getLogger(__name__)

MAX_REQUESTS_PER_STEP = 200  # the loop's other duties are never starved by a flood
MAX_REPLAY_COUNT = 1000


class ControlServer:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.receiver = Receiver(
            supervisor.control,
            max_frame_bytes=supervisor.config.outputs.max_frame_bytes,
            name="control",
        )
        self.answered = 0

    @property
    def rejected(self) -> int:
        return self.receiver.rejected_total

    def serve_pending(self) -> None:
        for _ in range(MAX_REQUESTS_PER_STEP):
            received = self.receiver.receive(timeout_ms=0)
            if received is None:
                return
            reply = self._answer(received.message)
            try:
                send_message(
                    self.supervisor.control, reply, identity=received.identity, block=False
                )
                self.answered += 1
            except PeerUnreachable:
                logger.debug("control client left before its reply")

    def _answer(self, request: Message) -> Message:
        try:
            if isinstance(request, StatusRequest):
                from workers.daemon_status import status

                return StatusReply(status=status(self.supervisor))
            if isinstance(request, MetricsRequest):
                return MetricsReply(values=self.supervisor.metrics_values())
            if isinstance(request, ReplayRequest):
                count = min(request.max_count, MAX_REPLAY_COUNT)
                finals, next_seq = self.supervisor.journal.replay(request.since_seq, count)
                return ReplayReply(finals=tuple(finals), next_seq=next_seq)
            if isinstance(request, ShutdownRequest):
                self.supervisor.request_stop(
                    f"shutdown requested: {request.reason or 'no reason given'}"
                )
                return ShutdownAck()
            if isinstance(request, SetProfileRequest):
                restarted = self.supervisor.set_profile(request.profile)
                return SetProfileReply(profile=request.profile, restarted=tuple(restarted))
            return ControlError(
                request_kind=request.kind, message=f"{request.kind} is not a control request"
            )
        except StreamscribeError as e:
            return ControlError(request_kind=request.kind, message=str(e))
        except Exception as e:
            logger.exception("control request %s failed", request.kind)
            return ControlError(
                request_kind=request.kind, message=f"internal error: {type(e).__name__}: {e}"
            )
