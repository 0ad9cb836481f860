"""A pool of asr worker processes behind one ROUTER socket, as the parent sees it.

The pool starts N ``workers.asr`` children, knows which are ready and idle, sends one request
at a time to a worker, and watches them: a dead child, a silent one (no heartbeat for
``heartbeat_timeout_s``) or a hung one (busy far longer than its audio allows) is killed and
restarted within the restart intensity limit. Each worker process that goes (killed, crashed,
or recycled) is reported once, as a ``WorkerLoss`` in ``PoolEvents.lost`` carrying the request
it held, so the caller sends that again and no work disappears with a worker.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import zmq

from config.loader import as_tree
from config.schema import Config
from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.backends.mlx_runtime import worker_environment
from pipeline.bus.frames import PeerUnreachable, Receiver, send_message
from pipeline.messages.base import Message
from pipeline.messages.work import (
    CANCELLED,
    CancelRequest,
    Heartbeat,
    Ready,
    Shutdown,
    StreamClose,
    StreamFeed,
    StreamOpen,
    StreamUpdate,
    TranscribeBatch,
    TranscribeBatchResult,
    TranscribeRequest,
    TranscribeResult,
    WorkerError,
)
from pipeline.supervision.restart_policy import RestartLimits, RestartPolicy
from pipeline.supervision.timers import HangLimitOptions, RequestTimer, billed_window_s
from workers.child_process import ChildProcess, ChildSpec, reap_all
from workers.supervised_child import SupervisedChild

logger = logging.getLogger(__name__)

HEARTBEAT_SUFFIX = b":hb"
HANG_GRACE_S = 10.0  # added to every hang limit (see pipeline.supervision.timers)
WorkRequest = TranscribeRequest | StreamOpen | StreamFeed | StreamClose


@dataclass(frozen=True, kw_only=True)
class PoolOptions:
    """What a ``WorkerPool`` needs: its workers, what they load, and how they are watched."""

    work_endpoint: str  # the ROUTER endpoint the workers connect to
    model_path: str  # the model every worker loads
    workers: int  # how many asr processes
    worker_config: Mapping[str, Any]  # configuration tree each worker loads (``as_tree``)
    blas_threads: int  # BLAS threads per worker (0: cores / workers)
    max_frame_bytes: int  # largest frame accepted from a worker
    restart_limits: RestartLimits  # restart intensity per worker
    heartbeat_timeout_s: float  # a ready worker silent this long is replaced
    startup_timeout_s: float  # a loading worker silent this long is replaced
    inference_timeout_factor: float  # busy longer than this × billed audio (+ grace): hung
    billed_window_s: float = 0.0  # audio a request pays at least (Whisper: its 30 s window)
    run_id: str = ""  # in every worker's identity: a stale worker of another run is ignored
    log_level: str = "WARNING"  # the workers' log level
    role_prefix: str = "asr"  # roles are "{prefix}-1", "{prefix}-2", ...

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        work_endpoint: str,
        model_path: str,
        workers: int,
        log_level: str = "WARNING",
        role_prefix: str = "asr",
        run_id: str = "",
    ) -> PoolOptions:
        return cls(
            run_id=run_id,
            work_endpoint=work_endpoint,
            model_path=model_path,
            workers=workers,
            log_level=log_level,
            role_prefix=role_prefix,
            **_config_settings(config),
        )

    def with_config(self, config: Config) -> PoolOptions:
        """The same pool under a new configuration (limits, timeouts, what workers load)."""
        return replace(self, **_config_settings(config))


def _config_settings(config: Config) -> dict[str, Any]:
    supervisor = config.supervisor
    return {
        "worker_config": as_tree(config),
        "blas_threads": config.asr.blas_threads,
        "max_frame_bytes": config.outputs.max_frame_bytes,
        "restart_limits": RestartLimits.from_config(supervisor),
        "billed_window_s": billed_window_s(config.asr.backend),
        "heartbeat_timeout_s": supervisor.heartbeat_timeout_s,
        "startup_timeout_s": supervisor.startup_timeout_s,
        "inference_timeout_factor": supervisor.inference_timeout_factor,
    }


@dataclass
class WorkerSlot(SupervisedChild):
    """One worker position in the pool (a ``SupervisedChild``: heartbeat, start-up grace,
    restart policy, recycle); its process is replaced on restarts."""

    ready: bool = False
    in_flight: WorkRequest | None = None
    sent_at_s: float = 0.0
    peak_rss_bytes: int = 0
    mlx_active_bytes: int = 0
    mlx_cache_bytes: int = 0
    ready_at_s: float = 0.0
    load_s: float = 0.0  # start → Ready of the latest process
    draining: bool = False  # finish the current request, then be replaced
    completed: int = 0
    identity: str = ""  # the DEALER identity: role, and the run when the pool has one
    timer: RequestTimer | None = None  # measured request costs -> the hang limit

    @property
    def idle(self) -> bool:
        return self.ready and self.in_flight is None and not self.failed and not self.draining

    def grace_over(self) -> bool:
        """A worker's start-up grace (its model load) lasts until its ``Ready``."""
        return self.ready


