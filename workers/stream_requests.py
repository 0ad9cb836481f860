"""``stream.open`` / ``stream.close`` / ``stream.list`` on the control socket.

Opening checks the source (a bad spec or unreadable file is a clear error, never a restart
loop), admits the stream against the daemon's load, builds its configuration (a profile and
overrides of its own, else the daemon's) and opens it in the stream set; closing gives its open
segment its final (see ``workers.stream_set``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from config.schema import Config
from pipeline.errors import AudioSourceError
from pipeline.messages import (
    StreamCloseReply,
    StreamCloseRequest,
    StreamOpenReply,
    StreamOpenRequest,
)
from pipeline.sources.preflight import preflight_source
from workers.stream_load import LOAD_TAU_S, Admission, LoadMeter
from workers.stream_set import StreamSet

logger = logging.getLogger(__name__)

MAX_LABEL_CHARS = 200  # a client's label for a stream, cut to this


class StreamRequests:
    def __init__(
        self,
        streams: StreamSet,
        admission: Admission,
        load: LoadMeter,
        *,
        config: Callable[[], Config],  # the daemon's configuration now (profiles change it)
        stopping: Callable[[], bool],
        config_path: str | None,
        overrides: dict[str, Any],
    ) -> None:
        self.streams = streams
        self.admission = admission
        self.load = load
        self._config = config
        self._stopping = stopping
        self.config_path = config_path
        self.overrides = overrides

    def open_stream(self, request: StreamOpenRequest) -> StreamOpenReply:
        """``stream.open``: check the source, admit, open (see ``workers.stream_set``)."""
        if self._stopping():
            raise AudioSourceError("the daemon is stopping: no new streams")
        spec = preflight_source(request.source)  # a bad spec or unreadable file: clear error
        if spec.kind == "stdin":
            raise AudioSourceError("stdin is the daemon's own input: open it with --source")
        if spec.kind == "mic" and spec.device not in (None, ""):
            from pipeline.sources.mic_source import find_input_device

            find_input_device(spec.device)  # an unknown device is refused now, not retried
        if request.pace not in ("", "realtime", "fast"):
            raise AudioSourceError(f"pace must be realtime or fast, got {request.pace!r}")
        now_s = time.monotonic()
        running = self.streams.running()
        self.admission.check(
            len(running),
            self.load.busy_fraction,
            self.streams.update_lags(now_s),
            fresh_streams=sum(1 for s in running if now_s - s.opened_at_s < LOAD_TAU_S),
            # none ready yet (the model still loading at start-up, or every worker
            # restarting): count the pool at its configured size, not as unknown, or a client
            # opening streams the moment the daemon answers is let in up to streams.max_open
            workers=self.load.workers or self._config().asr.workers,
            partial_fraction=self.load.partial_fraction if self.load.partials_measured else None,
            silent_streams=sum(
                1
                for s in running
                if now_s - s.opened_at_s >= LOAD_TAU_S and s.ring.write_index == 0
            ),
        )
        config = self._stream_config(request)
        stream = self.streams.open(
            config,
            label=request.label[:MAX_LABEL_CHARS],
            close_when_idle=request.close_when_idle and config.streams.push_close_when_idle,
        )
        return StreamOpenReply(stream_id=stream.stream_id, push_endpoint=stream.push_endpoint)

    def _stream_config(self, request: StreamOpenRequest) -> Config:
        config = self._config()
        if request.profile or request.overrides:
            from config.loader import load_config

            overrides = {**self.overrides, **request.overrides}
            if request.profile:
                overrides["profile"] = request.profile
            config = load_config(
                self.config_path, cli_overrides=overrides, overrides_source="stream.open"
            ).config
        capture = replace(
            config.capture,
            source=request.source,
            pace=request.pace or config.capture.pace,
            loop=request.loop,
        )
        return replace(config, capture=capture)

    def close_stream(self, request: StreamCloseRequest) -> StreamCloseReply:
        """``stream.close``: its open segment gets its final; closing twice is an error."""
        stream = self.streams.get(request.stream_id)
        if stream is None:
            raise AudioSourceError(f"no open stream {request.stream_id!r}")
        if stream.state != "running":
            raise AudioSourceError(f"stream {request.stream_id!r} is already {stream.state}")
        self.streams.close(request.stream_id, "stream.close requested")
        return StreamCloseReply(stream_id=request.stream_id, state=stream.state)

    def list_streams(self) -> list[dict[str, Any]]:
        return self.streams.rows(time.monotonic())
