"""Audio sources: microphone, file and raw stdin, each converted once to 16 kHz mono float32.

Heavy or optional modules (soundfile, soxr, sounddevice) load only when a source needs them.
"""

from pipeline.sources.base import (
    DEVICE_LOST,
    DEVICE_RESTORED,
    AudioSource,
    SourceEvent,
    SourceStats,
)
from pipeline.sources.factory import open_capture_source, open_source
from pipeline.sources.preflight import preflight_source
from pipeline.sources.source_spec import SourceSpec, parse_source_spec

__all__ = [
    "DEVICE_LOST",
    "DEVICE_RESTORED",
    "AudioSource",
    "SourceEvent",
    "SourceSpec",
    "SourceStats",
    "open_capture_source",
    "open_source",
    "parse_source_spec",
    "preflight_source",
]
