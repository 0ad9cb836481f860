"""ProgressWatch's verdict on asr workers behind an open breaker (logic; the daemon-level
escalation runs in ``test_escalation.py``): a start after the breaker that is still loading is
not stuck, however long the breaker has been open; a slot with no live process is."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.supervision.progress import OK, STUCK
from pipeline.supervision.restart_policy import RestartLimits, RestartPolicy
from workers.progress_watch import ProgressWatch, worker_stuck_for_s
from workers.worker_pool import WorkerSlot

LIMITS = RestartLimits(max_restarts=1, window_s=5.0, backoff_initial_s=0.1, backoff_max_s=1.0)


@dataclass
class Slot(WorkerSlot):
    """A real ``WorkerSlot`` (its breaker and the verdict's rules) whose process is only a
    flag: alive or not."""

    process_alive: bool = False

    def alive(self) -> bool:
        return self.process_alive


class NoStreams:
    def health(self, now_s: float) -> dict:
        return {}


def tripped_slot() -> Slot:
    """Two failed loads at 0 s and 0.2 s: the breaker opened at 0.2 s (one restart allowed)."""
    policy = RestartPolicy(LIMITS)
    policy.decide(0.0)
    policy.decide(0.2)
    assert policy.breaker_open
    return Slot("asr-1", None, policy)


def test_a_trial_start_still_loading_is_not_stuck() -> None:
    slot = tripped_slot()
    slot.process_alive = True  # restarted after the cool-down, loading the model
    watch = ProgressWatch(give_up_after_s=5.0, finite_source=True)
    assert worker_stuck_for_s(slot, 6.0) == 0.0
    assert watch.check(6.0, NoStreams(), [slot]).state == OK
    assert not watch.no_worker_can_serve(6.0, [slot])


def test_a_slot_without_a_live_process_behind_the_breaker_is_stuck() -> None:
    slot = tripped_slot()  # its trial start failed too: waiting for the next cool-down
    watch = ProgressWatch(give_up_after_s=5.0, finite_source=True)
    assert worker_stuck_for_s(slot, 6.0) > 5.0
    verdict = watch.check(6.0, NoStreams(), [slot])
    assert verdict.state == STUCK and "asr" in verdict.reason
    assert watch.no_worker_can_serve(6.0, [slot])


def test_a_ready_worker_is_never_stuck() -> None:
    slot = tripped_slot()
    slot.ready = slot.process_alive = True
    assert worker_stuck_for_s(slot, 100.0) == 0.0
