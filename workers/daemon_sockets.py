"""The supervisor's sockets: opened together at start, closed together at the end.

The internal ones (events PULL, work ROUTER) are always ipc sockets in the private runtime
directory; the ones users connect to (transcript PUB, control ROUTER) follow
``outputs.transport`` and get the CURVE server keys when the endpoints need them. ``close``
closes whatever was opened, so a start-up that failed half-way leaves nothing behind.
"""

from __future__ import annotations

import logging
import socket as stdlib_socket

import zmq

from config.schema import OutputsConfig
from pipeline.bus import Receiver, open_socket
from pipeline.bus.endpoints import Endpoints
from pipeline.bus.sockets import SocketOptions
from pipeline.messages import (
    CaptureEvent,
    EndOfStream,
    GapEvent,
    Heartbeat,
    RingOverrunReport,
    SpeechEnded,
    SpeechOngoing,
    SpeechStarted,
    VadStats,
)
from pipeline.messages.speech import SpeechPaused, SpeechResumed
from pipeline.sources.push_source import push_endpoint

logger = logging.getLogger(__name__)

PUBLISH_LINGER_MS = 1000  # at shutdown, queued transcripts get this long to go out
EVENT_KINDS = (  # what capture and VAD children send on the events socket
    SpeechStarted,
    SpeechOngoing,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    GapEvent,
    VadStats,
    Heartbeat,
    CaptureEvent,
    EndOfStream,
    RingOverrunReport,
)


class DaemonSockets:
    def __init__(self, context: zmq.Context) -> None:
        self.context = context
        self.events: zmq.Socket | None = None
        self.work: zmq.Socket | None = None
        self.publisher: zmq.Socket | None = None
        self.control: zmq.Socket | None = None
        self.endpoints: dict[str, str] = {}
        self._authenticator = None
        # signals wake the poll at once (``signal.set_wakeup_fd`` writes here): a SIGTERM, or
        # a SIGCHLD when a child exits, need not wait for the poll's timeout
        self._wake_read, self._wake_write = stdlib_socket.socketpair()
        for end in (self._wake_read, self._wake_write):
            end.setblocking(False)
        self.signalled = False  # a signal arrived since the last ``take_signalled``

    def open(
        self,
        outputs: OutputsConfig,
        internal: Endpoints,
        public: Endpoints,
        push_stream_id: str | None = None,
    ) -> None:
        """Bind every socket; ``push_stream_id`` names the stream whose clients send PCM."""
        options = SocketOptions(
            high_water_mark=outputs.high_water_mark, max_frame_bytes=outputs.max_frame_bytes
        )
        public_options = options
        if public.curve:
            from pipeline.bus.curve import load_server_keys, start_authenticator

            keys = load_server_keys(public.curve_keys_dir)
            self._authenticator = start_authenticator(self.context, keys)
            public_options = SocketOptions(
                high_water_mark=outputs.high_water_mark,
                max_frame_bytes=outputs.max_frame_bytes,
                curve_server=keys,
            )
        context = self.context
        self.events = open_socket(context, zmq.PULL, internal.events, bind=True, options=options)
        self.work = open_socket(context, zmq.ROUTER, internal.work, bind=True, options=options)
        self.publisher = open_socket(
            context, zmq.PUB, public.transcript, bind=True, options=public_options
        )
        self.control = open_socket(
            context, zmq.ROUTER, public.control, bind=True, options=public_options
        )
        self.endpoints = {"transcript": public.transcript, "control": public.control}
        if push_stream_id is not None:
            self.endpoints["push"] = push_endpoint(internal.audio, push_stream_id)
        self.events_receiver = Receiver(
            self.events,
            accept=EVENT_KINDS,
            max_frame_bytes=outputs.max_frame_bytes,
            name="events",
        )
        self.poller = zmq.Poller()
        for socket in (self.events, self.work, self.control):
            self.poller.register(socket, zmq.POLLIN)
        self.poller.register(self._wake_read.fileno(), zmq.POLLIN)

    @property
    def wakeup_fd(self) -> int:
        """The descriptor to give ``signal.set_wakeup_fd``: a signal then ends the poll."""
        return self._wake_write.fileno()

    def poll(self, timeout_ms: int | None) -> set[zmq.Socket]:
        """Wait up to ``timeout_ms`` (None: no limit) for any incoming socket; returns the
        readable ones (a signal's EINTR is a wake-up with none readable, not an error)."""
        try:
            ready = {socket for socket, _event in self.poller.poll(timeout_ms)}
        except zmq.ZMQError as e:
            if e.errno != zmq.EINTR:
                raise
            return set()
        if self._wake_read.fileno() in ready:
            ready.discard(self._wake_read.fileno())
            self.signalled = True
            try:
                while self._wake_read.recv(512):
                    pass
            except (BlockingIOError, InterruptedError):
                pass  # drained
        return ready

    def take_signalled(self) -> bool:
        """Whether a signal woke the poll since the last call (and forget it)."""
        signalled, self.signalled = self.signalled, False
        return signalled

    def close(self) -> None:
        for name in ("events", "work", "publisher", "control"):
            socket = getattr(self, name)
            if socket is not None:
                # the last finals get a moment to reach subscribers; a stalled one can't hold us
                socket.close(linger=PUBLISH_LINGER_MS if name == "publisher" else 0)
        if self._authenticator is not None:
            self._authenticator.stop()
        self._wake_read.close()
        self._wake_write.close()
