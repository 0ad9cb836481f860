"""A client of the daemon's control socket: one request, one answer, or None after a timeout.

The socket is a REQ used the lazy-pirate way: a request that gets no answer within its timeout
leaves the REQ stuck in its send/receive cycle, so the socket is closed and made again before
the next request. ``run.py status`` asks once (``ask_once``); ``TranscriptSubscriber`` keeps one
``ControlClient`` and retries its replay requests on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import zmq

from pipeline.bus import ClientKeys, Receiver, SocketOptions, new_context, open_socket, send_message
from pipeline.errors import BusError
from pipeline.messages import DEFAULT_MAX_FRAME_BYTES, Message


class ControlClient:
    """Requests to the control socket at ``endpoint``; answers of the kinds in ``accept``.

    ``accept``: the reply classes wanted (others are counted as rejected by the receiver and
    read as no answer); empty: any message. Not thread-safe.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        curve_client: ClientKeys | None = None,
        accept: Sequence[type[Message]] = (),
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        high_water_mark: int = 1000,
        context: zmq.Context | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.max_frame_bytes = max_frame_bytes
        self._accept = tuple(accept)
        self._options = SocketOptions(
            high_water_mark=high_water_mark,
            max_frame_bytes=max_frame_bytes,
            curve_client=curve_client,
        )
        self._own_context = context is None
        self._context = context or new_context()
        self._socket: zmq.Socket | None = None
        self._receiver: Receiver | None = None

    def ask(self, request: Message, timeout_ms: int) -> Message | None:
        """The daemon's answer to ``request``, or None if none came within ``timeout_ms``."""
        socket, receiver = self._connected()
        received = None
        if send_message(socket, request, block=False, max_frame_bytes=self.max_frame_bytes):
            received = receiver.receive(timeout_ms)
        if received is None:
            self.reset()  # a REQ that lost its reply is stuck: the next request gets a new one
            return None
        return received.message

    def reset(self) -> None:
        """Close the socket; the next ``ask`` connects a new one."""
        if self._socket is not None:
            self._socket.close(linger=0)
        self._socket = None
        self._receiver = None

    def close(self) -> None:
        self.reset()
        if self._own_context:
            self._context.term()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connected(self) -> tuple[zmq.Socket, Receiver]:
        if self._socket is None or self._receiver is None:
            self._socket = open_socket(
                self._context, zmq.REQ, self.endpoint, bind=False, options=self._options
            )
            self._receiver = Receiver(
                self._socket,
                accept=self._accept or None,
                max_frame_bytes=self.max_frame_bytes,
                name="control",
            )
        return self._socket, self._receiver


def ask_once(
    endpoint: str,
    request: Message,
    timeout_s: float,
    *,
    curve_client: ClientKeys | None = None,
) -> Message:
    """One request on a fresh connection; ``BusError`` naming the endpoint if nothing answers."""
    with ControlClient(endpoint, curve_client=curve_client) as client:
        reply = client.ask(request, int(timeout_s * 1000))
    if reply is None:
        raise BusError(
            f"no answer from the daemon at {endpoint} within {timeout_s} s (is it running?)"
        )
    return reply
