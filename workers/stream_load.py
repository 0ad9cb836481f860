"""How loaded the worker pool is, whether one more stream fits, and how the daemon adapts.

- ``LoadMeter``: the workers' busy fraction (busy workers / ready workers, averaged over about
  ``LOAD_TAU_S``), sampled every loop step, and the part of it spent on partials
  (``partial_fraction``); with the streams' lags it is the measured load.
- ``Admission``: ``stream.open`` is refused with ``CapacityError`` (a ``capacity`` error naming
  the measured load) when the open-stream cap is reached, when the busy fraction projected with
  one more stream is over ``streams.admission_max_busy``, or when a stream already lags more
  than ``streams.adapt_lag_s``. Projected: the measured busy fraction plus
  ``STREAM_WORKER_S_PER_S`` of worker time (daemon_e2e's figure) for the new stream and for each
  stream opened in the last ``LOAD_TAU_S``, whose load the average does not show yet; so a
  client opening many streams at once is refused at the capacity that figure gives (the fifth
  on two workers) instead of after they all lag. (A closed stream's load leaves the average
  over ``LOAD_TAU_S`` too, which is why no per-stream share is read from it.) With the partial
  budget (``streams.partial_share``) the busy fraction stops near the share once partials fill
  it, whatever the number of streams: partial time is elastic (the budget thins every stream's
  partials out, shedding thins them more), finals' time is not. So once the pool's partial
  time is measured (``partial_fraction``), a stream is counted at what it really costs to stay
  real-time (``projected_need``): the measured finals' share plus ``FINAL_WORKER_S_PER_S`` for
  each fresh stream and the new one, plus ``PARTIAL_NEED_WORKER_S_PER_S`` of partials for
  every stream carrying audio (running and new; a push stream no client has fed yet needs
  none): partials decoded in batches at the cadence commits while speaking need. Admission
  refuses when that need is over ``admission_max_busy``, not when the budget is merely full.
- ``Adaptation``: lag over ``adapt_lag_s`` held for ``adapt_sustain_s`` moves one level up
  (0 normal -> 1 partials shed -> 2 streams on ``adapt_profile``); lag under half of it held as
  long moves one level down. Each switch is logged and counted (``stats``, shown in ``status``
  and ``metrics``); ``streams.adapt = false`` turns it off. With ``battery_profile`` on, a
  platform that reports running on battery (``psutil.sensors_battery``) holds level 2.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from config.schema import StreamsConfig
from pipeline.errors import StreamscribeError

logger = logging.getLogger(__name__)

LOAD_TAU_S = 10.0  # time constant of the busy-fraction average
# Worker seconds one real-time stream takes per second before its own load is measured:
# daemon_e2e (balanced, quiet): partials 25.6 s + early finals 4.3 s of engine time for 85 s of
# audio (dictation and continuous speech). Partials decoded in batches (``batching``) do not
# lower it: batches form only when partials of several streams are due while no worker is free
# (bench/streams.py, 2 streams on 1 worker, no budget, loaded machine: 2 batches in 20 s, asr
# CPU 13.9 s without batching, 13.6 s with); once the pool is that full the partial budget, not
# this prior, sets the load (6 streams on 2 workers: 54 partials instead of 30 in 15.7 instead
# of 16.6 asr CPU-s), so a new stream's cost before its load shows is still a lone stream's.
STREAM_WORKER_S_PER_S = 0.35
# The part of it that is never shed: finals, early finals and the rest of committed segments
# (daemon_e2e: early finals 4.3 s of engine time for 85 s of audio; the finals' chunks after
# commits are short).
FINAL_WORKER_S_PER_S = 0.06
# What one stream's partials need once partials of several streams are decoded together
# (``batching``, ``streams.partial_align``) and share the partial budget: bench/streams.py's
# quiet N = 4 level (dictation p95 1.31 s, nothing lost) took 0.25 worker CPU-s per stream
# second, finals included (20.1 s for 4 x 20 s); the partial budget (partial_share 0.75 of 2
# workers, less 6 streams' finals) leaves each of 6 streams the same ~0.19. At a 1 s cadence
# alone partials would take 0.30 (daemon_e2e: 25.6 s for 85 s); batched pairs and threes cost
# 0.8x (bench/encoder_batch.py). bench/streams.py reports the measured worker CPU per stream
# second at each level (``worker_cpu_s_per_stream_s``).
PARTIAL_NEED_WORKER_S_PER_S = 0.19
BATTERY_CHECK_INTERVAL_S = 30.0
NORMAL, SHED_PARTIALS, CHEAP_PROFILE = 0, 1, 2
LEVEL_NAMES = ("normal", "partials_shed", "cheap_profile")


class CapacityError(StreamscribeError):
    """``stream.open`` refused: the daemon cannot keep one more stream real-time."""

    def __init__(self, message: str, details: dict[str, str]) -> None:
        super().__init__(f"capacity: {message}")
        self.details = details


class LoadMeter:
    """The workers' busy fraction, an exponential average over ``LOAD_TAU_S``."""

    def __init__(self, tau_s: float = LOAD_TAU_S) -> None:
        self.tau_s = tau_s
        self.busy_fraction = 0.0
        self.partial_fraction = 0.0  # of busy_fraction, workers busy on partials
        self.partials_measured = False  # partial_busy was ever given (else unknown)
        self.workers = 0  # ready workers at the last sample
        self._last_s: float | None = None

    def sample(
        self,
        now_s: float,
        busy_workers: int,
        ready_workers: int,
        partial_busy: int | None = None,
    ) -> float:
        """``partial_busy``: of the busy workers, those decoding partials (None: unknown)."""
        self.workers = ready_workers
        instant = busy_workers / ready_workers if ready_workers else 1.0 if busy_workers else 0.0
        partial = min(partial_busy or 0, busy_workers) / ready_workers if ready_workers else 0.0
        self.partials_measured = self.partials_measured or partial_busy is not None
        if self._last_s is not None:
            weight = min(1.0, max(0.0, now_s - self._last_s) / self.tau_s)
            self.busy_fraction += (instant - self.busy_fraction) * weight
            self.partial_fraction += (partial - self.partial_fraction) * weight
        self._last_s = now_s
        return self.busy_fraction


