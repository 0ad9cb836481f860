"""How far a stream's transcription is behind its audio (``transcript_lag_s``).

The audio written to the stream's ring that no final covers yet, in seconds:
``(write_index - covered_index) / 16 kHz``, where ``covered_index`` is the first sample of the
stream's oldest segment without its final (an open segment's first uncommitted sample: a part
committed while speech goes on moves it), or, when no segment waits, the VAD's read position
(silence it has judged needs no transcript). It grows while speech goes on without a commit and
while a final waits for a worker, and falls to the VAD's own lag once the finals are out. The
VAD reports its position once per heartbeat (``supervisor.heartbeat_interval_s``), so a quiet
stream reads up to that interval. A file read faster than realtime shows its backlog.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.audio_format import SAMPLE_RATE_HZ


def transcript_lag_s(write_index: int, vad_position: int, segment_starts: Iterable[int]) -> float:
    """Seconds of written audio not yet covered by a final (see the module docstring);
    ``segment_starts``: the first unpublished sample of each of the stream's segments still
    without a final."""
    covered_index = min(segment_starts, default=vad_position)
    return max(0, write_index - covered_index) / SAMPLE_RATE_HZ