@dataclass(frozen=True, slots=True)
class WorkerLoss:
    """A worker process went: whatever it held (its request, any session state) is gone."""

    role: str
    why: str  # "exited with code -9", "silent for 31.0 s", "recycled", ...
    request: WorkRequest | None  # the request it was working on, to send again elsewhere
    planned: bool = False  # a recycle (memory, configuration), not a failure


@dataclass
class PoolEvents:
    """What one ``poll`` saw."""

    replies: list[tuple[str, Message]] = field(default_factory=list)  # (role, result/error/update)
    lost: list[WorkerLoss] = field(default_factory=list)  # one per worker process gone
    ready: list[str] = field(default_factory=list)  # roles that became ready


class WorkerPool:
    def __init__(self, router: zmq.Socket, options: PoolOptions) -> None:
        """``router``: the bound ROUTER socket at ``options.work_endpoint``."""
        self.options = options
        self._router = router
        self._receiver = Receiver(
            router,
            accept=(
                Ready,
                Heartbeat,
                TranscribeResult,
                WorkerError,
                StreamUpdate,
                TranscribeBatchResult,
            ),
            max_frame_bytes=options.max_frame_bytes,
            name="work",
        )
        environment = worker_environment(options.blas_threads, options.workers)
        settings: dict[str, Any] = {
            "config": dict(options.worker_config),
            "model_path": options.model_path,
            "work_endpoint": options.work_endpoint,
        }
        self.slots: dict[str, WorkerSlot] = {}
        for number in range(1, options.workers + 1):
            role = f"{options.role_prefix}-{number}"
            identity = _identity(role, options.run_id)
            spec = ChildSpec(
                role,
                "workers.asr",
                {**settings, "role": role, "identity": identity},
                options.log_level,
                environment,
                fast_exit=True,  # a recycled worker is gone within its grace (child_process)
            )
            policy = RestartPolicy(options.restart_limits)
            self.slots[role] = WorkerSlot(role, ChildProcess(spec), policy, identity=identity)
            self.slots[role].timer = RequestTimer(
                HangLimitOptions(
                    factor=options.inference_timeout_factor,
                    margin_s=HANG_GRACE_S,
                    window_s=options.billed_window_s,
                )
            )
        self._slots_by_identity = {slot.identity: slot for slot in self.slots.values()}
        self.total_restarts = 0

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        now_s = time.monotonic()
        for slot in self.slots.values():
            self._start_slot(slot, now_s)

    def _start_slot(self, slot: WorkerSlot, now_s: float) -> None:
        slot.ready = False
        slot.in_flight = None
        slot.draining = False
        slot.launch(now_s)

    def stop(self, grace_s: float) -> None:
        """Ask every worker to shut down, then stop the processes (forced after ``grace_s``)."""
        for slot in self.slots.values():
            if slot.child.is_alive() and slot.ready:
                self._send(slot, Shutdown(reason="pool stopping"))
            elif slot.child.is_alive():
                slot.child.signal(signal.SIGTERM)  # still loading: nothing to finish
        deadline_s = time.monotonic() + grace_s
        for slot in self.slots.values():
            slot.child.stop(max(0.1, deadline_s - time.monotonic()))
        reap_all(timeout_s=max(0.1, deadline_s - time.monotonic()))  # killed or recycled ones

    # ---- work ---------------------------------------------------------------------------

    def idle_roles(self) -> list[str]:
        return [role for role, slot in self.slots.items() if slot.idle]

    def ready_count(self) -> int:
        return sum(1 for slot in self.slots.values() if slot.ready and not slot.failed)

    def all_failed(self) -> bool:
        return all(slot.failed for slot in self.slots.values())

    def submit(self, role: str, request: WorkRequest) -> bool:
        """Send ``request`` to the idle worker ``role``; False if it could not be delivered."""
        slot = self.slots[role]
        if not slot.idle:
            raise RuntimeError(f"{role} is not idle")
        if not self._send(slot, request):
            return False
        slot.in_flight = request
        slot.sent_at_s = time.monotonic()
        return True

    def cancel(self, role: str, message: CancelRequest) -> bool:
        """Ask busy worker ``role`` to stop ``message.request_id`` (it still answers, and stays
        busy until then); False when it does not hold that request or cannot be reached."""
        slot = self.slots[role]
        if _request_id(slot.in_flight) != message.request_id:
            return False
        return self._send(slot, message)

    def _send(self, slot: WorkerSlot, message: Message) -> bool:
        try:
            return send_message(
                self._router, message, identity=[slot.identity.encode()], block=False
            )
        except PeerUnreachable:
            logger.warning("%s is not connected; will retry when it is", slot.role)
            slot.ready = False
            return False

    # ---- watching -----------------------------------------------------------------------

    def poll(
        self, timeout_ms: int, *, receive: bool = True, check_health: bool = True
    ) -> PoolEvents:
        """Receive what workers sent (waiting up to ``timeout_ms``) and check their health.

        The supervisor's loop skips ``receive`` when its poll found nothing on the work socket
        and ``check_health`` between its watch turns (no syscall for nothing to do)."""
        events = PoolEvents()
        wait_ms = timeout_ms
        while receive:
            received = self._receiver.receive(timeout_ms=wait_ms)
            if received is None:
                break
            wait_ms = 0
            self._on_message(received.identity, received.message, events)
        if check_health:
            self._check_health(time.monotonic(), events)
        return events

    def settled(self) -> bool:
        """No worker waits for a restart, drains or is being recycled: nothing time-bound."""
        return not any(
            slot.restart_at_s is not None or slot.draining for slot in self.slots.values()
        )

    def _on_message(
        self, identity: tuple[bytes, ...] | list[bytes], message: Message, events: PoolEvents
    ) -> None:
        raw = identity[-1] if identity else b""
        slot = self._slots_by_identity.get(raw.removesuffix(HEARTBEAT_SUFFIX).decode("latin-1"))
        if slot is None:  # e.g. a stale worker of an earlier run: it never takes a slot
            logger.warning("message %s from unknown peer %r ignored", message.kind, raw)
            return
        role = slot.role
        now_s = time.monotonic()
        slot.heard(now_s)
        if isinstance(message, Heartbeat):
            slot.rss_bytes = message.rss_bytes
            slot.peak_rss_bytes = max(slot.peak_rss_bytes, message.rss_bytes)
            slot.mlx_active_bytes = message.mlx_active_bytes
            slot.mlx_cache_bytes = message.mlx_cache_bytes
            return
        if isinstance(message, Ready):
            slot.ready = True
            slot.ready_at_s = now_s
            slot.load_s = now_s - slot.started_at_s
            logger.info(
                "%s ready (pid %d, %s, loaded in %.2f s)",
                role,
                message.pid,
                message.model,
                slot.load_s,
            )
            events.ready.append(role)
            return
        answered = _request_id(slot.in_flight)
        if answered and _reply_id(message) == answered:
            if slot.timer is not None and getattr(message, "error_kind", "") != CANCELLED:
                slot.timer.record(now_s - slot.sent_at_s, _audio_s(slot.in_flight))
            slot.in_flight = None
            slot.completed += 1
        events.replies.append((role, message))

    def _check_health(self, now_s: float, events: PoolEvents) -> None:
        options = self.options
        for slot in self.slots.values():
            if slot.failed or (slot.child is not None and not slot.child.started):
                continue  # failed for good, or not started yet: nothing to watch
            if slot.restart_at_s is not None:
                if slot.restart_due(now_s):
                    self._start_slot(slot, now_s)
                continue
            why = ""
            if not slot.alive():
                why = f"exited with code {slot.exitcode()}"
            elif silent := slot.silent_why(
                now_s, options.heartbeat_timeout_s, options.startup_timeout_s
            ):
                why = silent
            elif slot.in_flight is not None and now_s - slot.sent_at_s > self._hang_limit_s(
                slot, slot.in_flight
            ):
                why = f"busy for {now_s - slot.sent_at_s:.1f} s on {_request_id(slot.in_flight)}"
            elif slot.draining and slot.in_flight is None:
                self._recycle(slot, now_s, events)
                continue
            if why:
                self._replace(slot, why, now_s, events)

    def _hang_limit_s(self, slot: WorkerSlot, request: WorkRequest) -> float:
        """From what the backend bills and this worker's measured cost (see timers)."""
        assert slot.timer is not None
        return slot.timer.limit_s(_audio_s(request))

    def _replace(self, slot: WorkerSlot, why: str, now_s: float, events: PoolEvents) -> None:
        logger.warning("%s (pid %s) %s: replacing it", slot.role, slot.pid, why)
        events.lost.append(WorkerLoss(slot.role, why, slot.in_flight))
        slot.in_flight = None
        slot.ready = False
        slot.last_failure = why
        # kills it (never waits: the supervisor's loop reaps it) and schedules the successor
        decision = slot.schedule_restart(why, now_s)
        if slot.failed:
            logger.error(
                "%s restarted %d times within %.0f s: marked failed",
                slot.role,
                decision.recent_restarts,
                self.options.restart_limits.window_s,
            )
            return
        self.total_restarts += 1
        if decision.delay_s <= 0:
            self._start_slot(slot, now_s)

    def _recycle(self, slot: WorkerSlot, now_s: float, events: PoolEvents) -> None:
        """A planned replacement (memory, new configuration): not a failure, not counted
        against the restart limit. The worker is idle, so no work is lost."""
        logger.info("%s (pid %s) drained: starting a fresh one", slot.role, slot.pid)
        self._send(slot, Shutdown(reason="recycled"))
        # an idle worker answers Shutdown within its poll interval; nobody waits for it here
        slot.retire(now_s, grace_s=2.0)
        events.lost.append(WorkerLoss(slot.role, "recycled", None, planned=True))
        self._start_slot(slot, now_s)

    def update_config(self, config: Config) -> None:
        """Workers started from now on (restarts, recycles) get ``config``; its supervision
        limits apply from now on."""
        self.options = self.options.with_config(config)
        tree = dict(self.options.worker_config)
        for slot in self.slots.values():
            slot.child.spec = replace(
                slot.child.spec, settings={**slot.child.spec.settings, "config": tree}
            )

    def drain(self, role: str) -> None:
        """Replace ``role`` once its current request is answered (memory recycling)."""
        self.slots[role].draining = True

    def __iter__(self) -> Iterator[WorkerSlot]:
        return iter(self.slots.values())


def _identity(role: str, run_id: str) -> str:
    return f"{role}@{run_id}" if run_id else role


def _audio_s(request: WorkRequest) -> float:
    if isinstance(request, TranscribeBatch):  # each item billed at least a window (hang limit)
        return sum(max(_audio_s(item), 30.0) for item in request.requests)
    if isinstance(request, TranscribeRequest):
        return (request.end_index - request.start_index) / SAMPLE_RATE_HZ
    return 30.0  # a streaming session step: at most one window


def _request_id(request: WorkRequest | None) -> str:
    if request is None:
        return ""
    if isinstance(request, TranscribeRequest | TranscribeBatch):
        return request.request_id
    return request.session_id


def _reply_id(message: Message) -> str:
    if isinstance(message, (TranscribeResult, WorkerError, TranscribeBatchResult)):
        return message.request_id
    if isinstance(message, StreamUpdate):
        return message.session_id
    return ""
