"""The daemon's parent process: spawns capture, VAD and asr workers, schedules, publishes.

It never does inference. One loop polls the events (VAD, capture), work (asr workers) and
control sockets; turns speech events into requests through the ``SegmentScheduler``; hands
requests to idle workers; publishes partials, finals (also to the journal), speech events and
metrics on the transcript PUB socket; restarts dead, silent or hung children; recycles workers
whose memory grows; and answers control requests. It stops on SIGINT/SIGTERM, a ``shutdown``
request, or (for a finite source) when everything has been published.

Sockets: the internal ones (audio, events, work) are always ipc sockets in the private runtime
directory; the ones users connect to (transcript, control) follow ``outputs.transport``.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import zmq

from config.schema import Config
from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.bus import Receiver, new_context, open_socket, send_message
from pipeline.bus.endpoints import Endpoints, endpoints_from_outputs, ipc_endpoints
from pipeline.bus.runtime_dir import resolve_runtime_dir
from pipeline.bus.sockets import SocketOptions
from pipeline.errors import AudioSourceError
from pipeline.journal import FinalsJournal, journal_path, new_run_id
from pipeline.messages import (
    CaptureEvent,
    EndOfStream,
    GapEvent,
    Heartbeat,
    Message,
    Metrics,
    RingOverrunReport,
    SpeechEnded,
    SpeechOngoing,
    SpeechStarted,
    StreamCloseReply,
    StreamCloseRequest,
    StreamOpenReply,
    StreamOpenRequest,
    TranscriptFinal,
    TranscriptPartial,
    VadStats,
)
from pipeline.messages.speech import SpeechPaused, SpeechResumed
from pipeline.ring import remove_stale_segments
from pipeline.sources.preflight import preflight_source
from pipeline.sources.push_source import push_endpoint
from pipeline.supervision.loop_latency import LoopLatency
from pipeline.supervision.memory_trend import MemoryTrend
from pipeline.supervision.progress import STUCK
from workers.child_process import reap
from workers.control_server import ControlServer, daemon_handlers
from workers.daemon_lock import DaemonLock
from workers.daemon_status import DaemonView, metrics_values, status
from workers.progress_watch import EXIT_NO_PROGRESS, ProgressWatch, is_finite_source
from workers.stdin_relay import StdinRelay
from workers.stream_load import Adaptation, Admission, LoadMeter
from workers.stream_set import StreamSet
from workers.worker_pool import PoolOptions, WorkerPool

logger = logging.getLogger(__name__)

STREAM_ID = "main"
MAX_LABEL_CHARS = 200  # a client's label for a stream, cut to this
LAG_INTERVAL_S = 0.5  # how often the streams' lags are measured (adaptation)
STREAM_STOP_GRACE_S = 1.0  # at shutdown, capture and VAD get this long to exit after SIGTERM
POLL_MS = 20  # the loop wakes at least this often
METRICS_INTERVAL_S = 5.0  # cadence of the ``metrics`` topic
LATENCY_WINDOW = 500  # finals kept for latency percentiles
MEMORY_SAMPLE_INTERVAL_S = 1.0
MEMORY_MIN_SPAN_S = 120.0
# A new worker's RSS climbs to its plateau over its first requests (buffers sized by the longest
# audio seen, allocator pools): the growth slope is fitted only after this warm-up, per process.
MEMORY_WARMUP_REQUESTS = 10
MEMORY_WARMUP_S = 60.0
PUBLISH_LINGER_MS = 1000  # at shutdown, queued transcripts get this long to go out  # a slope needs this much history before it can recycle a worker


@dataclass(frozen=True)
class DaemonOptions:
    instance: str = "default"  # lets several daemons share a runtime directory
    log_level: str = "WARNING"
    exit_at_end: bool = True  # a finite source (file, stdin) ends the daemon once published
    config_path: str | None = None  # kept to reload the configuration for ``set_profile``
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class Counters:
    finals: int = 0
    partials: int = 0
    speech_events: int = 0
    overruns: int = 0
    worker_recycles: int = 0
    adaptations: int = 0
    child_restarts: int = 0
    vad_stats: dict[str, Any] = field(default_factory=dict)
    capture_events: dict[str, int] = field(default_factory=dict)


class Supervisor:
    def __init__(self, config: Config, options: DaemonOptions) -> None:
        self.config = config
        self.options = options
        self.stopping = False
        self.stop_reason = ""
        self.exit_code = 0
        self.progress = ProgressWatch(
            give_up_after_s=config.supervisor.restart_window_s,
            finite_source=options.exit_at_end
            and is_finite_source(config.capture.source, config.capture.loop),
        )
        self.started_at_s = time.monotonic()
        self.counters = Counters()
        self.latencies_ms: list[float] = []
        self.memory: dict[str, MemoryTrend] = {}
        self.loop_latency = LoopLatency()  # step durations (the work between two polls)
        self.journal_latency = LoopLatency()  # journal appends (fsync included) within steps
        self._last_memory_sample_s = 0.0
        self._last_metrics_s = 0.0
        self._last_lag_s = 0.0
        self.load = LoadMeter()
        self._base_profile = config.profile  # adaptation comes back to it

    # ---- the whole life of the daemon ---------------------------------------------------

    def run(self) -> int:
        preflight_source(self.config.capture.source)  # fails the start before anything spawns
        from pipeline.backends.factory import resolve_model_path
        from pipeline.scheduling import SchedulerOptions, SegmentScheduler

        config = self.config
        os.umask(0o077)  # whatever the user's umask, every file and socket we create is private
        runtime_dir = resolve_runtime_dir(config.outputs.runtime_dir)
        with DaemonLock(runtime_dir, self.options.instance) as lock:
            for name in remove_stale_segments(runtime_dir):
                logger.warning("removed shared memory %s left by a killed daemon", name)
            lock.remove_stale_sockets()
            model_path = resolve_model_path(config.asr)
            internal = ipc_endpoints(runtime_dir, self.options.instance)
            public = endpoints_from_outputs(config.outputs, self.options.instance)
            self.run_id = new_run_id()  # new per start: in every final, partial and gap event
            self.journal = FinalsJournal.from_outputs(
                config.outputs, runtime_dir, self.options.instance, run_id=self.run_id
            )
            self.context = new_context()
            try:
                self._open_sockets(internal, public)
                self.pool = WorkerPool(
                    self.work,
                    PoolOptions.from_config(
                        config,
                        work_endpoint=internal.work,
                        model_path=model_path,
                        workers=config.asr.workers,
                        log_level=self.options.log_level,
                        run_id=self.run_id,  # in worker identities: no stale worker takes a slot
                    ),
                )
                backend_name = config.asr.backend
                self.scheduler = SegmentScheduler(
                    SchedulerOptions.from_config(
                        config,
                        backend_name,
                        Path(model_path).name,
                        streaming=backend_name == "parakeet",
                    ),
                    rings={},
                    first_seq=self.journal.next_seq,
                )
                self.streams = StreamSet(
                    runtime_dir,
                    internal.audio,
                    internal.events,
                    self.options.log_level,
                    self.scheduler,
                )
                self.admission = Admission(config.streams)
                self.adaptation = Adaptation(config.streams)
                self.control_server = ControlServer(
                    self.control,
                    daemon_handlers(
                        status=self.status_values,
                        metrics=self.metrics_values,
                        journal=self.journal,
                        request_stop=self.request_stop,
                        set_profile=self.set_profile,
                        max_frame_bytes=config.outputs.max_frame_bytes,
                        open_stream=self.open_stream,
                        close_stream=self.close_stream,
                        list_streams=self.list_streams,
                    ),
                    max_frame_bytes=config.outputs.max_frame_bytes,
                )
                self._install_signal_handlers()
                self.pool.start()
                stdin_fifo = None
                if config.capture.source.startswith("stdin"):
                    self.stdin_relay = StdinRelay(runtime_dir / f"{self.options.instance}.stdin")
                    stdin_fifo = self.stdin_relay.fifo_path
                    self.stdin_relay.start()
                self.streams.open(config, stream_id=STREAM_ID, stdin_fifo=stdin_fifo)
                logger.info("daemon %s running (pid %d)", self.options.instance, lock.pid)
                self._loop()
                self._drain()
                return self.exit_code
            finally:
                self._close()

    def _open_sockets(self, internal: Endpoints, public: Endpoints) -> None:
        outputs = self.config.outputs
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
        self.events = open_socket(
            self.context, zmq.PULL, internal.events, bind=True, options=options
        )
        self.work = open_socket(self.context, zmq.ROUTER, internal.work, bind=True, options=options)
        self.publisher = open_socket(
            self.context, zmq.PUB, public.transcript, bind=True, options=public_options
        )
        self.control = open_socket(
            self.context, zmq.ROUTER, public.control, bind=True, options=public_options
        )
        self.endpoints = {"transcript": public.transcript, "control": public.control}
        if self.config.capture.source.strip().lower().startswith("push:"):
            self.endpoints["push"] = push_endpoint(internal.audio, STREAM_ID)  # clients send PCM
        self.runtime_dir = Path(internal.audio[len("ipc://") :]).parent
        self.events_receiver = Receiver(
            self.events,
            accept=(
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
            ),
            max_frame_bytes=outputs.max_frame_bytes,
            name="events",
        )
        self.poller = zmq.Poller()
        for socket in (self.events, self.work, self.control):
            self.poller.register(socket, zmq.POLLIN)

    def _install_signal_handlers(self) -> None:
        def request_stop(signum: int, _frame: object) -> None:
            self.request_stop(f"signal {signal.Signals(signum).name}")

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)

    def request_stop(self, reason: str) -> None:
        if not self.stopping:
            logger.info("stopping: %s", reason)
            self.progress.stopping(reason)
        self.stopping = True
        self.stop_reason = self.stop_reason or reason

    # ---- the loop -----------------------------------------------------------------------

    def _loop(self) -> None:
        while not self.stopping:
            self._step(accept_speech=True)
            if self.options.exit_at_end and self.streams.finished() and self.scheduler.idle():
                self.request_stop("the source ended and every segment is published")

    def _step(self, accept_speech: bool) -> None:
        try:
            self.poller.poll(POLL_MS)
        except zmq.ZMQError as e:
            if e.errno != zmq.EINTR:
                raise
        now_s = time.monotonic()
        reap(now_s)  # killed and recycled children: collected here, never waited for
        self._handle_events(now_s, accept_speech)
        self._handle_pool(now_s)
        self.control_server.serve_pending()
        # audio a live source overwrote before any worker took it: given up, reported as lost
        for stream in self.streams:
            if stream.state != "closed":
                for output in self.scheduler.drop_before(
                    stream.stream_id, stream.ring.oldest_index, now_s
                ):
                    self.publish(output)
        self._dispatch(now_s)
        if not self.stopping:
            for stream_id, role, why in self.streams.check(now_s):
                self.counters.child_restarts += 1
                logger.warning("stream child %s: %s", role, why)
                if role.startswith("vad"):
                    self.scheduler.vad_restarted(stream_id)
        # closing streams: their last finals; streams that keep failing are closed alone
        for output in self.streams.advance(now_s, self.config.supervisor.restart_window_s):
            self.publish(output)
        self._watch_progress(now_s)
        self.streams.update_cursors()
        self._watch_load(now_s)
        self._watch_memory(now_s)
        if now_s - self._last_metrics_s >= METRICS_INTERVAL_S:
            self._last_metrics_s = now_s
            self.publish(Metrics(time_unix_s=time.time(), values=self.metrics_values()))
        self.loop_latency.record(time.monotonic() - now_s)

    def _watch_progress(self, now_s: float) -> None:
        """Report skipped audio; end a finite source that can make no progress; tell systemd."""
        for stream_id, start_index, end_index in self.streams.take_gaps():
            self.publish(
                GapEvent(
                    stream_id=stream_id,
                    start_s=start_index / SAMPLE_RATE_HZ,
                    end_s=end_index / SAMPLE_RATE_HZ,
                    reason="vad_crash",
                    run_id=getattr(self, "run_id", ""),
                )
            )
        verdict = self.progress.check(now_s, self.streams, self.pool)
        if verdict.state == STUCK and self.progress.finite_source and not self.stopping:
            logger.error("no progress is possible: %s; giving up on the source", verdict.reason)
            self.exit_code = EXIT_NO_PROGRESS
            self.request_stop(f"no progress is possible: {verdict.reason}")
        self.progress.notify(now_s, self.pool.ready_count(), len(self.pool.slots))

    def _handle_events(self, now_s: float, accept_speech: bool) -> None:
        while (received := self.events_receiver.receive(timeout_ms=0)) is not None:
            message = received.message
            self.streams.observe(message, now_s)
            if isinstance(
                message, (SpeechStarted, SpeechOngoing, SpeechPaused, SpeechResumed, SpeechEnded)
            ):
                if not accept_speech:
                    continue
                handler = {
                    SpeechStarted: self.scheduler.speech_started,
                    SpeechOngoing: self.scheduler.speech_ongoing,
                    SpeechPaused: self.scheduler.speech_paused,
                    SpeechResumed: self.scheduler.speech_resumed,
                    SpeechEnded: self.scheduler.speech_ended,
                }[type(message)]
                for output in handler(message, now_s):
                    self.publish(output)
            elif isinstance(message, GapEvent):  # audio the VAD skipped (resync)
                self.publish(message)
            elif isinstance(message, VadStats):
                self.counters.vad_stats = {
                    "windows": dict(message.windows),
                    "cpu_s": dict(message.cpu_s),
                    "segments": message.segments,
                    "mean_speech_probability": message.mean_speech_probability,
                }
            elif isinstance(message, RingOverrunReport):
                self.counters.overruns += 1
                logger.warning(
                    "%s fell behind the ring: audio from %d was lost to it",
                    message.reader,
                    message.requested_index,
                )
            elif isinstance(message, CaptureEvent):
                self.counters.capture_events[message.event] = (
                    self.counters.capture_events.get(message.event, 0) + 1
                )
                level = (
                    logging.WARNING
                    if message.event in ("device_lost", "error", "overflow")
                    else logging.INFO
                )
                logger.log(
                    level, "capture of %s: %s %s", message.stream_id, message.event, message.detail
                )

    def _handle_pool(self, now_s: float) -> None:
        events = self.pool.poll(0)
        for role, message in events.replies:
            for output in self.scheduler.on_reply(role, message, now_s):
                self.publish(output)
        for loss in events.lost:
            logger.warning("worker %s replaced: %s", loss.role, loss.why)
            self.progress.worker_replaced(loss.role, loss.why)
            self.memory.pop(loss.role, None)
            for output in self.scheduler.worker_lost(loss.role, now_s, loss.why):
                self.publish(output)

    def _dispatch(self, now_s: float) -> None:
        idle = self.pool.idle_roles()
        if not idle:
            return
        shed = self.adaptation.shed_partials
        for role, request in self.scheduler.dispatch(idle, now_s, shed_partials=shed):
            if not self.pool.submit(role, request):
                self.scheduler.on_unsent(role, request, now_s)

    def _watch_memory(self, now_s: float) -> None:
        if now_s - self._last_memory_sample_s < MEMORY_SAMPLE_INTERVAL_S:
            return
        self._last_memory_sample_s = now_s
        limits = self.config.supervisor
        for slot in self.pool:
            if not slot.ready or slot.rss_bytes == 0:
                continue
            over_limit = slot.rss_bytes / 1e6 > limits.memory_limit_mb
            growing = False
            warmed_up = (
                slot.completed >= MEMORY_WARMUP_REQUESTS
                and now_s - slot.ready_at_s >= MEMORY_WARMUP_S
            )
            if warmed_up:
                # one trend per process: a worker's loss (recycles too) drops its trend
                trend = self.memory.setdefault(slot.role, MemoryTrend(limits.memory_window_s))
                trend.add(now_s, slot.rss_bytes / 1e6)
                growing = trend.growing_faster_than(
                    limits.memory_slope_limit_mb_per_h, MEMORY_MIN_SPAN_S
                )
            if (over_limit or growing) and not slot.draining:
                why = "over its memory limit" if over_limit else "memory growing"
                logger.warning(
                    "%s %s (%.0f MB): recycling it after its current request",
                    slot.role,
                    why,
                    slot.rss_bytes / 1e6,
                )
                self.counters.worker_recycles += 1
                self.pool.drain(slot.role)

    # ---- streams ------------------------------------------------------------------------

    def open_stream(self, request: StreamOpenRequest) -> StreamOpenReply:
        """``stream.open``: check the source, admit, open (see ``workers.stream_set``)."""
        if self.stopping:
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
        self.admission.check(
            len(self.streams.running()), self.load.busy_fraction, self.streams.update_lags(now_s)
        )
        config = self._stream_config(request)
        stream = self.streams.open(
            config,
            label=request.label[:MAX_LABEL_CHARS],
            close_when_idle=request.close_when_idle and config.streams.push_close_when_idle,
        )
        return StreamOpenReply(stream_id=stream.stream_id, push_endpoint=stream.push_endpoint)

    def _stream_config(self, request: StreamOpenRequest) -> Config:
        config = self.config
        if request.profile or request.overrides:
            from config.loader import load_config

            overrides = {**self.options.overrides, **request.overrides}
            if request.profile:
                overrides["profile"] = request.profile
            config = load_config(self.options.config_path, cli_overrides=overrides).config
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

    def _watch_load(self, now_s: float) -> None:
        """Measure the pool's load and the streams' lag; adapt when lag is sustained."""
        slots = list(self.pool)
        busy = sum(1 for slot in slots if slot.ready and slot.in_flight is not None)
        self.load.sample(now_s, busy, sum(1 for slot in slots if slot.ready))
        if now_s - self._last_lag_s < LAG_INTERVAL_S:
            return
        self._last_lag_s = now_s
        level = self.adaptation.update(now_s, self.streams.update_lags(now_s))
        if level is None:
            return
        self.counters.adaptations += 1
        target = self.config.streams.adapt_profile if level >= 2 else self._base_profile
        if target != self.config.profile:
            try:
                self.set_profile(target)
            except Exception:
                logger.exception("adapting to profile %s failed", target)

    # ---- outputs ------------------------------------------------------------------------

    def publish(self, message: Message) -> None:
        """Send on the transcript PUB (never blocks: a slow subscriber loses, the daemon doesn't).

        A final is recorded in the journal first (synced per ``outputs.journal_sync``); a
        journal that cannot write degrades (``journal.health()``), never stops the publishing.
        """
        self.journal.maintain()  # a degraded journal retries (cheap when it is ok)
        stamped = (TranscriptFinal, TranscriptPartial, GapEvent)  # carry the daemon's run_id
        if isinstance(message, stamped) and not message.run_id:
            message = replace(message, run_id=self.run_id)
        if isinstance(message, TranscriptFinal):
            append_started_s = time.monotonic()
            self.journal.append(message)
            self.journal_latency.record(time.monotonic() - append_started_s)
            self.counters.finals += 1
            self.latencies_ms.append(message.latency_ms)
            del self.latencies_ms[:-LATENCY_WINDOW]
        elif message.kind == "transcript.partial":
            self.counters.partials += 1
        elif message.kind == "event.speech":
            self.counters.speech_events += 1
        send_message(self.publisher, message, block=False)

    def metrics_values(self) -> dict[str, Any]:
        return metrics_values(self._status_view())

    def status_values(self) -> dict[str, Any]:
        return status(self._status_view())

    def _status_view(self) -> DaemonView:
        return DaemonView(
            instance=self.options.instance,
            config=self.config,
            endpoints=self.endpoints,
            started_at_s=self.started_at_s,
            stopping=self.stopping,
            streams=self.streams,
            workers=self.pool,
            worker_restarts=self.pool.total_restarts,
            ring=main.ring if (main := self.streams.main) is not None else None,
            stream_rows=self.streams.rows(time.monotonic()),
            adaptation=self.adaptation.stats(),
            load={
                "busy_fraction": round(self.load.busy_fraction, 3),
                "streams_refused": self.admission.refused,
                "streams_opened": self.streams.opened_total,
                "streams_closed": self.streams.closed_total,
            },
            counters=self.counters,
            latencies_ms=self.latencies_ms,
            last_seq=self.journal.last_seq,
            queue_depths=self.scheduler.queue_depths(),
            scheduler_stats=dict(self.scheduler.stats()),
            control=self.control_server.stats(),
            events_rejected=self.events_receiver.rejected_total,
            journal=self.journal.health().as_dict(),
            health=self.progress.health(),
            loop={
                **self.loop_latency.summary().as_dict(),
                "journal_append": self.journal_latency.summary().as_dict(),
            },
        )

    def set_profile(self, profile: str) -> list[str]:
        """Switch to ``profile``: reload the configuration and restart the VAD (new tiers and
        timings); workers are recycled after their current request when the asr section changed."""
        from config.loader import load_config

        overrides = {**self.options.overrides, "profile": profile}
        config = load_config(self.options.config_path, cli_overrides=overrides).config
        restarted: list[str] = []
        previous, self.config = self.config, config
        for stream in self.streams.running():
            if stream.profile != previous.profile and stream.stream_id != STREAM_ID:
                continue  # a stream opened with its own profile keeps it
            stream.children.config = config
            stream.profile = config.profile
            if config.vad != previous.vad:
                stream.children.restart_vad("profile changed")
                self.scheduler.vad_restarted(stream.stream_id)
                restarted.append(stream.children.vad.role)
        if config.asr != previous.asr:
            self.pool.update_config(config)
            for slot in self.pool:
                self.pool.drain(slot.role)
                restarted.append(slot.role)
        self.scheduler.reconfigure(config)
        logger.info(
            "profile %s in effect (restarted: %s)", profile, ", ".join(restarted) or "nothing"
        )
        return restarted

    # ---- stopping -----------------------------------------------------------------------

    def _drain(self) -> None:
        """Finish or give up in-flight work within the shutdown timeout, publishing finals."""
        # capture and VAD of every stream stop; the loop goes on meanwhile (replies, dispatch),
        # so their exit never eats the time the last finals have
        self.streams.signal_all()
        stop_by_s = time.monotonic() + STREAM_STOP_GRACE_S
        while not self.streams.all_stopped() and time.monotonic() < stop_by_s:
            self._step(accept_speech=True)  # their last events arrive too
        self.streams.kill_all()
        self._handle_events(time.monotonic(), accept_speech=True)  # what they sent before stopping
        deadline_s = time.monotonic() + self.config.supervisor.shutdown_timeout_s
        # open segments end where their VAD had read: the words spoken so far get their final
        for stream in self.streams:
            for output in self.scheduler.end_open_segment(
                stream.stream_id, stream.children.vad_position, time.monotonic()
            ):
                self.publish(output)
        while not self.scheduler.idle() and time.monotonic() < deadline_s:
            self._step(accept_speech=True)
        if not self.scheduler.idle():
            logger.warning(
                "shutdown timeout: %s requests unfinished (%s)",
                self.scheduler.queue_depths(),
                self.scheduler.sizes(),
            )

    def _close(self) -> None:
        for step in (
            lambda: self.pool.stop(grace_s=min(5.0, self.config.supervisor.shutdown_timeout_s)),
            lambda: self.streams.close_all(),
            lambda: self.journal.close(),
        ):
            try:
                step()
            except AttributeError:
                pass  # not created: start-up failed before it
            except Exception:
                logger.exception("error while stopping")
        for name in ("events", "work", "publisher", "control"):
            socket = getattr(self, name, None)
            if socket is not None:
                # the last finals get a moment to reach subscribers; a stalled one can't hold us
                socket.close(linger=PUBLISH_LINGER_MS if name == "publisher" else 0)
        authenticator = getattr(self, "_authenticator", None)
        if authenticator is not None:
            authenticator.stop()
        context = getattr(self, "context", None)
        if context is not None:
            context.term()
        relay = getattr(self, "stdin_relay", None)
        if relay is not None:
            relay.remove()
        self.progress.close()
        logger.info("daemon stopped (%s)", self.stop_reason or "start-up failed")


def peek_next_seq(config: Config, instance: str) -> int:
    """The seq the next final of ``instance`` will get (read-only; call before the daemon starts)."""
    runtime_dir = resolve_runtime_dir(config.outputs.runtime_dir)
    return FinalsJournal.peek_next_seq(journal_path(config.outputs, runtime_dir, instance))


def run_daemon(config: Config, options: DaemonOptions) -> int:
    return Supervisor(config, options).run()