def is_partial_work(request: object) -> bool:
    """Whether a worker's request in flight is partial work (a partial, or a batch of them)."""
    items = getattr(request, "requests", None)
    if items:
        return all(getattr(item, "is_partial", False) for item in items)
    return bool(getattr(request, "is_partial", False))


@dataclass
class Admission:
    config: StreamsConfig
    refused: int = 0

    def check(
        self,
        running_streams: int,
        busy_fraction: float,
        worst_lag_s: float,
        *,
        fresh_streams: int = 0,
        workers: int = 0,
        partial_fraction: float | None = None,
        silent_streams: int = 0,
    ) -> None:
        """Raise ``CapacityError`` when one more stream does not fit (see module doc).
        ``fresh_streams``: of the running ones, those opened in the last ``LOAD_TAU_S``;
        ``workers``: ready workers, or the pool's configured size while none is (0: unknown, the
        prior is not used); ``partial_fraction``: the part of ``busy_fraction`` spent on
        partials (None: unknown, every busy second counts as the streams' need);
        ``silent_streams``: of the running ones, those not fresh that have written no audio at
        all (a push stream no client feeds): no partials to need until they do."""
        limits = self.config
        load = {
            "open_streams": str(running_streams),
            "recently_opened": str(fresh_streams),
            "busy_fraction": f"{busy_fraction:.2f}",
            "worst_lag_s": f"{worst_lag_s:.2f}",
            "workers": str(workers),
        }
        reason = ""
        if running_streams >= limits.max_open:
            reason = (
                f"{running_streams} streams open, the limit is {limits.max_open} (streams.max_open)"
            )
        else:
            if partial_fraction is not None and workers:
                speaking = max(0, running_streams - silent_streams)
                projected = projected_need(
                    busy_fraction, partial_fraction, speaking, fresh_streams, workers
                )
                load["partial_fraction"] = f"{partial_fraction:.2f}"
                what = (
                    f"workers busy {busy_fraction:.0%} with {running_streams} streams (partials "
                    f"{partial_fraction:.0%}, shed first); with one more, finals and the partials "
                    f"every stream needs ({PARTIAL_NEED_WORKER_S_PER_S} worker-s/s each, "
                    f"batched) would need"
                )
            else:
                projected = projected_busy(busy_fraction, running_streams, fresh_streams, workers)
                what = ""
            load["projected_busy_fraction"] = f"{projected:.2f}"
            if limits.admission_max_busy > 1.0:
                pass  # load not checked (configured off)
            elif running_streams and projected > limits.admission_max_busy:
                if what:  # the need model (partial time measured)
                    recent = (
                        f"; {fresh_streams} opened in the last {LOAD_TAU_S:.0f} s count their "
                        f"finals at {FINAL_WORKER_S_PER_S} worker-s/s before they show"
                        if fresh_streams
                        else ""
                    )
                    reason = (
                        f"{what} ~{projected:.0%} of them (limit "
                        f"{limits.admission_max_busy:.0%}){recent}"
                    )
                else:
                    recent = (
                        f" ({fresh_streams} opened in the last {LOAD_TAU_S:.0f} s, not yet in "
                        f"that figure, counted at {STREAM_WORKER_S_PER_S} worker-s/s each)"
                        if fresh_streams and workers
                        else ""
                    )
                    reason = (
                        f"workers busy {busy_fraction:.0%} with {running_streams} streams"
                        f"{recent}; one more would need ~{projected:.0%} (limit "
                        f"{limits.admission_max_busy:.0%})"
                    )
            elif worst_lag_s > limits.adapt_lag_s:
                reason = f"a stream already lags {worst_lag_s:.1f} s (limit {limits.adapt_lag_s} s)"
        if reason:
            self.refused += 1
            raise CapacityError(reason, load)


