"""``GET /metrics``: the daemon's counters and gauges in Prometheus text, from its latest status
and the finals the gateway saw (a latency histogram), plus the gateway's own counters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from gateway.connection import GatewayState
from gateway.security import ConnectionCounter
from pipeline.messages import Message, TranscriptFinal

LATENCY_BUCKETS_S = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
PREFIX = "streamscribe"


class DaemonCollector:
    """Families built from the status at scrape time (nothing cached between scrapes)."""

    def __init__(self, state: GatewayState, connections: ConnectionCounter) -> None:
        self.state = state
        self.connections = connections

    def collect(self) -> Iterator[Metric]:
        link = self.state.link
        healthy, _ = link.health()
        yield _gauge("up", "1 when the daemon answers status", link.fresh_status() is not None)
        yield _gauge("healthy", "1 when capture, VAD and a worker are live", healthy)
        yield _gauge("gateway_connections", "open WebSocket connections", self.connections.open)
        refused = CounterMetricFamily(
            f"{PREFIX}_gateway_connections_refused", "connections over the limit"
        )
        refused.add_metric([], self.connections.refused)
        yield refused
        closes = CounterMetricFamily(
            f"{PREFIX}_gateway_closes", "connections closed, by close code", labels=["code"]
        )
        for name, value in self.state.counters.items():
            if name.startswith("closed_"):
                closes.add_metric([name.removeprefix("closed_")], value)
        yield closes
        status = link.fresh_status()
        if status is None:
            return
        yield from _daemon_families(status)


def _daemon_families(status: dict[str, Any]) -> Iterator[Metric]:
    metrics = status.get("metrics", {})
    for name, help_text in (
        ("finals", "finals published"),
        ("partials", "partials published"),
        ("worker_restarts", "worker processes restarted"),
        ("worker_recycles", "workers replaced for memory"),
        ("child_restarts", "capture and VAD restarts"),
        ("ring_overruns", "ring overruns"),
    ):
        family = CounterMetricFamily(f"{PREFIX}_{name}", help_text)
        family.add_metric([], float(metrics.get(name, 0) or 0))
        yield family
    yield _gauge("uptime_seconds", "daemon uptime", metrics.get("uptime_s", 0))
    yield _gauge(
        "latency_p50_seconds", "end of speech to final, p50", _ms(metrics, "latency_p50_ms")
    )
    yield _gauge(
        "latency_p95_seconds", "end of speech to final, p95", _ms(metrics, "latency_p95_ms")
    )
    queue = GaugeMetricFamily(f"{PREFIX}_queue_depth", "queued work by kind", labels=["kind"])
    for kind, depth in (metrics.get("queue") or {}).items():
        queue.add_metric([str(kind)], float(depth))
    yield queue
    rss = GaugeMetricFamily(f"{PREFIX}_process_rss_bytes", "resident memory", labels=["role"])
    restarts = GaugeMetricFamily(f"{PREFIX}_process_restarts", "restarts", labels=["role"])
    up = GaugeMetricFamily(f"{PREFIX}_process_up", "1 when live", labels=["role", "state"])
    for row in status.get("processes", []):
        rss.add_metric([row["role"]], float(row.get("rss_mb", 0)) * 1e6)
        restarts.add_metric([row["role"]], float(row.get("restarts", 0)))
        live = row.get("state") in ("running", "ready", "busy")
        up.add_metric([row["role"], str(row.get("state"))], 1.0 if live else 0.0)
    yield rss
    yield restarts
    yield up
    yield from _stream_families(status)


def _stream_families(status: dict[str, Any]) -> Iterator[Metric]:
    """Per open stream, from ``status["streams"]`` (daemons without it: the main ring)."""
    lag = GaugeMetricFamily(
        f"{PREFIX}_stream_lag_seconds",
        "how far the stream's transcription is behind its audio: seconds of audio written to "
        "its ring that no final covers yet (from the first unpublished sample of its oldest "
        "segment without a final; with none, from the VAD's read position, reported once a "
        "heartbeat); grows while speech goes on uncommitted or a final waits, falls once it is out",
        labels=["stream"],
    )
    final_lag = GaugeMetricFamily(
        f"{PREFIX}_stream_final_lag_seconds",
        "age of the stream's oldest ended segment still without its final, or the audio its VAD "
        "has not read, whichever is larger",
        labels=["stream"],
    )
    rows = [r for r in status.get("streams") or [] if r.get("state") != "closed"]
    for row in rows:
        stream = str(row.get("stream_id"))
        if row.get("transcript_lag_s") is not None:
            lag.add_metric([stream], float(row["transcript_lag_s"]))
        final_lag.add_metric([stream], float(row.get("lag_s") or 0))
    held = GaugeMetricFamily(
        f"{PREFIX}_ring_held_back_seconds",
        "audio of the main stream's ring held for pending work (a proxy of lag)",
        labels=["stream"],
    )
    held.add_metric(["main"], float(status.get("ring", {}).get("held_back_s", 0) or 0))
    yield lag
    yield final_lag
    yield held


def _ms(values: dict[str, Any], key: str) -> float:
    return float(values.get(key, 0) or 0) / 1000.0


def _gauge(name: str, help_text: str, value: float | bool) -> GaugeMetricFamily:
    family = GaugeMetricFamily(f"{PREFIX}_{name}", help_text)
    family.add_metric([], float(value))
    return family


class GatewayMetrics:
    """The registry ``/metrics`` renders."""

    def __init__(self, state: GatewayState, connections: ConnectionCounter) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(DaemonCollector(state, connections))  # type: ignore[arg-type]
        self.latency = Histogram(
            f"{PREFIX}_final_latency_seconds",
            "end of speech to final publish, per final (as seen by the gateway)",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.engine = Histogram(
            f"{PREFIX}_final_engine_seconds",
            "backend time of the requests that made each final (TranscriptFinal.engine_ms)",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            f"{PREFIX}_final_queue_wait_seconds",
            "per final, time its work waited for a free worker after the end of speech "
            "(TranscriptFinal.queue_wait_ms)",
            buckets=(0.0, *LATENCY_BUCKETS_S),
            registry=self.registry,
        )
        self.final_words = Histogram(
            f"{PREFIX}_final_words",
            "words per final",
            buckets=(1, 3, 10, 30, 100),
            registry=self.registry,
        )

    def observe(self, message: Message, arrived_s: float) -> None:
        if isinstance(message, TranscriptFinal):
            self.latency.observe(message.latency_ms / 1000.0)
            self.final_words.observe(len(message.words))
            if message.engine_ms is not None:  # None: a daemon older than the field
                self.engine.observe(message.engine_ms / 1000.0)
            if message.queue_wait_ms is not None:
                self.queue_wait.observe(message.queue_wait_ms / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
