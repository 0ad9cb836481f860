"""What ``run.py status`` and the ``metrics`` topic report about a running daemon."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pipeline.audio_format import SAMPLE_RATE_HZ

if TYPE_CHECKING:
    from workers.supervisor import Supervisor


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def processes(supervisor: Supervisor) -> list[dict[str, Any]]:
    now_s = time.monotonic()
    rows = supervisor.streams.snapshot(now_s)
    for slot in supervisor.pool:
        state = "failed" if slot.failed else "ready" if slot.ready else "starting"
        if slot.in_flight is not None:
            state = "busy"
        rows.append(
            {
                "role": slot.role,
                "pid": slot.child.pid,
                "state": state,
                "uptime_s": round(now_s - slot.started_at_s, 1),
                "restarts": slot.policy.total_restarts,
                "recycles": slot.recycles,
                "rss_mb": round(slot.rss_bytes / 1e6, 1),
                "mlx_active_mb": round(slot.mlx_active_bytes / 1e6, 1),
                "mlx_cache_mb": round(slot.mlx_cache_bytes / 1e6, 1),
                "completed": slot.completed,
                "load_s": round(slot.load_s, 2),
            }
        )
    return rows


def ring_fill(supervisor: Supervisor) -> dict[str, Any]:
    ring = supervisor.ring
    held = ring.min_cursor()
    write_index = ring.write_index
    backlog = write_index - held if held is not None else 0
    return {
        "name": ring.name,
        "capacity_s": round(ring.capacity_samples / SAMPLE_RATE_HZ, 1),
        "write_s": round(write_index / SAMPLE_RATE_HZ, 2),
        "held_back_s": round(backlog / SAMPLE_RATE_HZ, 2),
        "fill": round(min(1.0, backlog / ring.capacity_samples), 4),
        "ended": ring.end_index is not None,
    }


def metrics_values(supervisor: Supervisor) -> dict[str, Any]:
    counters = supervisor.counters
    latencies = supervisor.latencies_ms
    return {
        "uptime_s": round(time.monotonic() - supervisor.started_at_s, 1),
        "finals": counters.finals,
        "partials": counters.partials,
        "last_seq": supervisor.journal.last_seq,
        "latency_p50_ms": round(percentile(latencies, 0.5), 1),
        "latency_p95_ms": round(percentile(latencies, 0.95), 1),
        "queue": dict(supervisor.scheduler.queue_depths()),
        "worker_restarts": supervisor.pool.total_restarts,
        "worker_recycles": counters.worker_recycles,
        "child_restarts": counters.child_restarts,
        "ring_overruns": counters.overruns,
        "control_rejected": supervisor.control_server.rejected,
        "events_rejected": supervisor.events_receiver.rejected_total,
        "rss_mb": {row["role"]: row["rss_mb"] for row in processes(supervisor)},
        "failed": [row["role"] for row in processes(supervisor) if row["state"] == "failed"],
    }


def status(supervisor: Supervisor) -> dict[str, Any]:
    config = supervisor.config
    return {
        "instance": supervisor.options.instance,
        "profile": config.profile,
        "backend": config.asr.backend,
        "source": config.capture.source,
        "endpoints": dict(supervisor.endpoints),
        "processes": processes(supervisor),
        "ring": ring_fill(supervisor),
        "vad": dict(supervisor.counters.vad_stats),
        "capture_events": dict(supervisor.counters.capture_events),
        "scheduler": dict(supervisor.scheduler.stats()),
        "metrics": metrics_values(supervisor),
        "stopping": supervisor.stopping,
    }
