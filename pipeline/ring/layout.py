"""Byte layout of a ring segment's header, and its validation on attach.

A segment is ``HEADER_SIZE_BYTES`` of header followed by ``capacity_samples`` float32 samples.
All fields are native-endian (every process of a ring runs on the same machine)::

    offset size  field
     0      8    magic               b"SSRING\\0\\0"
     8      4    format_version      uint32
    12      4    header_size_bytes   uint32
    16      8    capacity_samples    uint64
    24      4    sample_rate_hz      uint32
    28      4    owner_pid           uint32, the creator (the only process that unlinks)
    32      4    writer_pid          uint32, the last process that attached as writer (0: none)
    36      4    reserved
    40     24    stream_id           UTF-8, NUL-padded
    64      8    write_index         uint64, end of the published samples (own cache line)
    72      8    reserve_index       uint64, end of the samples being written (>= write_index)
    80      8    heartbeat_time_s    float64, writer's time.time() at its last write or beat
    88      8    end_index           uint64, the stream's final index once ``ended`` is set
    96      8    ended               uint64, 1 once the writer has marked the end of the stream
   128    256    cursor slots        CURSOR_SLOTS x 32 bytes, one per reader that must not be lapped:
                   +0  8  pid         uint64, the holder (0: free)
                   +8  8  index       uint64, the holder no longer needs samples before this
                   +16 8  started_ms  uint64, the holder's process start time (pid reuse check)
                   +24 8  label       UTF-8, NUL-padded ("vad", "asr-1", ...)
   384           samples             float32[capacity_samples], slot of index i is i % capacity

Format version 2 added the end-of-stream mark and the cursor slots (version 1 had a 128-byte
header); a process of another version refuses to attach.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pipeline.errors import RingError

MAGIC = b"SSRING\0\0"
FORMAT_VERSION = 2
HEADER_SIZE_BYTES = 384  # static fields, the writer's moving fields, then the cursor slots
SAMPLE_SIZE_BYTES = 4  # float32
MAX_STREAM_ID_BYTES = 24

_STATIC = struct.Struct("=8sIIQIIII24s")  # magic .. stream_id, bytes 0..63
WRITE_INDEX_OFFSET = 64
RESERVE_INDEX_OFFSET = 72
HEARTBEAT_OFFSET = 80
END_INDEX_OFFSET = 88
ENDED_OFFSET = 96
CURSOR_OFFSET = 128  # first cursor slot
CURSOR_SLOTS = 8  # readers that can hold the writer back at once
CURSOR_SLOT_BYTES = 32
CURSOR_PID = 0  # offsets inside a slot
CURSOR_INDEX = 8
CURSOR_STARTED_MS = 16
CURSOR_LABEL = 24
MAX_CURSOR_LABEL_BYTES = 8
WRITER_PID_OFFSET = 32
assert _STATIC.size == WRITE_INDEX_OFFSET
assert CURSOR_OFFSET + CURSOR_SLOTS * CURSOR_SLOT_BYTES == HEADER_SIZE_BYTES


@dataclass(frozen=True)
class RingInfo:
    """The fixed facts of one ring, as written in its header by the creator."""

    name: str  # shared-memory name, with the leading slash
    stream_id: str  # the stream this ring carries audio for
    capacity_samples: int  # sample slots; the ring holds the newest this many samples
    sample_rate_hz: int  # samples per second of the audio
    owner_pid: int  # pid of the creator, the only process that unlinks the segment
    format_version: int = FORMAT_VERSION

    @property
    def capacity_s(self) -> float:
        """Seconds of audio the ring holds."""
        return self.capacity_samples / self.sample_rate_hz


def segment_size_bytes(capacity_samples: int) -> int:
    """Total bytes of a segment holding ``capacity_samples`` samples."""
    return HEADER_SIZE_BYTES + capacity_samples * SAMPLE_SIZE_BYTES


def encode_stream_id(stream_id: str) -> bytes:
    """``stream_id`` as header bytes; ``ValueError`` if empty, too long or containing NUL."""
    raw = stream_id.encode("utf-8")
    if not raw or len(raw) > MAX_STREAM_ID_BYTES or b"\0" in raw:
        raise ValueError(
            f"stream id {stream_id!r} must be 1..{MAX_STREAM_ID_BYTES} UTF-8 bytes without NUL"
        )
    return raw


def pack_static_header(info: RingInfo) -> bytes:
    """The first 64 header bytes for ``info`` (write and reserve index start at 0)."""
    return _STATIC.pack(
        MAGIC,
        info.format_version,
        HEADER_SIZE_BYTES,
        info.capacity_samples,
        info.sample_rate_hz,
        info.owner_pid,
        0,
        0,
        encode_stream_id(info.stream_id),
    )


def unpack_header(name: str, buffer: memoryview | bytes, segment_bytes: int) -> RingInfo:
    """Parse and validate a segment's header; ``RingError`` naming ``name`` if it is not ours.

    ``segment_bytes`` is the segment's size, checked against the capacity the header claims.
    """
    if segment_bytes < HEADER_SIZE_BYTES:
        raise RingError(f"shared memory {name!r} is {segment_bytes} bytes: too small for a ring")
    (magic, version, header_bytes, capacity, rate_hz, owner_pid, _writer, _res, raw_id) = (
        _STATIC.unpack_from(buffer, 0)
    )
    if magic != MAGIC:
        raise RingError(f"shared memory {name!r} is not an audio ring (magic {magic!r})")
    if version != FORMAT_VERSION or header_bytes != HEADER_SIZE_BYTES:
        raise RingError(
            f"audio ring {name!r} has format version {version} (header {header_bytes} bytes); "
            f"this build reads version {FORMAT_VERSION} ({HEADER_SIZE_BYTES} bytes)"
        )
    if capacity <= 0 or rate_hz <= 0 or segment_size_bytes(capacity) != segment_bytes:
        raise RingError(
            f"audio ring {name!r} header is inconsistent: capacity {capacity} samples, "
            f"rate {rate_hz} Hz, segment {segment_bytes} bytes"
        )
    try:
        stream_id = raw_id.rstrip(b"\0").decode("utf-8")
    except UnicodeDecodeError as e:
        raise RingError(f"audio ring {name!r} has a malformed stream id {raw_id!r}") from e
    return RingInfo(name, stream_id, capacity, rate_hz, owner_pid, version)
