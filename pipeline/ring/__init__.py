"""The shared-memory audio ring: one writer, many readers, absolute sample indices.

``AudioRing`` is the ring itself; ``remove_stale_segments`` cleans up after a killed daemon.
See ``audio_ring`` for the protocol and ``ordering`` for memory ordering per platform.
"""

from pipeline.ring.audio_ring import DEFAULT_CAPACITY_S, AudioRing
from pipeline.ring.cursors import CursorInfo
from pipeline.ring.layout import RingInfo
from pipeline.ring.registry import make_segment_name, remove_stale_segments

__all__ = [
    "DEFAULT_CAPACITY_S",
    "AudioRing",
    "CursorInfo",
    "RingInfo",
    "make_segment_name",
    "remove_stale_segments",
]
