"""Raw interleaved PCM from a binary stream (standard input by default) as a source.

``stdin:s16le:48000:2`` means little-endian int16, 48 kHz, two interleaved channels, e.g. from
``arecord -f S16_LE -r 48000 -c 2 -t raw`` or ``ffmpeg -f s16le -ac 2 -ar 48000 -``. Reads may
end anywhere, even inside a frame; the incomplete frame waits for the next read. End of file is
the end of the stream; an incomplete frame left at that point is dropped and counted.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from pipeline.errors import AudioSourceError
from pipeline.sources.base import AudioSource, SourceStats
from pipeline.sources.conditioner import BlockConditioner, block_samples_for

logger = logging.getLogger(__name__)

RAW_DTYPES: dict[str, np.dtype] = {
    "s16le": np.dtype("<i2"),
    "f32le": np.dtype("<f4"),
}
READ_DURATION_MS = 20  # native audio asked for per read (a read may return less)


class StdinSource(AudioSource):
    """Raw PCM on a binary stream converted to 16 kHz mono float32 blocks."""

    def __init__(
        self,
        sample_format: str,
        rate_hz: int,
        channels: int = 1,
        block_duration_ms: int = 20,
        remove_dc: bool = True,
        stream: BinaryIO | None = None,
    ) -> None:
        super().__init__()
        if sample_format not in RAW_DTYPES:
            raise AudioSourceError(
                f"raw format {sample_format!r} not supported; allowed: {', '.join(RAW_DTYPES)}"
            )
        if rate_hz <= 0 or channels <= 0:
            raise AudioSourceError(f"bad raw stream shape: {rate_hz} Hz, {channels} channels")
        self.sample_format = sample_format
        self.native_rate_hz = int(rate_hz)
        self.native_channels = int(channels)
        self._dtype = RAW_DTYPES[sample_format]
        self._frame_bytes = self._dtype.itemsize * self.native_channels
        self._read_bytes = (
            max(1, self.native_rate_hz * READ_DURATION_MS // 1000) * self._frame_bytes
        )
        self._stream = stream if stream is not None else sys.stdin.buffer
        self._conditioner = BlockConditioner(
            self.native_rate_hz,
            self.native_channels,
            self._dtype.newbyteorder("="),
            block_samples_for(block_duration_ms),
            remove_dc,
        )
        self._carry = b""  # bytes of an incomplete frame from the previous read
        self._closed = threading.Event()
        self._blocks_emitted = 0
        self._samples_emitted = 0
        self._truncated_bytes = 0

    @property
    def description(self) -> str:
        return f"stdin:{self.sample_format}:{self.native_rate_hz}:{self.native_channels}"

    def blocks(self) -> Iterator[np.ndarray]:
        """Yield (block_samples,) float32 16 kHz blocks until end of file (last may be shorter)."""
        while not self._closed.is_set():
            data = self._read()
            if not data:
                break
            native = self._frames(data)
            if native is not None:
                yield from self._count(self._conditioner.push(native))
        if self._carry:
            self._truncated_bytes += len(self._carry)
            logger.warning(
                "end of %s inside a frame: dropped %d bytes", self.description, len(self._carry)
            )
            self._carry = b""
        if not self._closed.is_set():
            yield from self._count(self._conditioner.finish())
        logger.info("end of %s", self.description)

    def _read(self) -> bytes:
        read = getattr(self._stream, "read1", None) or self._stream.read
        try:
            return read(self._read_bytes)
        except (OSError, ValueError) as e:  # ValueError: read on a closed stream
            if self._closed.is_set():
                return b""
            raise AudioSourceError(f"cannot read {self.description}: {e}") from e

    def _frames(self, data: bytes) -> np.ndarray | None:
        """Whole frames of ``carry + data`` as (frames, channels) in the native-endian raw
        type (scaling to float is the converter's job); keeps the incomplete remainder."""
        if self._carry:
            data = self._carry + data
        whole_bytes = len(data) - len(data) % self._frame_bytes
        self._carry = data[whole_bytes:]
        if whole_bytes == 0:
            return None
        raw = np.frombuffer(data, dtype=self._dtype, count=whole_bytes // self._dtype.itemsize)
        native_endian = raw.astype(self._dtype.newbyteorder("="), copy=False)
        return native_endian.reshape(-1, self.native_channels)

    def _count(self, blocks: list[np.ndarray]) -> Iterator[np.ndarray]:
        for block in blocks:
            self._blocks_emitted += 1
            self._samples_emitted += block.size
            logger.debug("block %d: %d samples", self._blocks_emitted, block.size)
            yield block

    @property
    def stats(self) -> SourceStats:
        return self._common_stats(
            truncated_bytes=self._truncated_bytes,
        )

    def close(self) -> None:
        """Stop after the current read; the stream itself is left to its owner."""
        self._closed.set()
