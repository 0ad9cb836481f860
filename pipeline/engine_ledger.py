"""Where a worker's engine time goes: totals per kind of request, for the CPU overhead figures.

An asr worker answers partials, final chunks, commit windows and early finals alike; the
scheduler's request ids say which (``pipeline.scheduling.request_ids``: ``.../c0.1`` a final
chunk, ``.../w2.1`` a window, ``.../p7`` a partial, ``.../p7e`` an early final decoded during a
pause). The ledger adds up, per kind: requests, engine wall seconds, CPU seconds of the worker
process (every thread: BLAS included), audio seconds, encoder and decoder wall seconds, and the
requests a short encoder window gave a suspect result for, decoded again over the full 30 s
window (with the seconds that second pass took), or, for partials, dropped instead. A request
cancelled mid-way (a partial pre-empted by final work) adds its engine and CPU seconds to its
kind too (``cancelled``, ``cancelled_cpu_s``): that work was done and paid for, only not
answered (before, it showed as worker CPU outside the engine). The worker logs the totals once
when it stops (``LOG_PREFIX``); ``bench/daemon_e2e.py`` reads them from the daemon's log.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from pipeline.backends.whisper.audio_context import encoder_frames_computed

KINDS = ("partial", "final", "window", "early_final", "other")
LOG_PREFIX = "engine time by request kind: "


def request_kind(request_id: str) -> str:
    """The kind of request an id names (see the module doc); ``other`` when it names none."""
    last = request_id.rsplit("/", 1)[-1]
    if len(last) < 2:
        return "other"
    letter, rest = last[0], last[1:]
    if letter == "p":
        if rest.endswith("e") and rest[:-1].isdigit():
            return "early_final"
        return "partial" if rest.isdigit() else "other"
    if letter in ("c", "w") and rest.replace(".", "", 1).isdigit():
        return "final" if letter == "c" else "window"
    return "other"


@dataclass(slots=True)
class KindTotals:
    requests: int = 0
    engine_s: float = 0.0  # wall seconds in the backend
    cpu_s: float = 0.0  # CPU seconds of the worker process during those calls
    audio_s: float = 0.0
    encode_s: float = 0.0  # wall seconds of the (last) encoder pass of each request
    decode_s: float = 0.0  # wall seconds of token search and word alignment
    encoder_frames: int = 0  # encoder frames paid (1500 = one full 30 s window)
    full_window_retries: int = 0  # short window gave a suspect result: decoded again on 30 s
    # (a partial on its own floor: on the finals' window first, on 30 s only if that fails too)
    full_window_retry_s: float = 0.0  # wall seconds of those second passes
    suspect_dropped: int = 0  # partials whose suspect short-window result was dropped instead
    cancelled: int = 0  # requests cut short by a cancel (not counted in ``requests``)
    cancelled_cpu_s: float = 0.0  # their CPU seconds (included in ``cpu_s``)


class EngineLedger:
    """Totals per request kind since the worker started (plain numbers: nothing grows)."""

    def __init__(self) -> None:
        self.kinds: dict[str, KindTotals] = {kind: KindTotals() for kind in KINDS}

    def record(
        self,
        request_id: str,
        engine_s: float,
        cpu_s: float,
        audio_s: float,
        details: dict[str, float],
    ) -> None:
        totals = self.kinds[request_kind(request_id)]
        totals.requests += 1
        totals.engine_s += engine_s
        totals.cpu_s += cpu_s
        totals.audio_s += audio_s
        totals.encode_s += float(details.get("encode_s", 0.0))
        totals.decode_s += float(details.get("decode_s", 0.0))
        totals.encoder_frames += int(encoder_frames_computed(details))
        totals.suspect_dropped += int(details.get("suspect", 0.0) > 0)
        first_pass_s = details.get("audio_ctx_retry_s")
        if first_pass_s is not None:
            totals.full_window_retries += 1
            totals.full_window_retry_s += max(0.0, engine_s - float(first_pass_s))

    def record_cancelled(
        self, request_id: str, engine_s: float, cpu_s: float, audio_s: float
    ) -> None:
        """A request cancelled before its answer: its time counts, its request does not."""
        totals = self.kinds[request_kind(request_id)]
        totals.cancelled += 1
        totals.engine_s += engine_s
        totals.cpu_s += cpu_s
        totals.cancelled_cpu_s += cpu_s
        totals.audio_s += audio_s

    def summary(self) -> dict[str, dict[str, float]]:
        """Kinds with at least one request, their figures rounded for a log line."""
        return {
            kind: {
                name: round(value, 3) if isinstance(value, float) else value
                for name, value in asdict(totals).items()
            }
            for kind, totals in self.kinds.items()
            if totals.requests or totals.cancelled
        }

    def log_line(self) -> str:
        return LOG_PREFIX + json.dumps(self.summary(), sort_keys=True)


def parse_log_line(line: str) -> dict[str, dict[str, float]] | None:
    """The totals a ``log_line`` carries, from a log line holding one; None otherwise."""
    at = line.find(LOG_PREFIX)
    if at < 0:
        return None
    try:
        parsed = json.loads(line[at + len(LOG_PREFIX) :])
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None
