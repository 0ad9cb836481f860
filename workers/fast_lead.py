"""How far a fast stream's capture may run ahead of its transcription (bounded shutdown).

A file read at pace ``fast`` is written as fast as the ring allows; without a bound, capture and
the VAD ran up to a whole ring (``ring.capacity_s``, 120 s by default) ahead of the workers, and
every segment the VAD had ended in that stretch was heard and must get its final, so a SIGTERM
waited for up to 120 s of audio to be transcribed (15-49 s on a loaded machine, or lost words at
the shutdown timeout). Here the supervisor holds the ring so that capture writes at most
``FAST_LEAD_S`` past the *frontier*: the start of the oldest ended segment still without its
final, or the VAD's read position when that is earlier or no such segment waits. So the VAD never
has more than that much unread audio to turn into segments, and the ended segments waiting for
workers span about that much too: at a stop, what is left is a bounded backlog plus the segment
open at the signal.

Only ended segments and the VAD set the bound: an ended segment's work is dispatched and finishes
without more audio, and the VAD catches up with what was written, so holding capture back never
keeps either from progressing (an open segment needs the VAD to read on; it is protected by the
ring's usual cursor). The hold goes through the supervisor's ring cursor (a fast capture waits
while ``write + block - cursor > capacity``): the cursor is set to
``frontier + FAST_LEAD_S - capacity``. A cursor cannot go below 0, so on a ring that has not
wrapped yet the bound is the ring's capacity, as before. Real-time streams (microphones, files at
pace ``realtime``) never wait for space and are left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.audio_format import SAMPLE_RATE_HZ

if TYPE_CHECKING:
    from pipeline.scheduling import SegmentScheduler
    from workers.stream_set import StreamSet

FAST_LEAD_S = 10.0  # capture's lead over the oldest ended segment without a final (pace fast)


def backlog_start_index(scheduler: SegmentScheduler, stream_id: str) -> int | None:
    """Start of the oldest ended segment of ``stream_id`` still waiting for its final."""
    starts = [
        segment.start_index
        for segment in scheduler.segments()
        if segment.stream_id == stream_id and not segment.is_open
    ]
    return min(starts) if starts else None


def hold_fast_leads(
    streams: StreamSet, scheduler: SegmentScheduler, lead_s: float = FAST_LEAD_S
) -> None:
    """Set each fast stream's lead cap (applied by ``StreamChildren.update_cursor``)."""
    lead_samples = round(lead_s * SAMPLE_RATE_HZ)
    for stream in streams:
        children = stream.children
        if stream.state == "closed" or stream.realtime:
            children.lead_cap_index = None
            continue
        frontier = children.vad_position
        oldest = backlog_start_index(scheduler, stream.stream_id)
        if oldest is not None:
            frontier = min(frontier, oldest)
        children.lead_cap_index = frontier + lead_samples - stream.ring.capacity_samples
