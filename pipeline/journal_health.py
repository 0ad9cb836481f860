"""The finals journal's health: why it is degraded, what it has not written yet, when to retry.

``FinalsJournal`` keeps one ``JournalBacklog``. A failed write (a full or failing disk) makes it
degraded with a reason; the lines that could not be written wait here (at most ``max_lines``;
older ones are dropped and counted) until a retry, due every ``retry_interval_s``, writes them.
``JournalHealth`` is the snapshot that status and metrics report (``FinalsJournal.health()``).
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from typing import Any, Literal

RETRY_INTERVAL_S = 1.0  # a degraded journal tries to write again this often


@dataclasses.dataclass(frozen=True, slots=True)
class JournalHealth:
    """What status and metrics report about the journal."""

    state: Literal["ok", "degraded"]
    reason: str  # why it is degraded ("" when ok)
    since_unix_s: float | None  # when it became degraded
    write_errors: int  # failed writes since open
    unwritten: int  # published finals held in memory, not yet in the files
    dropped: int  # published finals that will never be in the files (memory bound)
    recoveries: int  # times it went from degraded back to ok

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class JournalBacklog:
    """Degraded state and the finals' lines waiting to be written (``(seq, line)``, in order)."""

    def __init__(self, max_lines: int, retry_interval_s: float = RETRY_INTERVAL_S) -> None:
        self.max_lines = max_lines
        self.retry_interval_s = retry_interval_s
        self.reason = ""  # "" while healthy
        self.since_unix_s: float | None = None
        self.write_errors = 0
        self.dropped = 0
        self.recoveries = 0
        self.lines: deque[tuple[int, bytes]] = deque()
        self._retry_at_s = 0.0

    @property
    def degraded(self) -> bool:
        return bool(self.reason)

    def fail(self, reason: str) -> bool:
        """A write failed for ``reason``; True if that made a healthy journal degraded."""
        self.write_errors += 1
        newly = not self.reason
        if newly:
            self.since_unix_s = time.time()
        self.reason = reason
        self._retry_at_s = time.monotonic() + self.retry_interval_s
        return newly

    def hold(self, seq: int, line: bytes) -> None:
        """Keep ``line`` (final ``seq``) to write later; the oldest goes when full."""
        if len(self.lines) == self.max_lines:
            self.lines.popleft()
            self.dropped += 1
        self.lines.append((seq, line))

    def retry_due(self, now_s: float) -> bool:
        """Degraded and time to try again (the next try is then one interval later)."""
        if not self.reason or now_s < self._retry_at_s:
            return False
        self._retry_at_s = now_s + self.retry_interval_s
        return True

    def recovered(self) -> float:
        """Back to healthy; returns how long it was degraded, in seconds."""
        degraded_s = time.time() - (self.since_unix_s or time.time())
        self.reason = ""
        self.since_unix_s = None
        self.recoveries += 1
        return degraded_s

    def health(self) -> JournalHealth:
        return JournalHealth(
            state="degraded" if self.reason else "ok",
            reason=self.reason,
            since_unix_s=self.since_unix_s,
            write_errors=self.write_errors,
            unwritten=len(self.lines),
            dropped=self.dropped,
            recoveries=self.recoveries,
        )
