"""What ``run.py status`` and the ``metrics`` topic report about a running daemon, and its text.

The supervisor hands a ``DaemonView`` (the parts to report on, gathered at the moment of the
request); ``status`` and ``metrics_values`` build plain dicts from it, which travel in
``StatusReply`` / ``Metrics``; ``render_status_text`` turns a status dict into the lines that
``run.py status`` prints. Nothing here knows the supervisor.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pipeline.audio_format import SAMPLE_RATE_HZ

if TYPE_CHECKING:
    from config.schema import Config
    from pipeline.ring import AudioRing


class StreamChildren(Protocol):
    def snapshot(self, now_s: float) -> list[dict[str, Any]]: ...


class DaemonCounters(Protocol):
    finals: int
    partials: int
    overruns: int
    worker_recycles: int
    child_restarts: int
    vad_stats: dict[str, Any]
    capture_events: dict[str, int]


@dataclass(frozen=True)
class DaemonView:
    """The parts of a running daemon that status and metrics report on."""

    instance: str
    config: Config  # the configuration in effect (a profile switch replaces it)
    endpoints: Mapping[str, str]  # transcript, control
    started_at_s: float  # time.monotonic() at start
    stopping: bool
    streams: StreamChildren  # capture and VAD rows
    workers: Iterable[Any]  # the worker pool's slots
    worker_restarts: int
    ring: AudioRing | None  # the main stream's (None once it is closed)
    counters: DaemonCounters
    latencies_ms: Sequence[float]  # the latest finals' latencies
    last_seq: int | None  # of the journal
    queue_depths: Mapping[str, int]
    scheduler_stats: Mapping[str, Any]
    control: Mapping[str, int]  # the control server's counters
    events_rejected: int  # frames refused on the events socket
    journal: Mapping[str, Any] = field(default_factory=dict)  # FinalsJournal.health().as_dict()
    health: Mapping[str, str] = field(default_factory=dict)  # state ok/degraded/stuck, reason
    loop: Mapping[str, Any] = field(default_factory=dict)  # LoopLatency summary: p50/p99/max ms
    stream_rows: Sequence[Mapping[str, Any]] = ()  # one per stream (workers.stream_set)
    adaptation: Mapping[str, Any] = field(default_factory=dict)  # level, switches, recent
    load: Mapping[str, Any] = field(default_factory=dict)  # busy_fraction, streams refused
    vad_read_s: Mapping[str, float] = field(default_factory=dict)  # stream -> VAD read position
    # stream -> start of its oldest ended segment still without a final (None: none waits)
    backlog_from_s: Mapping[str, float | None] = field(default_factory=dict)
    stop_vad_read_s: Mapping[str, float] = field(default_factory=dict)  # ... when stop was asked


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def processes(view: DaemonView) -> list[dict[str, Any]]:
    now_s = time.monotonic()
    rows = view.streams.snapshot(now_s)
    for slot in view.workers:
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


def ring_fill(ring: AudioRing | None) -> dict[str, Any]:
    if ring is None:
        return {}
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


def metrics_values(view: DaemonView, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    counters = view.counters
    rows = processes(view) if rows is None else rows
    return {
        "uptime_s": round(time.monotonic() - view.started_at_s, 1),
        "finals": counters.finals,
        "partials": counters.partials,
        "last_seq": view.last_seq,
        "latency_p50_ms": round(percentile(view.latencies_ms, 0.5), 1),
        "latency_p95_ms": round(percentile(view.latencies_ms, 0.95), 1),
        "queue": dict(view.queue_depths),
        "worker_restarts": view.worker_restarts,
        "worker_recycles": counters.worker_recycles,
        "child_restarts": counters.child_restarts,
        "ring_overruns": counters.overruns,
        "control_rejected": view.control.get("rejected", 0),
        "control_errors": view.control.get("errors", 0),
        "events_rejected": view.events_rejected,
        "journal": dict(view.journal),  # state "ok" or "degraded", reason, ...
        "health": dict(view.health),  # children: ok, degraded (breakers open), stuck
        "loop": dict(view.loop),  # the supervisor's step latency: steps, p50_ms, p99_ms, max_ms
        "rss_mb": {row["role"]: row["rss_mb"] for row in rows},
        "failed": [row["role"] for row in rows if row["state"] == "failed"],
        "streams_open": sum(1 for row in view.stream_rows if row["state"] != "closed"),
        "stream_lag_s": {
            row["stream_id"]: row["lag_s"] for row in view.stream_rows if row["state"] != "closed"
        },
        "adaptation": dict(view.adaptation),
        "load": dict(view.load),
    }


def status(view: DaemonView) -> dict[str, Any]:
    config = view.config
    rows = processes(view)
    return {
        "instance": view.instance,
        "profile": config.profile,
        "backend": config.asr.backend,
        "source": config.capture.source,
        "endpoints": dict(view.endpoints),
        "processes": rows,
        "ring": ring_fill(view.ring),
        "streams": [
            {
                **row,
                "vad_read_s": view.vad_read_s.get(row["stream_id"]),
                "backlog_from_s": view.backlog_from_s.get(row["stream_id"]),
            }
            for row in view.stream_rows
        ],
        "vad": dict(view.counters.vad_stats),
        "capture_events": dict(view.counters.capture_events),
        "scheduler": dict(view.scheduler_stats),
        "control": dict(view.control),
        "metrics": metrics_values(view, rows),
        "loop": dict(view.loop),
        "stopping": view.stopping,
        "stop_vad_read_s": dict(view.stop_vad_read_s),  # empty until a stop is requested
    }


def render_stream_row(row: Mapping[str, Any]) -> str:
    """One stream as ``status`` and ``streams list`` print it."""
    return (
        f"{row['stream_id']:6s} {row['state']:9s} lag {row['lag_s']:.1f} s  "
        f"segments {row['segments']}  restarts {row['restarts']}  {row['source']}"
        + (f"  [{row['label']}]" if row.get("label") else "")
    )


def render_status_text(status: Mapping[str, Any]) -> str:
    """The status as ``run.py status`` prints it (a few lines, one per process)."""
    metrics = status.get("metrics", {})
    ring = status.get("ring", {})
    lines = [
        f"daemon {status.get('instance')} ({status.get('profile')}, {status.get('backend')}, "
        f"source {status.get('source')})",
        f"  uptime {metrics.get('uptime_s', 0):.0f} s, finals {metrics.get('finals', 0)}, "
        f"last seq {metrics.get('last_seq', 0)}, "
        f"latency p50 {metrics.get('latency_p50_ms', 0):.0f} ms / "
        f"p95 {metrics.get('latency_p95_ms', 0):.0f} ms",
        f"  queue {metrics.get('queue', {})}",
    ]
    loop = status.get("loop") or {}
    if loop.get("steps"):
        lines.append(
            f"  loop p50 {loop['p50_ms']:.1f} ms / p99 {loop['p99_ms']:.1f} ms / "
            f"max {loop['max_ms']:.1f} ms over {loop['steps']} steps"
        )
    lines += [
        f"  ring {ring.get('capacity_s')} s, written {ring.get('write_s')} s, "
        f"held back {ring.get('held_back_s')} s (fill {ring.get('fill', 0):.1%})",
        f"  vad {status.get('vad', {})}",
    ]
    journal = metrics.get("journal", {})
    if journal.get("state") == "degraded":
        lines.append(
            f"  journal DEGRADED ({journal.get('unwritten')} unwritten): {journal['reason']}"
        )
    control = status.get("control")
    if control:
        lines.append("  control " + ", ".join(f"{k} {v}" for k, v in control.items()))
    streams = status.get("streams") or []
    if streams:
        lines.append("  streams:")
        lines += ["    " + render_stream_row(row) for row in streams]
    lines.append("  processes:")
    for row in status.get("processes", []):
        lines.append(
            f"    {row['role']:10s} pid {row.get('pid')!s:>7s}  {row['state']:9s} "
            f"up {row['uptime_s']:>8.1f} s  restarts {row['restarts']}  rss {row['rss_mb']:.0f} MB"
        )
    return "\n".join(lines)
