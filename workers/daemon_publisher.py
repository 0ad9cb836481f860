"""The daemon's outputs: the transcript PUB socket, with every final in the journal first.

``DaemonPublisher.publish`` stamps the daemon's ``run_id`` on finals, partials and gaps, records a
final in the journal (synced per ``outputs.journal_sync``) before it is sent, counts what goes out
and keeps the latest finals' latencies for ``status``. A send never blocks: a slow subscriber
loses, the daemon doesn't. A journal that cannot write degrades (``journal.health()``), never
stops the publishing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

import zmq

from pipeline.bus import send_message
from pipeline.journal import FinalsJournal
from pipeline.messages import GapEvent, Message, TranscriptFinal, TranscriptPartial
from pipeline.supervision.loop_latency import LoopLatency

logger = logging.getLogger(__name__)

LATENCY_WINDOW = 500  # finals kept for latency percentiles


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


class DaemonPublisher:
    def __init__(
        self, socket: zmq.Socket, journal: FinalsJournal, run_id: str, counters: Counters
    ) -> None:
        self.socket = socket
        self.journal = journal
        self.run_id = run_id
        self.counters = counters
        self.latencies_ms: list[float] = []
        self.journal_latency = LoopLatency()  # journal appends (fsync included) within steps

    def publish(self, message: Message) -> None:
        """Send ``message`` on the transcript PUB; a final goes to the journal first."""
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
        send_message(self.socket, message, block=False)
