"""Parse a capture source string (``CaptureConfig.source``) into a frozen ``SourceSpec``.

Accepted forms::

    mic                     the system's default input device
    mic:DEVICE              a device by index (digits) or by name (case-insensitive substring)
    file:PATH               anything soundfile reads (wav, flac, ogg, mp3 where libsndfile has it)
    stdin:FORMAT:RATE[:CHANNELS]
                            raw interleaved PCM on standard input; FORMAT is s16le or f32le,
                            RATE in Hz, CHANNELS defaults to 1
    push:FORMAT:RATE[:CHANNELS]
                            the same raw PCM, sent by clients over the stream's push socket
                            (see ``pipeline.sources.push_source``)
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import AudioSourceError

SOURCE_KINDS: tuple[str, ...] = ("mic", "file", "stdin", "push")
RAW_FORMATS: tuple[str, ...] = ("s16le", "f32le")  # raw PCM sample formats stdin accepts
MIN_RATE_HZ = 1_000  # lowest native rate accepted for raw PCM
MAX_RATE_HZ = 768_000  # highest native rate accepted for raw PCM
MAX_CHANNELS = 64  # most interleaved channels accepted for raw PCM

_USAGE = "mic, mic:DEVICE, file:PATH, stdin:FORMAT:RATE[:CHANNELS] or push:FORMAT:RATE[:CHANNELS]"


@dataclass(frozen=True)
class SourceSpec:
    """Where audio comes from, parsed and checked; nothing is opened yet."""

    kind: str  # "mic", "file", "stdin" or "push"
    device: str | int | None = None  # mic: index, name substring, or None for the default
    path: str | None = None  # file: path as given
    sample_format: str | None = None  # stdin/push: "s16le" or "f32le"
    rate_hz: int | None = None  # stdin/push: native sample rate
    channels: int = 1  # stdin/push: interleaved channels

    def describe(self) -> str:
        """The spec written back in the source string syntax."""
        if self.kind == "mic":
            return "mic" if self.device is None else f"mic:{self.device}"
        if self.kind == "file":
            return f"file:{self.path}"
        return f"{self.kind}:{self.sample_format}:{self.rate_hz}:{self.channels}"


def parse_source_spec(text: str) -> SourceSpec:
    """Parse ``text`` (the ``capture.source`` value) into a ``SourceSpec``.

    Raises ``AudioSourceError`` naming the source string and what is wrong with it.
    """
    if not isinstance(text, str) or not text.strip():
        raise AudioSourceError(f"empty audio source {text!r}; expected {_USAGE}")
    text = text.strip()
    kind, sep, rest = text.partition(":")
    kind = kind.lower()
    if kind == "mic":
        return _parse_mic(text, rest, has_device=bool(sep))
    if kind == "file":
        if not rest:
            raise AudioSourceError(f"audio source {text!r} names no file; expected file:PATH")
        return SourceSpec(kind="file", path=rest)
    if kind in ("stdin", "push"):
        return _parse_raw(kind, text, rest)
    raise AudioSourceError(f"unknown audio source kind {kind!r} in {text!r}; expected {_USAGE}")


def _parse_mic(text: str, rest: str, has_device: bool) -> SourceSpec:
    if not has_device:
        return SourceSpec(kind="mic")
    device = rest.strip()
    if not device:
        raise AudioSourceError(
            f"audio source {text!r} names no device; use mic for the default device, "
            "mic:INDEX or mic:NAME"
        )
    if device.isdigit():
        return SourceSpec(kind="mic", device=int(device))
    return SourceSpec(kind="mic", device=device)


def _parse_raw(kind: str, text: str, rest: str) -> SourceSpec:
    parts = rest.split(":") if rest else []
    if len(parts) not in (2, 3):
        raise AudioSourceError(
            f"audio source {text!r} must be {kind}:FORMAT:RATE[:CHANNELS], "
            f"e.g. {kind}:s16le:16000 or {kind}:f32le:48000:2"
        )
    sample_format = parts[0].lower()
    if sample_format not in RAW_FORMATS:
        raise AudioSourceError(
            f"raw format {parts[0]!r} in {text!r} is not supported; allowed: {', '.join(RAW_FORMATS)}"
        )
    rate_hz = _parse_int(text, "rate", parts[1], MIN_RATE_HZ, MAX_RATE_HZ)
    channels = _parse_int(text, "channels", parts[2], 1, MAX_CHANNELS) if len(parts) == 3 else 1
    return SourceSpec(kind=kind, sample_format=sample_format, rate_hz=rate_hz, channels=channels)


def _parse_int(text: str, what: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise AudioSourceError(
            f"{what} {value!r} in audio source {text!r} is not an integer"
        ) from None
    if not low <= number <= high:
        raise AudioSourceError(
            f"{what} {number} in audio source {text!r} is out of range; allowed: {low}..{high}"
        )
    return number