def projected_busy(busy_fraction: float, running: int, fresh: int, workers: int) -> float:
    """The busy fraction with one more stream (see module doc)."""
    if workers:
        per_stream = STREAM_WORKER_S_PER_S / workers
    else:  # the pool's size unknown: the streams' measured share (busy / streams measured)
        per_stream = busy_fraction / max(1, running - fresh)
    return busy_fraction + per_stream * (fresh + 1)


def projected_need(
    busy_fraction: float, partial_fraction: float, running: int, fresh: int, workers: int
) -> float:
    """The busy fraction every stream needs to stay real-time with one more (see module doc):
    the measured finals' share, a fresh stream's finals for each fresh one and the new one,
    and every stream's partials at ``PARTIAL_NEED_WORKER_S_PER_S``."""
    finals = max(0.0, busy_fraction - partial_fraction)
    finals += FINAL_WORKER_S_PER_S / workers * (fresh + 1)
    return finals + PARTIAL_NEED_WORKER_S_PER_S / workers * (running + 1)


@dataclass
class Adaptation:
    config: StreamsConfig
    level: int = NORMAL
    switches: int = 0
    _since_s: float | None = None  # when the current lag condition began
    _lagging: bool = False
    _on_battery: bool = False
    _battery_checked_s: float = -1e9
    history: list[str] = field(default_factory=list)  # the latest switches, for status

    def update(self, now_s: float, worst_lag_s: float) -> int | None:
        """Feed the worst lag; returns the new level when it changes, else None."""
        if not self.config.adapt:
            return None
        self._check_battery(now_s)
        lagging = worst_lag_s > self.config.adapt_lag_s
        calm = worst_lag_s < self.config.adapt_lag_s / 2
        if not (lagging or calm):
            self._since_s = None
            return None
        if self._since_s is None or lagging != self._lagging:
            self._since_s, self._lagging = now_s, lagging
            return None
        if now_s - self._since_s < self.config.adapt_sustain_s:
            return None
        floor = CHEAP_PROFILE if self._on_battery else NORMAL
        target = min(CHEAP_PROFILE, self.level + 1) if lagging else max(floor, self.level - 1)
        self._since_s = now_s
        if self._on_battery and self.level < CHEAP_PROFILE:
            target = CHEAP_PROFILE
        return self._switch(target, f"worst lag {worst_lag_s:.1f} s")

    def _switch(self, target: int, why: str) -> int | None:
        if target == self.level:
            return None
        logger.warning("adapting: %s -> %s (%s)", LEVEL_NAMES[self.level], LEVEL_NAMES[target], why)
        self.level = target
        self.switches += 1
        self.history = [*self.history[-9:], f"{LEVEL_NAMES[target]}: {why}"]
        return target

    def _check_battery(self, now_s: float) -> None:
        if not self.config.battery_profile:
            return
        if now_s - self._battery_checked_s < BATTERY_CHECK_INTERVAL_S:
            return
        self._battery_checked_s = now_s
        try:
            import psutil

            battery = psutil.sensors_battery()
        except Exception:  # not reported on this platform
            battery = None
        self._on_battery = bool(battery is not None and not battery.power_plugged)

    @property
    def shed_partials(self) -> bool:
        return self.level >= SHED_PARTIALS

    def stats(self) -> dict[str, Any]:
        return {
            "enabled": self.config.adapt,
            "level": LEVEL_NAMES[self.level],
            "switches": self.switches,
            "on_battery": self._on_battery,
            "recent": list(self.history),
        }
