"""The supervisor's view of whether it can still make progress, and what it tells systemd.

``ProgressWatch`` gathers the circuit breakers of capture, VAD and every asr worker once a
second and asks ``pipeline.supervision.progress.judge_progress``. A finite source (a file
without ``--loop``, stdin) that can make no progress ends the daemon with ``EXIT_NO_PROGRESS``
and the reason; a live source keeps running, reported as ``degraded``. It also keeps the
service manager informed (``pipeline.supervision.sd_notify``): READY once a worker is ready,
STATUS in words, WATCHDOG from the loop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pipeline.sources.source_spec import parse_source_spec
from pipeline.supervision.progress import (
    DEGRADED,
    OK,
    STUCK,
    ChildHealth,
    ProgressVerdict,
    judge_progress,
)
from pipeline.supervision.sd_notify import ServiceNotifier

logger = logging.getLogger(__name__)

EXIT_NO_PROGRESS = 3  # a finite source was given up: no child could make progress
CHECK_INTERVAL_S = 1.0  # how often the breakers are judged


def is_finite_source(source: str, loop: bool) -> bool:
    """A file without looping, or stdin: a source that ends by itself."""
    kind = parse_source_spec(source).kind
    return (kind == "file" and not loop) or kind == "stdin"


def worker_stuck_for_s(slot: Any, now_s: float) -> float:
    """A worker slot's ``SupervisedChild.stuck_for_s``; 0 once ready (it recovered)."""
    return 0.0 if slot.ready else slot.stuck_for_s(now_s)


class ProgressWatch:
    def __init__(self, give_up_after_s: float, finite_source: bool) -> None:
        self.give_up_after_s = give_up_after_s
        self.finite_source = finite_source
        self.verdict = ProgressVerdict(OK, "")
        self.worker_failures: dict[str, str] = {}  # role -> why it was last replaced
        self.notifier = ServiceNotifier()
        self._last_check_s = float("-inf")

    def worker_replaced(self, role: str, why: str) -> None:
        if why != "recycled":
            self.worker_failures[role] = why

    def check(self, now_s: float, streams: Any, pool: Iterable[Any]) -> ProgressVerdict:
        """Judge (at most every ``CHECK_INTERVAL_S``) the breakers of ``streams`` (a
        ``StreamProcesses``) and of the slots of ``pool``; returns the latest verdict."""
        if now_s - self._last_check_s < CHECK_INTERVAL_S:
            return self.verdict
        self._last_check_s = now_s
        workers = {
            slot.role: ChildHealth(
                worker_stuck_for_s(slot, now_s), self.worker_failures.get(slot.role, "")
            )
            for slot in pool
        }
        verdict = judge_progress(streams.health(now_s), workers, self.give_up_after_s)
        if verdict.state != self.verdict.state:
            level = logging.INFO if verdict.state == OK else logging.WARNING
            logger.log(level, "health: %s %s", verdict.state, verdict.reason)
        self.verdict = verdict
        return verdict

    def no_worker_can_serve(self, now_s: float, pool: Iterable[Any]) -> bool:
        """True when every asr worker's breaker has stayed open ``give_up_after_s``: queued
        work cannot be answered, however long a stop waits for it."""
        slots = list(pool)
        return bool(slots) and all(
            worker_stuck_for_s(slot, now_s) >= self.give_up_after_s for slot in slots
        )

    def health(self) -> dict[str, str]:
        """The latest verdict for status and metrics; a live source that can make no progress
        keeps running and reads ``degraded``."""
        state = self.verdict.state
        if state == STUCK and not self.finite_source:
            state = DEGRADED
        return {"state": state, "reason": self.verdict.reason}

    def notify(self, now_s: float, ready_workers: int, total_workers: int) -> None:
        """READY once a worker is ready; STATUS; WATCHDOG when due."""
        if not self.notifier.enabled:
            return
        status = f"{ready_workers}/{total_workers} workers ready"
        if self.verdict.state != OK:
            status += f"; {self.verdict.state}: {self.verdict.reason}"
        self.notifier.step(now_s, ready=ready_workers > 0, status=status)

    def stopping(self, reason: str) -> None:
        self.notifier.stopping(f"stopping: {reason}")

    def close(self) -> None:
        self.notifier.close()
