"""One supervised child, the same for capture, VAD and asr workers: its process, when it was
last heard from, its start-up grace, its restart policy (backoff, then a circuit breaker) and
its planned replacement (recycle).

The owners (``workers.stream_children`` for a stream's capture and VAD, ``workers.worker_pool``
for asr workers) add what only they know: how a stream's VAD resumes in its ring, a worker's
request in flight. Every rule about liveness lives here, once:

- every start (restarts included) gets the start-up grace: the child may stay silent for
  ``max(heartbeat_timeout_s, startup_timeout_s)`` until it is first heard from (``grace_over``;
  a worker's grace ends with its ``Ready``);
- a dead child, or one silent past its limit, is killed (never waited for: the supervisor's
  loop reaps it) and restarted after the policy's delay (``schedule_restart``);
- a recycle (memory, new configuration) retires the process without counting a failure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipeline.supervision.restart_policy import RestartDecision, RestartPolicy
from pipeline.supervision.timers import silence_limit_s
from workers.child_process import ChildProcess, ChildSpec

logger = logging.getLogger(__name__)


@dataclass
class SupervisedChild:
    role: str
    child: ChildProcess | None
    policy: RestartPolicy
    last_heartbeat_s: float = 0.0
    rss_bytes: int = 0
    restart_at_s: float | None = None  # a restart is scheduled (backoff or cool-down)
    started_at_s: float = 0.0
    heard_since_start: bool = False  # the current process has sent something: grace over
    failed: bool = False  # stays down (an owner that gives up; the breaker never does)
    restarts: int = 0  # failures restarted (recycles not included)
    recycles: int = 0  # planned replacements
    last_failure: str = ""

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child else None

    # ---- life ---------------------------------------------------------------------------

    def launch(self, now_s: float, spec: ChildSpec | None = None) -> None:
        """Start a fresh process (``spec``, or the previous one's), with a new start-up grace."""
        if spec is None:
            assert self.child is not None, f"{self.role}: no spec to start"
            spec = self.child.spec
        self.child = ChildProcess(spec)
        self.child.start()
        self.started_at_s = now_s
        self.last_heartbeat_s = now_s
        self.restart_at_s = None
        self.heard_since_start = False  # a dead predecessor's beats say nothing of this one
        self.rss_bytes = 0

    def heard(self, now_s: float, rss_bytes: int | None = None) -> None:
        """The current process sent something (a heartbeat, an event, a reply)."""
        self.last_heartbeat_s = now_s
        self.heard_since_start = True
        if rss_bytes is not None:
            self.rss_bytes = rss_bytes

    def grace_over(self) -> bool:
        """The start-up grace has ended (overridden: a worker's ends with ``Ready``)."""
        return self.heard_since_start

    def alive(self) -> bool:
        return bool(self.child and self.child.is_alive())

    # ---- watching -----------------------------------------------------------------------

    def exitcode(self) -> int | None:
        """The exit code when the process has ended, else None."""
        if self.child is None or self.child.is_alive():
            return None
        return self.child.exitcode

    def silent_why(self, now_s: float, heartbeat_timeout_s: float, startup_timeout_s: float) -> str:
        """Why the child counts as silent ("" when it does not), its grace considered."""
        silent_s = now_s - self.last_heartbeat_s
        limit_s = silence_limit_s(self.grace_over(), heartbeat_timeout_s, startup_timeout_s)
        return f"silent for {silent_s:.1f} s" if silent_s > limit_s else ""

    def restart_due(self, now_s: float) -> bool:
        return self.restart_at_s is not None and now_s >= self.restart_at_s

    def schedule_restart(self, why: str, now_s: float) -> RestartDecision:
        """Kill the process (never waits) and schedule its successor by the policy; the owner
        starts it at once when ``delay_s`` is 0, else when ``restart_due``."""
        if self.child is not None:
            self.child.kill()
        decision = self.policy.decide(now_s)
        if decision.breaker_open:
            logger.error(
                "%s keeps failing (%s): circuit breaker open, next try in %.1f s",
                self.role,
                why,
                decision.delay_s,
            )
        if not decision.allowed:
            self.failed = True
            return decision
        self.restarts += 1
        self.restart_at_s = now_s + decision.delay_s
        return decision

    def retire(self, now_s: float, grace_s: float = 2.0) -> None:
        """A planned replacement: the old process (asked to stop) is reaped later, never
        waited for; the owner launches the successor."""
        if self.child is not None:
            self.child.retire(grace_s=grace_s, now_s=now_s)
        self.recycles += 1

    def stuck_for_s(self, now_s: float) -> float:
        """How long the child has been unable to make progress, for the no-progress verdict
        (``pipeline.supervision.progress``): 0 while its process is alive (serving, or a start
        after the breaker that has not failed yet: one that never answers is killed at the end
        of its start-up grace and counts again from the breaker's trip), else how long its
        breaker has been open. Judging the breaker alone gave up on a finite source while a
        worker's trial start was still loading the model on a loaded machine (CI, 2026-12-03:
        4.8 s in, against ``restart_window_s`` 5)."""
        return 0.0 if self.alive() else self.policy.stuck_for_s(now_s)

    def state(self, now_s: float, finished: bool = False) -> str:
        """For status rows: finished, running, cooling_down (breaker open) or restarting."""
        if finished:
            return "finished"
        if self.alive():
            return "running"
        return "cooling_down" if self.policy.stuck_for_s(now_s) > 0 else "restarting"
