"""The capture process: one audio source, converted once, written into the stream's ring.

Settings (plain values, from the parent):
    role             the process name in logs and heartbeats ("capture")
    config           the configuration tree (``config.loader.as_tree``); ``capture`` section used
    ring_name        the stream's ring, created and owned by the parent; attached writable here
    stream_id        the stream the ring carries
    audio_endpoint   bound here as PUB: ``AudioTick`` after writes, ``EndOfStream`` at the end
    events_endpoint  the parent's PULL, connected as PUSH: ``CaptureEvent``, ``EndOfStream``,
                     ``Heartbeat`` (from a thread with its own PUSH socket)
    await_reader     optional, default True: with ``pace = "fast"``, write nothing until a
                     reader holds a ring cursor (else a fast file could lap a VAD still starting)

Flow: open the source; if the ring already holds audio (a restarted capture), a file resumes at
the converted sample ``write_index`` (modulo its length when looping; see ``FileSource`` for the
approximation), stdin and microphones just go on at ``write_index``. For each block: (fast files
only) wait until the block overwrites nothing a live cursor holder needs; write; publish a tick.
Realtime sources never wait; a push source does (``push:FORMAT:RATE``: clients send PCM to a
ROUTER it binds beside ``audio_endpoint``, see ``pipeline.sources.push_source``), so a client
sending faster than the readers keep up is held back through the socket instead of lapping them.
Ticks of a fast file are coalesced (at most one per
``FAST_TICK_INTERVAL_S``, and always one before waiting), since readers read up to the ring's
``write_index`` anyway. Every ``heartbeat_interval_s`` the source's events and new overflow
counts go out as ``CaptureEvent``s. At the end of a finite source: mark the ring ended, send
``CaptureEvent("source_ended")``, publish ``EndOfStream`` and push it, exit 0.

Exit codes: 0 after the end of the stream (or when the parent is gone), ``EXIT_ERROR`` after any
failure (reported first as ``CaptureEvent("error")`` naming the problem); the supervisor restarts
with backoff.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import zmq

from config.loader import from_tree
from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.bus.frames import send_message
from pipeline.bus.sockets import SocketOptions, new_context, open_socket
from pipeline.messages import AudioTick, CaptureEvent, EndOfStream
from pipeline.ring import AudioRing
from pipeline.sources import AudioSource, open_capture_source, parse_source_spec
from pipeline.sources.push_source import push_endpoint
from pipeline.vad import WINDOW_SAMPLES as VAD_WINDOW_SAMPLES
from workers.events_push import EventsPusher, ParentGone
from workers.heartbeat import HeartbeatThread

logger = logging.getLogger(__name__)

EXIT_ERROR = 1  # exit status after a failure
FAST_TICK_INTERVAL_S = 0.005  # a fast file publishes at most one tick per this interval
SPACE_WAIT_S = 0.2  # one wait for ring space; the loop checks the parent between waits
READER_POLL_S = 0.01  # how often a fast file looks for its first cursor holder
PUB_CLOSE_LINGER_MS = 500  # time the last EndOfStream gets to reach subscribers


def main(settings: dict[str, Any]) -> None:
    config = from_tree(settings["config"])
    role = settings.get("role", "capture")
    stream_id = settings["stream_id"]
    options = SocketOptions(
        high_water_mark=config.outputs.high_water_mark,
        max_frame_bytes=config.outputs.max_frame_bytes,
    )
    context = new_context()
    events = EventsPusher(context, settings["events_endpoint"], options)
    heartbeat = HeartbeatThread(
        context,
        settings["events_endpoint"],
        role,
        config.supervisor.heartbeat_interval_s,
        socket_type=zmq.PUSH,
        options=options,
    )
    heartbeat.start()
    ring: AudioRing | None = None
    publisher: zmq.Socket | None = None
    exit_code = 0
    try:
        ring = AudioRing.attach(settings["ring_name"], writable=True)
        publisher = open_socket(
            context, zmq.PUB, settings["audio_endpoint"], bind=True, options=options
        )
        capture = Capture(
            config,
            stream_id,
            ring,
            publisher,
            events,
            settings.get("await_reader", True),
            stdin_fifo=settings.get("stdin_fifo", ""),
            audio_endpoint=settings["audio_endpoint"],
        )
        capture.run()
    except ParentGone as e:
        logger.warning("%s; exiting", e)
    except Exception as e:
        logger.exception("capture of stream %r failed", stream_id)
        detail = f"{type(e).__name__}: {e}"
        write_index = ring.write_index if ring is not None else 0
        try:
            events.push(CaptureEvent(stream_id, "error", detail=detail, write_index=write_index))
        except ParentGone:
            logger.warning("the error could not be reported: the parent is gone")
        exit_code = EXIT_ERROR
    finally:
        heartbeat.stop()
        if publisher is not None:
            publisher.close(linger=PUB_CLOSE_LINGER_MS)
        events.close()
        if ring is not None:
            ring.close()
        context.term()
        logger.info("stopped (exit %d)", exit_code)
    if exit_code:
        sys.exit(exit_code)


class Capture:
    """The capture loop of one stream (see the module docstring)."""

    def __init__(
        self,
        config: Any,
        stream_id: str,
        ring: AudioRing,
        publisher: zmq.Socket,
        events: EventsPusher,
        await_reader: bool = True,
        stdin_fifo: str = "",
        audio_endpoint: str = "",
    ) -> None:
        self.capture_config = config.capture
        self.report_interval_s = config.supervisor.heartbeat_interval_s
        self.stream_id = stream_id
        self.ring = ring
        self.publisher = publisher
        self.events = events
        self.await_reader = await_reader
        self.stdin_fifo = stdin_fifo  # the supervisor's relay of its stdin (stdin sources)
        self.audio_endpoint = audio_endpoint  # a push source binds beside it
        self._last_counts: dict[str, int] = {}
        self._last_tick_s = 0.0
        self._last_tick_window = -1  # write index // VAD_WINDOW_SAMPLES at the last tick

    def run(self) -> None:
        spec = parse_source_spec(self.capture_config.source)
        resume_index = self.ring.write_index
        options: dict[str, Any] = {"start_sample": resume_index}
        if spec.kind in ("mic", "push"):
            options["idle_yield_s"] = self.report_interval_s  # wake to report while it waits
        if spec.kind == "push":
            options["push_endpoint"] = push_endpoint(self.audio_endpoint, self.stream_id)
            options["stream_id"] = self.stream_id
        stdin_stream = None
        if spec.kind == "stdin" and self.stdin_fifo:
            stdin_stream = open(self.stdin_fifo, "rb", buffering=0)  # noqa: SIM115 - closed below
            options["stdin_stream"] = stdin_stream
        try:
            source = open_capture_source(self.capture_config, **options)
        except BaseException:
            if stdin_stream is not None:
                stdin_stream.close()
            raise
        with source:
            # a fast file, or a push client sending faster than realtime (back-pressure)
            waits = spec.kind == "push" or (
                spec.kind == "file" and self.capture_config.pace == "fast"
            )
            detail = source.description + (f", resumed at {resume_index}" if resume_index else "")
            logger.info("capturing %s into %s", detail, self.ring.name)
            self.events.push(self._event("started", detail))
            if waits and self.await_reader:
                self._await_reader()
            self._pump(source, waits)
            self._report(source)
        final_index = self.ring.mark_ended()
        self.events.push(self._event("source_ended", source.description, self._counts(source)))
        end = EndOfStream(self.stream_id, final_index)
        send_message(self.publisher, end, block=False)
        self.events.push(end)
        logger.info("end of stream %r at index %d", self.stream_id, final_index)

    def _pump(self, source: AudioSource, waits: bool) -> None:
        next_report_s = time.monotonic() + self.report_interval_s
        for block in source.blocks():
            if block.size:
                if waits:
                    self._wait_for_space(block.size)
                self.ring.write(block)
                self._tick(coalesce=waits)
            now_s = time.monotonic()
            if now_s >= next_report_s:
                next_report_s = now_s + self.report_interval_s
                self._report(source)
        self._tick(coalesce=False, final=True)

    def _wait_for_space(self, block_samples: int) -> None:
        if self.ring.wait_for_space(block_samples, timeout_s=0):
            return
        self._tick(coalesce=False, final=True)  # readers learn of everything before it waits
        while not self.ring.wait_for_space(block_samples, timeout_s=SPACE_WAIT_S):
            self.ring.beat()
            self._check_parent()

    def _await_reader(self) -> None:
        logger.info("pace fast: waiting for a reader to hold a cursor in %s", self.ring.name)
        while self.ring.min_cursor() is None:
            self.ring.beat()
            self._check_parent()
            time.sleep(READER_POLL_S)

    def _tick(self, *, coalesce: bool, final: bool = False) -> None:
        """Publish the ring's write index (a fast file: at most every FAST_TICK_INTERVAL_S;
        otherwise when it enters a new VAD window: the VAD judges whole windows, so a tick
        inside one would wake it for nothing)."""
        now_s = time.monotonic()
        if coalesce and now_s - self._last_tick_s < FAST_TICK_INTERVAL_S:
            return
        window = self.ring.write_index // VAD_WINDOW_SAMPLES
        if not (coalesce or final) and window == self._last_tick_window:
            return
        self._last_tick_window = window
        tick = AudioTick(self.stream_id, self.ring.write_index, SAMPLE_RATE_HZ)
        send_message(self.publisher, tick, block=False)  # PUB never blocks: slow readers drop
        self._last_tick_s = now_s

    def _report(self, source: AudioSource) -> None:
        """Source events (device lost/restored) and new overflow counts as ``CaptureEvent``s."""
        self._check_parent()
        for event in source.poll_events():
            self.events.push(self._event(event.kind, event.detail))
        counts = self._counts(source)
        overflow_keys = ("overflows", "dropped_blocks")
        if any(counts[k] != self._last_counts.get(k, 0) for k in overflow_keys):
            detail = f"{counts['overflows']} overflows, {counts['dropped_blocks']} dropped blocks"
            self.events.push(self._event("overflow", detail, counts))
        self._last_counts = counts

    def _check_parent(self) -> None:
        if not self.events.parent_alive():
            raise ParentGone(f"parent {self.events.parent_pid} is gone")

    def _event(self, name: str, detail: str, counts: dict[str, int] | None = None) -> CaptureEvent:
        return CaptureEvent(
            self.stream_id,
            name,
            detail=detail,
            write_index=self.ring.write_index,
            counts=counts or {},
        )

    @staticmethod
    def _counts(source: AudioSource) -> dict[str, int]:
        stats = source.stats
        return {
            "samples": stats.samples_emitted,
            "overflows": stats.overflows,
            "dropped_blocks": stats.dropped_blocks,
            "nonfinite_samples": stats.nonfinite_samples,
            "clipped_samples": stats.clipped_samples,
            "device_losses": stats.device_losses,
            "loops_completed": stats.loops_completed,
            **{f"push_{k}": v for k, v in getattr(source, "counts", {}).items()},
        }
