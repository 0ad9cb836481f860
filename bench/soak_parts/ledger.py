"""Finals as the soak sees them: live from a subscriber, and from the journal at the end.

``LiveLedger`` keeps, per final received, only what the accounting needs (``FinalRow``: seq,
segment id, start, end, empty text) plus its latency in a compact array; latency percentiles are
aggregated per wall-clock interval as it goes (``LatencyInterval``), so nothing grows with the
words of a run. ``read_journal`` streams the daemon's journal files (rotated ones included,
oldest first) into the same rows: the journal is the ground truth of what was published.
"""

from __future__ import annotations

import itertools
import json
import logging
from array import array
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.soak_parts.expected import FinalRow

logger = logging.getLogger(__name__)


def percentile(values: list[float] | array, fraction: float) -> float:
    """Nearest-rank percentile (the daemon's own definition); 0 for no values."""
    if not len(values):
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))])


@dataclass(frozen=True)
class LatencyInterval:
    start_wall_s: float  # since the soak started the daemon
    end_wall_s: float
    end_audio_s: float  # capture position (ring write index) at the interval's end
    finals: int
    p50_ms: float
    p95_ms: float
    max_ms: float


class LiveLedger:
    """Finals from the ``TranscriptSubscriber``, in the order it handed them out.

    Per final 33 bytes in typed arrays (seq, segment id, start, end, empty, latency): a day of
    accelerated soak (a few hundred thousand finals) stays within a few MB.
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._seq = array("q")
        self._segment_id = array("q")
        self._start_s = array("d")
        self._end_s = array("d")
        self._empty = array("b")
        self.latencies_ms = array("f")
        self.intervals: list[LatencyInterval] = []
        self._current: list[float] = []
        self._interval_start_s = 0.0
        self.first_seq: int | None = None

    def add(self, final: Any) -> None:
        if self.first_seq is None:
            self.first_seq = final.seq
        self._seq.append(final.seq)
        self._segment_id.append(final.segment_id)
        self._start_s.append(final.start_s)
        self._end_s.append(final.end_s)
        self._empty.append(0 if final.text.strip() else 1)
        self.latencies_ms.append(final.latency_ms)
        self._current.append(final.latency_ms)

    def __len__(self) -> int:
        return len(self._seq)

    def rows(self, count: int | None = None) -> list[FinalRow]:
        """The first ``count`` (default all) finals as rows (built on demand, at the end)."""
        count = len(self) if count is None else count
        return [
            FinalRow(
                self._seq[i],
                self._segment_id[i],
                self._start_s[i],
                self._end_s[i],
                bool(self._empty[i]),
            )
            for i in range(count)
        ]

    def tick(self, wall_s: float, audio_s: float, force: bool = False) -> None:
        """Close the current interval when it is ``interval_s`` old (or ``force``)."""
        if not force and wall_s - self._interval_start_s < self.interval_s:
            return
        values = self._current
        self.intervals.append(
            LatencyInterval(
                round(self._interval_start_s, 2),
                round(wall_s, 2),
                round(audio_s, 2),
                len(values),
                round(percentile(values, 0.5), 1),
                round(percentile(values, 0.95), 1),
                round(max(values, default=0.0), 1),
            )
        )
        self._current = []
        self._interval_start_s = wall_s


def read_journal(
    runtime_dir: Path, instance: str, run_ids: dict[int, str] | None = None
) -> tuple[list[FinalRow], array, dict[str, int]]:
    """Rows and latencies of every final in the journal files, by seq; plus file statistics.
    ``run_ids``, when given, is filled with each final's daemon run (seq -> run_id)."""
    current = runtime_dir / f"{instance}.finals.jsonl"
    prefix = current.name + "."
    rotated = sorted(
        (
            int(p.name[len(prefix) :])
            for p in runtime_dir.glob(prefix + "*")
            if p.name[len(prefix) :].isdigit()
        ),
        reverse=True,
    )
    files = [current.with_name(f"{current.name}.{i}") for i in rotated] + [current]
    rows: list[tuple[int, FinalRow, float]] = []
    damaged = 0
    for path in files:
        if not path.exists():
            continue
        with path.open("rb") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    damaged += 1
                    continue
                if record.get("kind") != "transcript.final":
                    continue
                row = FinalRow(
                    int(record["seq"]),
                    int(record["segment_id"]),
                    float(record["start_s"]),
                    float(record["end_s"]),
                    not str(record.get("text", "")).strip(),
                )
                rows.append((row.seq, row, float(record.get("latency_ms", 0.0))))
                if run_ids is not None:
                    run_ids[row.seq] = str(record.get("run_id", ""))
    in_file_order = [r for _, r, _ in rows]
    file_order_backwards = sum(1 for a, b in itertools.pairwise(in_file_order) if b.seq <= a.seq)
    rows.sort(key=lambda item: item[0])
    latencies = array("f", (latency for _, _, latency in rows))
    stats = {
        "files": sum(1 for p in files if p.exists()),
        "rotated_files": len(rotated),
        "damaged_lines": damaged,
        "file_order_seq_backwards": file_order_backwards,
    }
    return [r for _, r, _ in rows], latencies, stats


def cross_check(live: list[FinalRow], journal: list[FinalRow]) -> dict[str, Any]:
    """Subscriber vs journal: what each has that the other lacks, and rows that disagree."""
    by_seq = {row.seq: row for row in journal}
    live_seqs = {row.seq for row in live}
    only_live = [row.seq for row in live if row.seq not in by_seq]
    differing = [
        row.seq for row in live if row.seq in by_seq and asdict(by_seq[row.seq]) != asdict(row)
    ]
    first = live[0].seq if live else None
    only_journal = [
        seq for seq in by_seq if (first is None or seq >= first) and seq not in live_seqs
    ]
    tail = max(live_seqs, default=-1)
    return {
        "subscriber_finals": len(live),
        "journal_finals": len(journal),
        "only_in_subscriber": len(only_live),  # published to subscribers but not journaled: a bug
        "differing": len(differing),
        "only_in_journal": len(only_journal),  # the subscriber never got them (replay failed?)
        "only_in_journal_before_last_received": sum(1 for s in only_journal if s < tail),
        "examples": {
            "only_in_subscriber": only_live[:10],
            "differing": differing[:10],
            "only_in_journal": sorted(only_journal)[:10],
        },
    }
