"""The daemon's parent process: spawns capture, VAD and asr workers, schedules, publishes.

It never does inference. One loop polls the events (VAD, capture), work (asr workers) and
control sockets; turns speech events into requests through the ``SegmentScheduler``; hands
requests to idle workers; publishes partials, finals (also to the journal), speech events and
metrics on the transcript PUB socket; restarts dead, silent or hung children; recycles workers
whose memory grows; and answers control requests. It stops on SIGINT/SIGTERM, a ``shutdown``
request, or (for a finite source) when everything has been published.

Sockets: the internal ones (audio, events, work) are always ipc sockets in the private runtime
directory; the ones users connect to (transcript, control) follow ``outputs.transport``.

The parts it hands work to, one file each: ``daemon_sockets`` (open and close the sockets),
``daemon_events`` (route capture and VAD events), ``daemon_publisher`` (journal, then PUB),
``memory_watch`` (which workers to recycle), ``stream_requests`` (stream.open/close/list),
``profile_switch`` (a new profile on the running daemon), ``daemon_drain`` (the shutdown);
``stream_set`` and ``worker_pool`` supervise the children, ``control_server`` answers requests.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.schema import Config
from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.bus import new_context
from pipeline.bus.endpoints import endpoints_from_outputs, ipc_endpoints
from pipeline.bus.runtime_dir import resolve_runtime_dir
from pipeline.journal import FinalsJournal, journal_path, new_run_id
from pipeline.messages import (
    GapEvent,
    Message,
    Metrics,
)
from pipeline.ring import remove_stale_segments
from pipeline.sources.preflight import preflight_source
from pipeline.supervision.loop_latency import LoopLatency
from pipeline.supervision.progress import STUCK
from workers.child_process import reap
from workers.control_server import ControlServer, daemon_handlers
from workers.daemon_drain import drain
from workers.daemon_events import route_events
from workers.daemon_lock import DaemonLock
from workers.daemon_publisher import Counters, DaemonPublisher
from workers.daemon_sockets import DaemonSockets
from workers.daemon_status import DaemonView, metrics_values, status
from workers.fast_lead import backlog_start_index, hold_fast_leads
from workers.gateway_child import GatewayChild, gateway_for
from workers.memory_watch import MemoryWatch
from workers.profile_switch import apply_profile
from workers.progress_watch import EXIT_NO_PROGRESS, ProgressWatch, is_finite_source
from workers.stdin_relay import StdinRelay
from workers.stream_load import Adaptation, Admission, LoadMeter, is_partial_work
from workers.stream_requests import StreamRequests
from workers.stream_set import StreamSet
from workers.worker_pool import PoolOptions, WorkerPool

logger = logging.getLogger(__name__)

STREAM_ID = "main"
LAG_INTERVAL_S = 0.5  # how often the streams' lags are measured (adaptation)
POLL_MS = 20  # with time-bound work in hand (see ``_ticking``) the loop wakes this often
WATCH_INTERVAL_S = 0.5  # silent children, hung workers, restarts, progress, memory
METRICS_INTERVAL_S = 5.0  # cadence of the ``metrics`` topic


@dataclass(frozen=True)
class DaemonOptions:
    instance: str = "default"  # lets several daemons share a runtime directory
    log_level: str = "WARNING"
    exit_at_end: bool = True  # a finite source (file, stdin) ends the daemon once published
    config_path: str | None = None  # kept to reload the configuration for ``set_profile``
    overrides: dict[str, Any] = field(default_factory=dict)


class Supervisor:
    def __init__(self, config: Config, options: DaemonOptions) -> None:
        self.config = config
        self.options = options
        self.stopping = False
        self.stop_reason = ""
        self.stop_vad_read_s: dict[str, float] = {}  # each stream's VAD position at the stop
        self.exit_code = 0
        self.progress = ProgressWatch(
            give_up_after_s=config.supervisor.restart_window_s,
            finite_source=options.exit_at_end
            and is_finite_source(config.capture.source, config.capture.loop),
        )
        self.started_at_s = time.monotonic()
        self.counters = Counters()
        self.memory = MemoryWatch()
        self.loop_latency = LoopLatency()  # step durations (the work between two polls)
        self._last_metrics_s = 0.0
        self._last_lag_s = 0.0
        self._next_watch_s = 0.0  # the next turn that runs the timed checks (``_watch``)
        self._reaping = 0  # children killed or retired and not yet collected
        self.load = LoadMeter()
        self.gateway: GatewayChild | None = None  # daemon --http: the web gateway, supervised
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
                self.sockets = DaemonSockets(self.context)
                push = config.capture.source.strip().lower().startswith("push:")
                self.sockets.open(
                    config.outputs, internal, public, push_stream_id=STREAM_ID if push else None
                )
                self.publisher = DaemonPublisher(
                    self.sockets.publisher, self.journal, self.run_id, self.counters
                )
                self.pool = WorkerPool(
                    self.sockets.work,
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
                    partial_share=config.streams.partial_share,
                    partial_align=config.streams.partial_align,
                    reserve_for_finals=config.streams.reserve_for_finals,
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
                self.stream_requests = StreamRequests(
                    self.streams,
                    self.admission,
                    self.load,
                    config=lambda: self.config,
                    stopping=lambda: self.stopping,
                    config_path=self.options.config_path,
                    overrides=self.options.overrides,
                )
                self.control_server = ControlServer(
                    self.sockets.control,
                    daemon_handlers(
                        status=self.status_values,
                        metrics=self.metrics_values,
                        journal=self.journal,
                        request_stop=self.request_stop,
                        set_profile=self.set_profile,
                        max_frame_bytes=config.outputs.max_frame_bytes,
                        open_stream=self.stream_requests.open_stream,
                        close_stream=self.stream_requests.close_stream,
                        list_streams=self.stream_requests.list_streams,
                    ),
                    max_frame_bytes=config.outputs.max_frame_bytes,
                )
                self._install_signal_handlers()
                self.gateway = gateway_for(
                    config, self.options.instance, public, self.options.log_level
                )
                self.pool.start()
                stdin_fifo = None
                if config.capture.source.startswith("stdin"):
                    self.stdin_relay = StdinRelay(runtime_dir / f"{self.options.instance}.stdin")
                    stdin_fifo = self.stdin_relay.fifo_path
                    self.stdin_relay.start()
                self.streams.open(config, stream_id=STREAM_ID, stdin_fifo=stdin_fifo)
                if self.gateway is not None:
                    self.gateway.start(time.monotonic())
                logger.info("daemon %s running (pid %d)", self.options.instance, lock.pid)
                self._loop()
                self._drain()
                return self.exit_code
            finally:
                self._close()

    def _install_signal_handlers(self) -> None:
        def request_stop(signum: int, _frame: object) -> None:
            self.request_stop(f"signal {signal.Signals(signum).name}")

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        # a signal ends the loop's poll at once: a stop is not held by a long poll, and a child's
        # exit (SIGCHLD, handled by waking up) is noticed on the next turn, not the watch timer's
        signal.set_wakeup_fd(self.sockets.wakeup_fd, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, _child_exited)

    def request_stop(self, reason: str) -> None:
        if not self.stopping:
            # where each VAD had read: the words before it are the ones the shutdown keeps
            self.stop_vad_read_s = self._vad_read_s()
            read = ", ".join(f"{sid} {at_s:.3f} s" for sid, at_s in self.stop_vad_read_s.items())
            logger.info("stopping: %s (VAD read at the stop: %s)", reason, read or "no stream")
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
        """One turn: block until a socket is readable or the next timer is due, then do only
        what has something to do.

        The poll waits at most ``POLL_MS`` only while something moves with time rather than
        with messages (``_ticking``): the scheduler holds work and a worker is free for it
        (partials wait for their interval, not for an event), a stop drains, a stream closes or
        reads a file fast, a child is being reaped or restarted. Otherwise it sleeps until a
        message arrives or a timer is due. The timed checks (``_watch``: exits and silences of
        children, restarts, hung workers, progress, lost audio, memory) run every
        ``WATCH_INTERVAL_S`` (every turn while ``_hurried``), and each wake-up reads only the
        sockets that have messages: an idle daemon wakes a few times a second, not fifty.
        """
        ready = self.sockets.poll(self._poll_timeout_ms(time.monotonic()))
        now_s = time.monotonic()
        signalled = self.sockets.take_signalled()  # a child exited (or a stop): look now
        watch = signalled or self._hurried() or now_s >= self._next_watch_s
        if watch:
            self._next_watch_s = now_s + WATCH_INTERVAL_S
            self._reaping = reap(now_s)  # killed and recycled children: never waited for
            if self.gateway is not None and not self.stopping:
                self.gateway.poll(now_s)  # restarted after a crash by the same policy
        if self.sockets.events in ready:
            self._handle_events(now_s, accept_speech)
        self._handle_pool(now_s, receive=self.sockets.work in ready, check_health=watch)
        if self.sockets.control in ready or self.control_server.waiting:
            self.control_server.serve_pending()
        if watch or not self.scheduler.idle():
            # audio a live source overwrote before any worker took it: given up, reported lost
            for stream in self.streams:
                if stream.state != "closed":
                    for output in self.scheduler.drop_before(
                        stream.stream_id, stream.ring.oldest_index, now_s
                    ):
                        self.publish(output)
        self._dispatch(now_s)
        if watch:
            self._watch(now_s)
        self._watch_load(now_s)  # no syscall: sampled every turn, as the busy count changes
        if now_s - self._last_metrics_s >= METRICS_INTERVAL_S:
            self._last_metrics_s = now_s
            self.publish(Metrics(time_unix_s=time.time(), values=self.metrics_values()))
        self.loop_latency.record(time.monotonic() - now_s)

    def _watch(self, now_s: float) -> None:
        """The timed checks: children, closing streams, progress, cursors, memory."""
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
        hold_fast_leads(self.streams, self.scheduler)  # a fast file's bounded backlog
        self.streams.update_cursors()
        self._watch_memory(now_s)

    def _hurried(self) -> bool:
        """Supervision that moves every turn: a stop drains, a stream closes or reads a file
        fast, a child is being reaped, a worker waits for its restart or drains."""
        return (
            self.stopping
            or self._reaping > 0
            or not self.streams.steady()
            or not self.pool.settled()
        )

    def _ticking(self) -> bool:
        """Whether the next poll waits at most ``POLL_MS``: ``_hurried``, or the scheduler holds
        work and a worker is free to take it (its plans depend on the time: partial intervals,
        budgets). With every worker busy nothing can go before a reply, which is a message."""
        if self._hurried():
            return True
        return not self.scheduler.idle() and bool(self.pool.idle_roles())

    def _poll_timeout_ms(self, now_s: float) -> int:
        """How long the next poll may block: ``POLL_MS`` when ticking, else until a timer is due."""
        if self._ticking():
            return POLL_MS
        due_s = min(self._next_watch_s, self._last_metrics_s + METRICS_INTERVAL_S)
        return max(0, round((due_s - now_s) * 1000) + 1)

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
        route_events(
            self.sockets.events_receiver,
            now_s,
            streams=self.streams,
            scheduler=self.scheduler,
            counters=self.counters,
            publish=self.publish,
            accept_speech=accept_speech,
            heard=self.gateway.heard if self.gateway is not None else None,
        )

    def _handle_pool(
        self, now_s: float, *, receive: bool = True, check_health: bool = True
    ) -> None:
        events = self.pool.poll(0, receive=receive, check_health=check_health)
        for role, message in events.replies:
            for output in self.scheduler.on_reply(role, message, now_s):
                self.publish(output)
        for loss in events.lost:
            logger.warning("worker %s replaced: %s", loss.role, loss.why)
            self.progress.worker_replaced(loss.role, loss.why)
            self.memory.forget(loss.role)
            for output in self.scheduler.worker_lost(loss.role, now_s, loss.why):
                self.publish(output)

    def _dispatch(self, now_s: float) -> None:
        idle = self.pool.idle_roles()
        if idle:
            shed = self.adaptation.shed_partials
            for role, request in self.scheduler.dispatch(idle, now_s, shed_partials=shed):
                if not self.pool.submit(role, request):
                    self.scheduler.on_unsent(role, request, now_s)
        for role, cancel in self.scheduler.preemptions(now_s):  # final work waits: cut partials
            self.pool.cancel(role, cancel)

    def _watch_memory(self, now_s: float) -> None:
        for recycle in self.memory.check(now_s, self.pool, self.config.supervisor):
            logger.warning(
                "%s %s (%.0f MB): recycling it after its current request",
                recycle.role,
                recycle.why,
                recycle.rss_bytes / 1e6,
            )
            self.counters.worker_recycles += 1
            self.pool.drain(recycle.role)

    # ---- streams ------------------------------------------------------------------------

    def _watch_load(self, now_s: float) -> None:
        """Measure the pool's load and the streams' lag; adapt when lag is sustained."""
        slots = list(self.pool)
        busy = sum(1 for slot in slots if slot.ready and slot.in_flight is not None)
        partial = sum(1 for slot in slots if slot.ready and is_partial_work(slot.in_flight))
        self.load.sample(now_s, busy, sum(1 for slot in slots if slot.ready), partial)
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
        """Send on the transcript PUB, a final journaled first (``workers.daemon_publisher``)."""
        self.publisher.publish(message)

    def metrics_values(self) -> dict[str, Any]:
        return metrics_values(self._status_view())

    def status_values(self) -> dict[str, Any]:
        values = status(self._status_view())
        if self.gateway is not None:
            values["processes"].append(self.gateway.row(time.monotonic()))
        return values

    def _vad_read_s(self) -> dict[str, float]:
        """Each open stream's VAD read position (stream seconds): every speech event for the
        audio before it has arrived (the position its last heartbeat reported)."""
        streams = getattr(self, "streams", None)  # a stop during start-up: none yet
        if streams is None:
            return {}
        return {
            stream.stream_id: round(stream.children.vad_position / SAMPLE_RATE_HZ, 3)
            for stream in streams
            if stream.state != "closed"
        }

    def _backlog_from_s(self) -> dict[str, float | None]:
        """Each open stream's oldest ended segment still without its final (its start, stream
        seconds; None: none waits): a fast stream's capture stays within ``FAST_LEAD_S`` of it."""
        return {
            stream.stream_id: None
            if (at := backlog_start_index(self.scheduler, stream.stream_id)) is None
            else round(at / SAMPLE_RATE_HZ, 3)
            for stream in self.streams
            if stream.state != "closed"
        }

    def _status_view(self) -> DaemonView:
        return DaemonView(
            instance=self.options.instance,
            config=self.config,
            endpoints=self.sockets.endpoints,
            started_at_s=self.started_at_s,
            stopping=self.stopping,
            streams=self.streams,
            workers=self.pool,
            worker_restarts=self.pool.total_restarts,
            ring=main.ring if (main := self.streams.main) is not None else None,
            stream_rows=self.streams.rows(time.monotonic()),
            vad_read_s=self._vad_read_s(),
            backlog_from_s=self._backlog_from_s(),
            stop_vad_read_s=self.stop_vad_read_s,
            adaptation=self.adaptation.stats(),
            load={
                "busy_fraction": round(self.load.busy_fraction, 3),
                "partial_fraction": round(self.load.partial_fraction, 3),
                "partial_budget": self.scheduler.partial_budget(),
                "workers_ready": self.load.workers,
                "streams_refused": self.admission.refused,
                "streams_opened": self.streams.opened_total,
                "streams_closed": self.streams.closed_total,
            },
            counters=self.counters,
            latencies_ms=self.publisher.latencies_ms,
            last_seq=self.journal.last_seq,
            queue_depths=self.scheduler.queue_depths(),
            scheduler_stats=dict(self.scheduler.stats()),
            control=self.control_server.stats(),
            events_rejected=self.sockets.events_receiver.rejected_total,
            journal=self.journal.health().as_dict(),
            health=self.progress.health(),
            loop={
                **self.loop_latency.summary().as_dict(),
                "journal_append": self.publisher.journal_latency.summary().as_dict(),
            },
        )

    def set_profile(self, profile: str) -> list[str]:
        """Switch to ``profile``: reload the configuration and restart the VAD (new tiers and
        timings); workers are recycled after their current request when the asr section changed."""
        from config.loader import load_config

        overrides = {**self.options.overrides, "profile": profile}
        config = load_config(self.options.config_path, cli_overrides=overrides).config
        previous, self.config = self.config, config
        return apply_profile(
            config,
            previous,
            streams=self.streams,
            pool=self.pool,
            scheduler=self.scheduler,
            main_stream_id=STREAM_ID,
        )

    # ---- stopping -----------------------------------------------------------------------

    def _drain(self) -> None:
        """Finish or give up in-flight work within the shutdown timeout (``workers.daemon_drain``)."""
        drain(
            streams=self.streams,
            scheduler=self.scheduler,
            step=lambda: self._step(accept_speech=True),
            handle_events=lambda: self._handle_events(time.monotonic(), accept_speech=True),
            publish=self.publish,
            shutdown_timeout_s=self.config.supervisor.shutdown_timeout_s,
            no_worker_can_serve=lambda: self.progress.no_worker_can_serve(
                time.monotonic(), self.pool
            ),
        )

    def _close(self) -> None:
        for step in (
            lambda: self.gateway.stop() if self.gateway is not None else None,
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
        sockets = getattr(self, "sockets", None)
        if sockets is not None:
            if signal.set_wakeup_fd(-1) != sockets.wakeup_fd:
                logger.debug("the signal wake-up descriptor was not the daemon's")
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            sockets.close()
        context = getattr(self, "context", None)
        if context is not None:
            context.term()
        relay = getattr(self, "stdin_relay", None)
        if relay is not None:
            relay.remove()
        self.progress.close()
        logger.info("daemon stopped (%s)", self.stop_reason or "start-up failed")


def _child_exited(_signum: int, _frame: object) -> None:
    """SIGCHLD: nothing to do here; its wake-up byte ends the loop's poll (``_step``)."""


def peek_next_seq(config: Config, instance: str) -> int:
    """The seq the next final of ``instance`` will get (read-only; call before the daemon starts)."""
    runtime_dir = resolve_runtime_dir(config.outputs.runtime_dir)
    return FinalsJournal.peek_next_seq(journal_path(config.outputs, runtime_dir, instance))


def run_daemon(config: Config, options: DaemonOptions) -> int:
    return Supervisor(config, options).run()
