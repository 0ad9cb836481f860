"""Audio files (anything libsndfile reads) as a source, read in blocks, optionally paced and looped.

Pacing: ``realtime`` releases each block when its last sample would have been spoken, measured
from the first block on the monotonic clock (the schedule is absolute, so sleep jitter never
accumulates into drift; a consumer that falls behind gets the late blocks at once). ``fast``
yields as quickly as the consumer pulls.

Looping (soak runs): at the end of the file the reader seeks back to the start and the resampler
state carries on, so the output is exactly the conversion of the file repeated end to end, with no
gap or click from a reset filter.

Resuming (a restarted capture process): ``start_sample`` skips the first that many 16 kHz
samples of the converted stream (modulo its length when looping). The file is sought to the
native frame ``RESUME_WARMUP_MS`` before that sample, the conversion starts afresh there, and the
converted samples before ``start_sample`` are dropped (so the first block may be short). The
resumed output then equals the uninterrupted one only approximately: the DC tracker starts again
(a difference of the order of the file's DC offset, fading over ``DC_TIME_CONSTANT_S``); with
resampling, the resampler's warm-up is inside the dropped samples, and where ``start_sample``
is not on a native frame boundary (44.1 kHz) the cut is off by less than half a 16 kHz sample.
At 16 kHz only the DC tracker differs; total lengths agree.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator

import numpy as np

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.errors import AudioSourceError
from pipeline.sources.base import AudioSource, SourceStats
from pipeline.sources.conditioner import BlockConditioner, block_samples_for

logger = logging.getLogger(__name__)

PACES: tuple[str, ...] = ("realtime", "fast")
READ_DURATION_MS = 100  # native audio read from the file at once
RESUME_WARMUP_MS = 50  # converted and dropped before a resume point (resampler warm-up)


class FileSource(AudioSource):
    """A sound file converted to 16 kHz mono float32 blocks."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        block_duration_ms: int = 20,
        pace: str = "realtime",
        loop: bool = False,
        remove_dc: bool = True,
        start_sample: int = 0,
    ) -> None:
        """``start_sample``: 16 kHz samples of the converted stream to skip (see the module)."""
        super().__init__()
        if start_sample < 0:
            raise ValueError(f"start_sample must be >= 0, got {start_sample}")
        if pace not in PACES:
            raise ValueError(f"pace {pace!r} not allowed; use one of {PACES}")
        self.path = os.fspath(path)
        self.pace = pace
        self.loop = loop
        self.block_samples = block_samples_for(block_duration_ms)
        self._sound_file = open_sound_file(self.path)
        self.native_rate_hz = int(self._sound_file.samplerate)
        self.native_channels = int(self._sound_file.channels)
        self.native_frames = int(self._sound_file.frames)
        self._read_frames = max(1, self.native_rate_hz * READ_DURATION_MS // 1000)
        self._conditioner = BlockConditioner(
            self.native_rate_hz, self.native_channels, np.float32, self.block_samples, remove_dc
        )
        self._closed = threading.Event()
        self._file_lock = threading.Lock()  # a read and a close from another thread never overlap
        self._blocks_emitted = 0
        self._samples_emitted = 0
        self._loops_completed = 0
        self._drop_samples = 0  # converted samples still to drop before the resume point
        self.start_sample = start_sample
        if start_sample:
            self._seek_converted(start_sample)
        logger.info(
            "opened %s: %d Hz, %d channels, %.1f s, pace %s%s",
            self.path,
            self.native_rate_hz,
            self.native_channels,
            self.native_frames / max(1, self.native_rate_hz),
            pace,
            ", looping" if loop else "",
        )

    @property
    def converted_samples(self) -> int:
        """Length of the whole file converted to 16 kHz (one pass)."""
        return round(self.native_frames * SAMPLE_RATE_HZ / max(1, self.native_rate_hz))

    def _seek_converted(self, start_sample: int) -> None:
        """Seek to the native frame of 16 kHz sample ``start_sample`` (modulo one pass if looping)."""
        length = self.converted_samples
        if self.loop and length:
            self._loops_completed, start_sample = divmod(start_sample, length)
        rate_hz = self.native_rate_hz
        exact_frame = min(self.native_frames, start_sample * rate_hz // SAMPLE_RATE_HZ)
        frame = max(0, exact_frame - rate_hz * RESUME_WARMUP_MS // 1000)
        self._drop_samples = max(0, start_sample - round(frame * SAMPLE_RATE_HZ / rate_hz))
        try:
            with self._file_lock:
                self._sound_file.seek(frame)
        except Exception as e:
            raise AudioSourceError(f"cannot seek to frame {frame} of {self.path!r}: {e}") from e
        logger.info("resuming %s at frame %d (16 kHz sample %d)", self.path, frame, start_sample)

    @property
    def description(self) -> str:
        return f"file:{self.path}"

    def blocks(self) -> Iterator[np.ndarray]:
        """Yield (block_samples,) float32 16 kHz blocks; the last may be shorter (no loop)."""
        start_s: float | None = None
        try:
            for block in self._converted_blocks():
                if self._closed.is_set():
                    return
                if self.pace == "realtime":
                    if start_s is None:
                        start_s = time.monotonic()
                    due_s = start_s + (self._samples_emitted + block.size) / SAMPLE_RATE_HZ
                    delay_s = due_s - time.monotonic()
                    if delay_s > 0 and self._closed.wait(delay_s):
                        return
                self._blocks_emitted += 1
                self._samples_emitted += block.size
                logger.debug("block %d: %d samples", self._blocks_emitted, block.size)
                yield block
        finally:
            self._close_file()

    def _converted_blocks(self) -> Iterator[np.ndarray]:
        while not self._closed.is_set():
            native = self._read()
            if self._closed.is_set():
                return
            if native.shape[0] == 0:
                if not self.loop or self.native_frames == 0:
                    yield from self._dropping(self._conditioner.finish())
                    logger.info("end of %s", self.path)
                    return
                self._loops_completed += 1
                logger.info("looping %s (pass %d done)", self.path, self._loops_completed)
                self._seek_start()
                continue
            yield from self._dropping(self._conditioner.push(native))

    def _dropping(self, blocks: list[np.ndarray]) -> Iterator[np.ndarray]:
        """``blocks`` without the converted samples before a resume point."""
        for block in blocks:
            if self._drop_samples:
                dropped = min(self._drop_samples, block.size)
                self._drop_samples -= dropped
                block = block[dropped:]
                if not block.size:
                    continue
            yield block

    def _read(self) -> np.ndarray:
        """(frames, channels) float32, at most ``_read_frames``; 0 frames at the end."""
        with self._file_lock:
            if self._sound_file.closed:
                return np.zeros((0, self.native_channels), dtype=np.float32)
            try:
                return self._sound_file.read(self._read_frames, dtype="float32", always_2d=True)
            except Exception as e:  # libsndfile reports decode errors as several types
                raise AudioSourceError(f"cannot read audio file {self.path!r}: {e}") from e

    def _seek_start(self) -> None:
        try:
            with self._file_lock:
                self._sound_file.seek(0)
        except Exception as e:
            raise AudioSourceError(f"cannot seek to the start of {self.path!r}: {e}") from e

    @property
    def stats(self) -> SourceStats:
        return self._common_stats(
            loops_completed=self._loops_completed,
        )

    def close(self) -> None:
        """Stop the block iterator (also wakes a realtime wait) and close the file."""
        self._closed.set()
        self._close_file()

    def _close_file(self) -> None:
        with self._file_lock:
            if not self._sound_file.closed:
                self._sound_file.close()


def open_sound_file(path: str):
    """Open ``path`` with soundfile, turning every failure into an ``AudioSourceError``."""
    if not os.path.exists(path):
        raise AudioSourceError(f"audio file {path!r} does not exist")
    if os.path.isdir(path):
        raise AudioSourceError(f"audio file {path!r} is a directory")
    import soundfile

    try:
        return soundfile.SoundFile(path)
    except Exception as e:  # LibsndfileError, RuntimeError, TypeError for odd formats
        raise AudioSourceError(f"cannot open audio file {path!r}: {e}") from e
