"""Whether the daemon can still make progress, from its children's circuit breakers.

Pure logic. A child whose breaker has stayed open for ``give_up_after_s`` is stuck. When every
asr worker is stuck, or capture or VAD is, no transcript can come out: a finite source (a file,
stdin) then ends the daemon with a non-zero exit and the reason; a live source (a microphone)
keeps the daemon up, reported as ``degraded`` (so is any child with an open breaker).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

OK = "ok"
DEGRADED = "degraded"
STUCK = "stuck"  # no progress is possible


@dataclass(frozen=True)
class ChildHealth:
    stuck_for_s: float  # how long its breaker has been open without recovery (0: closed)
    last_failure: str  # why it last died, for the message


@dataclass(frozen=True)
class ProgressVerdict:
    state: str  # OK, DEGRADED or STUCK
    reason: str  # empty when OK


def judge_progress(
    stream_children: Mapping[str, ChildHealth],
    workers: Mapping[str, ChildHealth],
    give_up_after_s: float,
) -> ProgressVerdict:
    """The verdict for one stream's capture and VAD (``stream_children``) and the asr workers."""
    blocking = [
        f"{role} keeps failing ({health.last_failure or 'no reason reported'})"
        for role, health in stream_children.items()
        if health.stuck_for_s >= give_up_after_s
    ]
    if workers and all(h.stuck_for_s >= give_up_after_s for h in workers.values()):
        last = next((h.last_failure for h in workers.values() if h.last_failure), "")
        blocking.append(f"every asr worker keeps failing ({last or 'no reason reported'})")
    if blocking:
        return ProgressVerdict(
            STUCK, "; ".join(blocking) + f", for over {give_up_after_s:.0f} s of retries"
        )
    open_breakers = sorted(
        role for role, health in {**stream_children, **workers}.items() if health.stuck_for_s > 0
    )
    if open_breakers:
        return ProgressVerdict(
            DEGRADED, "restarting after repeated failures: " + ", ".join(open_breakers)
        )
    return ProgressVerdict(OK, "")
