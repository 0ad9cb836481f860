"""A PortAudio input device (through sounddevice) as a source, surviving unplug and replug.

The device is opened at its own default rate and with its channel count (capped at
``MIC_MAX_CHANNELS``; a PipeWire or ALSA ``default`` device offers dozens of channels that are
copies of one or two); the one conversion to 16 kHz mono happens in the consumer.

Real-time path: PortAudio calls ``CallbackBuffer.callback`` on its own thread. It copies the
block into the next free slot of a preallocated slot array, bumps a counter and returns: no lock,
no numpy allocation, no logging. The consumer (the ``blocks`` generator, on the capture worker's
thread) takes filled slots in order, converts them, and yields 16 kHz blocks. If the consumer lags
so far that all slots are full, the callback drops the block and counts it.

A lost device (the stream finishes on its own, PortAudio errors, or no callback for
``stall_timeout_s``) is reported as a ``device_lost`` event, and the source reopens it by the same
index or name with exponential backoff from ``retry_initial_s`` to ``retry_max_s``. Meanwhile
``blocks`` yields nothing (or an empty block every ``idle_yield_s`` if asked), then goes on after a
``device_restored`` event. Only the first open raises ``AudioSourceError``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.audio_format import SAMPLE_DTYPE
from pipeline.errors import AudioSourceError
from pipeline.sources.base import DEVICE_LOST, DEVICE_RESTORED, AudioSource, SourceStats
from pipeline.sources.conditioner import BlockConditioner, block_samples_for

logger = logging.getLogger(__name__)

MIC_MAX_CHANNELS = 2  # channels opened at most; more are down-mixed anyway
CALLBACK_BUFFER_S = 2.0  # audio the callback slots hold before blocks are dropped
STALL_TIMEOUT_S = 2.0  # no callback for this long on an open stream counts as a lost device
POLL_INTERVAL_S = 0.005  # consumer sleep while waiting for the callback


@dataclass(frozen=True)
class InputDevice:
    """An input device as PortAudio lists it."""

    index: int  # PortAudio device index (can change when devices come and go)
    name: str  # device name, e.g. "USB Audio Device: - (hw:1,0)"
    hostapi: str  # host API name, e.g. "ALSA", "Core Audio"
    default_rate_hz: int  # the device's default sample rate
    max_input_channels: int  # input channels it offers
    is_default: bool  # the system's default input device


def import_sounddevice() -> Any:
    """Import sounddevice, turning a missing PortAudio library into an ``AudioSourceError``."""
    try:
        import sounddevice
    except OSError as e:
        raise AudioSourceError(
            f"PortAudio library not found ({e}); install it (Debian/Ubuntu: apt install "
            "libportaudio2, macOS: it ships with the sounddevice wheel) or use a file:/stdin: source"
        ) from e
    except ImportError as e:
        raise AudioSourceError(f"python package sounddevice is not installed: {e}") from e
    return sounddevice


def list_input_devices(sd: Any = None) -> list[InputDevice]:
    """Every device with at least one input channel, in PortAudio order."""
    sd = sd or import_sounddevice()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
    except Exception as e:  # sounddevice.PortAudioError
        raise AudioSourceError(f"cannot list audio devices: {e}") from e
    default_index = _default_input_index(sd)
    return [
        InputDevice(
            index=int(info["index"]),
            name=str(info["name"]),
            hostapi=str(hostapis[info["hostapi"]]["name"]),
            default_rate_hz=round(float(info["default_samplerate"])),
            max_input_channels=int(info["max_input_channels"]),
            is_default=int(info["index"]) == default_index,
        )
        for info in devices
        if info["max_input_channels"] > 0
    ]


def find_input_device(device: str | int | None, sd: Any = None) -> InputDevice:
    """The input device named by ``device``: None = default, int = index, str = name.

    A name matches exactly (case-insensitive) or else as a substring; with several substring
    matches the first (in PortAudio order) wins and a warning names the others.
    """
    devices = list_input_devices(sd)
    available = "; ".join(f"{d.index}: {d.name}" for d in devices) or "none"
    if device is None:
        for candidate in devices:
            if candidate.is_default:
                return candidate
        raise AudioSourceError(f"no default input device; available inputs: {available}")
    if isinstance(device, int):
        for candidate in devices:
            if candidate.index == device:
                return candidate
        raise AudioSourceError(f"no input device with index {device}; available: {available}")
    wanted = device.lower()
    exact = [d for d in devices if d.name.lower() == wanted]
    if exact:
        return exact[0]
    matches = [d for d in devices if wanted in d.name.lower()]
    if not matches:
        raise AudioSourceError(f"no input device matches {device!r}; available: {available}")
    if len(matches) > 1:
        logger.warning(
            "input device %r matches %s; using %r",
            device,
            [d.name for d in matches],
            matches[0].name,
        )
    return matches[0]


def _default_input_index(sd: Any) -> int:
    try:
        return int(sd.query_devices(kind="input")["index"])
    except Exception:  # no default input device
        return -1


class CallbackBuffer:
    """Single-producer, single-consumer queue of preallocated blocks between PortAudio and us.

    The producer is ``callback`` (PortAudio's thread); the consumer calls ``take``. Each slot
    holds one callback block of (frames_per_slot, channels) float32. Counters only grow; the
    producer writes ``_write_count`` after the copy, so the consumer never reads a half-filled
    slot (CPython's GIL orders the two).
    """

    def __init__(self, slot_count: int, frames_per_slot: int, channels: int) -> None:
        self.slot_count = slot_count
        self.frames_per_slot = frames_per_slot
        self.channels = channels
        self._slots = np.zeros((slot_count, frames_per_slot, channels), dtype=np.float32)
        self._slot_views = [self._slots[i] for i in range(slot_count)]  # no per-call views
        self._slot_frames = [0] * slot_count  # valid frames in each slot
        self._write_count = 0  # slots filled, ever
        self._read_count = 0  # slots taken, ever
        self.callback_count = 0  # callbacks seen, ever (the consumer's liveness signal)
        self.overflow_count = 0  # callbacks flagged input_overflow
        self.dropped_blocks = 0  # callbacks dropped because every slot was full

    def callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's input callback: copy ``indata`` (frames, channels) into a free slot."""
        self.callback_count += 1
        if status and status.input_overflow:
            self.overflow_count += 1
        if self._write_count - self._read_count >= self.slot_count:
            self.dropped_blocks += 1
            return
        slot = self._write_count % self.slot_count
        if frames == self.frames_per_slot:
            np.copyto(self._slot_views[slot], indata)
            self._slot_frames[slot] = frames
        else:  # PortAudio keeps a fixed block size; this is only a safety net
            kept = min(frames, self.frames_per_slot)
            np.copyto(self._slot_views[slot][:kept], indata[:kept])
            self._slot_frames[slot] = kept
        self._write_count += 1

    def take(self) -> np.ndarray | None:
        """The oldest filled block as a new (frames, channels) float32 array, or None."""
        if self._read_count == self._write_count:
            return None
        slot = self._read_count % self.slot_count
        block = self._slots[slot, : self._slot_frames[slot]].copy()
        self._read_count += 1
        return block

    @property
    def pending_blocks(self) -> int:
        return self._write_count - self._read_count


class MicSource(AudioSource):
    """Live capture from an input device, converted to 16 kHz mono float32 blocks."""

    def __init__(
        self,
        device: str | int | None = None,
        block_duration_ms: int = 20,
        remove_dc: bool = True,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 10.0,
        rate_hz: int | None = None,
        channels: int | None = None,
        stall_timeout_s: float = STALL_TIMEOUT_S,
        idle_yield_s: float | None = None,
        sounddevice_module: Any = None,
    ) -> None:
        """Open ``device`` now; ``AudioSourceError`` if PortAudio or the device is missing.

        ``rate_hz``/``channels`` override the device's defaults (None = use the device's).
        ``idle_yield_s``: while no audio arrives (device lost), yield an empty (0,) block this
        often so a single-threaded consumer can still heartbeat; None = yield nothing.
        ``sounddevice_module`` replaces the sounddevice module (tests).
        """
        super().__init__()
        self.device = device
        self.block_duration_ms = block_duration_ms
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = max(retry_max_s, retry_initial_s)
        self.stall_timeout_s = stall_timeout_s
        self.idle_yield_s = idle_yield_s
        self._rate_override_hz = rate_hz
        self._channels_override = channels
        self._sd = sounddevice_module or import_sounddevice()
        self._closed = threading.Event()
        self._iterating = False
        self._stream_finished = threading.Event()
        self._stream: Any = None
        self._buffer: CallbackBuffer | None = None
        self._input: InputDevice | None = None
        self.native_rate_hz = 0
        self.native_channels = 0
        self._blocks_emitted = 0
        self._samples_emitted = 0
        self._device_losses = 0
        self._device_restores = 0
        self._retired_overflows = 0  # counters of buffers from streams since closed
        self._retired_dropped = 0
        self._open_stream(rescan=False)
        self._conditioner = BlockConditioner(
            self.native_rate_hz,
            self.native_channels,
            np.float32,
            block_samples_for(block_duration_ms),
            remove_dc,
        )

    @property
    def description(self) -> str:
        name = self._input.name if self._input else self.device
        return f"mic:{name}"

    def blocks(self) -> Iterator[np.ndarray]:
        """Yield (block_samples,) float32 16 kHz blocks until ``close``; never ends on its own.

        Call once per source: leaving the loop closes the stream (a second call would reopen
        it through the lost-device path).
        """
        last_count = -1
        last_audio_s = last_yield_s = time.monotonic()
        self._iterating = True
        try:
            while not self._closed.is_set():
                buffer = self._buffer
                native = buffer.take() if buffer is not None else None
                now_s = time.monotonic()
                if native is not None:
                    for block in self._conditioner.push(native):
                        self._blocks_emitted += 1
                        self._samples_emitted += block.size
                        logger.debug("block %d: %d samples", self._blocks_emitted, block.size)
                        yield block
                    last_audio_s = last_yield_s = now_s
                    continue
                if buffer is not None and buffer.callback_count != last_count:
                    last_count = buffer.callback_count
                    last_audio_s = now_s
                lost_reason = self._lost_reason(now_s - last_audio_s)
                if lost_reason:
                    yield from self._recover(lost_reason)
                    last_count = -1
                    last_audio_s = last_yield_s = time.monotonic()
                    continue
                if self.idle_yield_s is not None and now_s - last_yield_s >= self.idle_yield_s:
                    last_yield_s = now_s
                    yield np.zeros(0, dtype=SAMPLE_DTYPE)
                self._closed.wait(POLL_INTERVAL_S)
        finally:
            self._iterating = False
            self._close_stream()

    def _lost_reason(self, silent_s: float) -> str:
        if self._stream_finished.is_set():
            return "the stream stopped on its own"
        if self._stream is not None and not self._stream.active:
            return "the stream is no longer active"
        if silent_s > self.stall_timeout_s:
            return f"no audio for {silent_s:.1f} s"
        return ""

    def _recover(self, reason: str) -> Iterator[np.ndarray]:
        """Close the lost stream and reopen with backoff; yields only idle (0,) blocks."""
        detail = f"input device {self.description} lost: {reason}"
        logger.warning(detail)
        self._device_losses += 1
        self._emit_event(DEVICE_LOST, detail, self._samples_emitted)
        self._close_stream()
        wait_s = self.retry_initial_s
        while True:
            deadline_s = time.monotonic() + wait_s
            while (remaining_s := deadline_s - time.monotonic()) > 0:
                step_s = (
                    remaining_s
                    if self.idle_yield_s is None
                    else min(remaining_s, self.idle_yield_s)
                )
                if self._closed.wait(step_s):
                    return
                if self.idle_yield_s is not None:
                    yield np.zeros(0, dtype=SAMPLE_DTYPE)
            try:
                self._open_stream(rescan=True)
                break
            except AudioSourceError as e:
                logger.info("reopening %r failed (%s); next try in %.1f s", self.device, e, wait_s)
                wait_s = min(wait_s * 2, self.retry_max_s)
        for block in self._conditioner.switch_input(
            self.native_rate_hz, self.native_channels, np.dtype(np.float32)
        ):
            self._blocks_emitted += 1
            self._samples_emitted += block.size
            yield block
        detail = f"input device {self.description} restored"
        logger.warning(detail)
        self._device_restores += 1
        self._emit_event(DEVICE_RESTORED, detail, self._samples_emitted)

    def _open_stream(self, rescan: bool) -> None:
        """Find the device, open and start a stream with a fresh callback buffer."""
        if rescan:
            _rescan_devices(self._sd)
        found = find_input_device(self.device, self._sd)
        rate_hz = self._rate_override_hz or found.default_rate_hz
        channels = self._channels_override or min(found.max_input_channels, MIC_MAX_CHANNELS)
        frames_per_block = max(1, round(rate_hz * self.block_duration_ms / 1000))
        slot_count = max(4, round(CALLBACK_BUFFER_S * 1000 / self.block_duration_ms))
        buffer = CallbackBuffer(slot_count, frames_per_block, channels)
        self._stream_finished.clear()
        try:
            stream = self._sd.InputStream(
                device=found.index,
                samplerate=rate_hz,
                channels=channels,
                dtype="float32",
                blocksize=frames_per_block,
                callback=buffer.callback,
                finished_callback=self._stream_finished.set,
            )
            stream.start()
        except Exception as e:  # sounddevice.PortAudioError, ValueError for bad settings
            raise AudioSourceError(
                f"cannot open input device {found.index} ({found.name!r}) at {rate_hz} Hz, "
                f"{channels} channels: {e}"
            ) from e
        self._stream, self._buffer, self._input = stream, buffer, found
        self.native_rate_hz, self.native_channels = rate_hz, channels
        logger.info(
            "capturing from %s (%s) at %d Hz, %d channels, %d-frame blocks",
            found.name,
            found.hostapi,
            rate_hz,
            channels,
            frames_per_block,
        )

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if self._buffer is not None:
            self._retired_overflows += self._buffer.overflow_count
            self._retired_dropped += self._buffer.dropped_blocks
            self._buffer = None
        if stream is None:
            return
        try:
            stream.abort(ignore_errors=True)
            stream.close(ignore_errors=True)
        except Exception:  # a device that vanished may fail to close; it is gone either way
            logger.debug("closing the lost stream failed", exc_info=True)

    @property
    def stats(self) -> SourceStats:
        buffer = self._buffer
        return self._common_stats(
            overflows=self._retired_overflows + (buffer.overflow_count if buffer else 0),
            dropped_blocks=self._retired_dropped + (buffer.dropped_blocks if buffer else 0),
            device_losses=self._device_losses,
            device_restores=self._device_restores,
        )

    def close(self) -> None:
        """Stop capturing; a running ``blocks`` generator ends within one poll interval."""
        self._closed.set()
        if not self._iterating:
            self._close_stream()
            return
        stream = self._stream  # the generator closes it; stop the callbacks now
        if stream is not None:
            try:
                stream.abort(ignore_errors=True)
            except Exception:
                logger.debug("abort on close failed", exc_info=True)


def _rescan_devices(sd: Any) -> None:
    """Make PortAudio list devices afresh (a replugged device may have a new index)."""
    terminate = getattr(sd, "_terminate", None)
    initialize = getattr(sd, "_initialize", None)
    if terminate is None or initialize is None:
        return
    try:
        terminate()
        initialize()
    except Exception as e:
        raise AudioSourceError(f"cannot restart PortAudio to rescan devices: {e}") from e
