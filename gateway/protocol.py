"""Our WebSocket protocol (``/v1/stream``): the start message, the JSON sent back, close codes.

Client → server: one JSON text message first::

    {"type": "start", "sample_rate": 16000, "encoding": "pcm_s16le", "channels": 1,
     "profile": "balanced", "label": "kitchen mic", "endpointing_ms": 300}

then binary frames of interleaved PCM, ``{"type": "finalize"}`` (end the speech now, go on),
then ``{"type": "stop"}`` (or just close). ``endpointing_ms`` (optional, 100..10000): the
silence that ends an utterance, the VAD hangover of the client's own stream (``--open-streams``).
Server → client: JSON ``ready``, ``partial``, ``final``, ``speech``, ``gap``, ``metrics``,
``error``; then a close with a code and a reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pipeline.messages import (
    GapEvent,
    Message,
    Metrics,
    SpeechEvent,
    TranscriptFinal,
    TranscriptPartial,
)

ENCODINGS = {"pcm_s16le": "s16le", "pcm_f32le": "f32le"}  # ours -> the daemon's raw formats
MAX_LABEL_CHARS = 200
MAX_START_BYTES = 4096

# close codes (RFC 6455 and the 4000-4999 private range)
CLOSE_DONE = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL = 1002
CLOSE_BAD_DATA = 1003  # a binary frame where text was expected or the reverse
CLOSE_POLICY = 1008  # rate limit, origin, a client that stops reading
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_TRY_LATER = 1013  # busy: connection limit, the stream in use
CLOSE_BAD_START = 4000  # malformed start message
CLOSE_UNAUTHORIZED = 4001
CLOSE_BAD_FORMAT = 4003  # an encoding, rate or channel count the stream does not take
CLOSE_SILENT = 4008  # the client sent nothing for too long

# endpointing: the silence (ms) that ends an utterance, as the stream's VAD hangover
# (``vad.hangover_ms``); at least twice the shortest VAD pause (``vad.pause_ms`` >= 50, at most
# half the hangover), at most the configuration's bound
ENDPOINTING_MIN_MS = 100
ENDPOINTING_MAX_MS = 10_000
PAUSE_MS_MAX = 200  # the longest pause_ms of the profiles; a shorter hangover sets its own
FINALIZE_SILENCE_MS = 1500  # silence written by a Finalize: longer than every profile's hangover
FINALIZE_MARGIN_MS = 500  # over an endpointing override


class ProtocolError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class StartMessage:
    sample_rate_hz: int
    sample_format: str  # the daemon's name: s16le or f32le
    channels: int
    profile: str
    label: str
    endpointing_ms: int | None = None  # the stream's VAD hangover (None: the profile's)

    def overrides(self) -> dict[str, str]:
        """The ``stream.open`` overrides these settings ask for."""
        if self.endpointing_ms is None:
            return {}
        overrides = {"vad.hangover_ms": str(self.endpointing_ms)}
        if self.endpointing_ms // 2 < PAUSE_MS_MAX:  # pause_ms may be at most half of it
            overrides["vad.pause_ms"] = str(self.endpointing_ms // 2)
        return overrides

    def end_silence_ms(self) -> int:
        """Silence to write before the end of the audio so the stream's VAD ends the speech
        itself (0: the push stream's own end silence is long enough)."""
        needed_ms = self.finalize_silence_ms()
        return needed_ms if needed_ms > FINALIZE_SILENCE_MS else 0

    def finalize_silence_ms(self) -> int:
        """Silence a Finalize writes: enough for the stream's VAD to end the speech."""
        if self.endpointing_ms is None:
            return FINALIZE_SILENCE_MS
        return max(FINALIZE_SILENCE_MS, self.endpointing_ms + FINALIZE_MARGIN_MS)


def parse_endpointing(value: object) -> int | None:
    """Milliseconds of silence that end an utterance, or None for ``false``/absent (the daemon's
    VAD keeps its profile's hangover); ``ProtocolError`` naming the bounds otherwise."""
    if value is None or value is False or (isinstance(value, str) and value.lower() == "false"):
        return None
    try:
        if isinstance(value, (bool, float)):
            raise ValueError
        ms = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ProtocolError(
            CLOSE_BAD_START, f"endpointing {value!r} must be milliseconds (an integer) or false"
        ) from None
    if not ENDPOINTING_MIN_MS <= ms <= ENDPOINTING_MAX_MS:
        raise ProtocolError(
            CLOSE_BAD_START,
            f"endpointing {ms} ms is outside {ENDPOINTING_MIN_MS}..{ENDPOINTING_MAX_MS} ms "
            "(the VAD's end-of-speech silence)",
        )
    return ms


def parse_start(text: str) -> StartMessage:
    """The start message in ``text``; ``ProtocolError(CLOSE_BAD_START)`` naming what is wrong."""
    if len(text) > MAX_START_BYTES:
        raise ProtocolError(CLOSE_BAD_START, f"start message over {MAX_START_BYTES} bytes")
    try:
        body = json.loads(text)
    except ValueError as e:
        raise ProtocolError(CLOSE_BAD_START, f"start message is not JSON: {e}") from None
    if not isinstance(body, dict) or body.get("type", "start") != "start":
        raise ProtocolError(CLOSE_BAD_START, 'the first message must be {"type": "start", ...}')
    encoding = body.get("encoding", "pcm_s16le")
    if encoding not in ENCODINGS:
        raise ProtocolError(
            CLOSE_BAD_FORMAT, f"encoding {encoding!r} not supported; use {', '.join(ENCODINGS)}"
        )
    rate = body.get("sample_rate")
    channels = body.get("channels", 1)
    if not isinstance(rate, int) or isinstance(rate, bool) or not 1000 <= rate <= 768_000:
        raise ProtocolError(CLOSE_BAD_START, f"sample_rate {rate!r} must be an integer in Hz")
    if not isinstance(channels, int) or isinstance(channels, bool) or not 1 <= channels <= 64:
        raise ProtocolError(CLOSE_BAD_START, f"channels {channels!r} must be 1..64")
    profile = body.get("profile", "") or ""
    label = body.get("label", "") or ""
    if not isinstance(profile, str) or not isinstance(label, str):
        raise ProtocolError(CLOSE_BAD_START, "profile and label must be strings")
    endpointing_ms = parse_endpointing(body.get("endpointing_ms"))
    return StartMessage(
        rate, ENCODINGS[encoding], channels, profile, label[:MAX_LABEL_CHARS], endpointing_ms
    )


def words_json(message: TranscriptFinal) -> list[dict[str, Any]]:
    return [
        {"word": w.text.strip(), "start": w.start_s, "end": w.end_s, "confidence": w.probability}
        for w in message.words
    ]


def to_json(
    message: Message, arrived_s: float, from_finalize: bool = False
) -> dict[str, Any] | None:
    """The ``/v1/stream`` JSON of a daemon message (None: not sent to clients)."""
    if isinstance(message, TranscriptFinal):
        return {
            "type": "final",
            "seq": message.seq,
            "segment_id": message.segment_id,
            "start": message.start_s,
            "end": message.end_s,
            "text": message.text.strip(),
            "words": words_json(message),
            "status": message.status,
            "latency_ms": round(message.latency_ms, 1),
            "engine_ms": message.engine_ms,
            "from_finalize": from_finalize,
            "queue_wait_ms": message.queue_wait_ms,
            "gateway_at": arrived_s,
        }
    if isinstance(message, TranscriptPartial):
        return {
            "type": "partial",
            "segment_id": message.segment_id,
            "revision": message.revision,
            "start": message.start_s,
            "end": message.end_s,
            "stable": message.stable.strip(),
            "unstable": message.unstable.strip(),
        }
    if isinstance(message, SpeechEvent):
        return {
            "type": "speech",
            "event": message.event,
            "segment_id": message.segment_id,
            "time": message.time_s,
        }
    if isinstance(message, GapEvent):
        return {
            "type": "gap",
            "start": message.start_s,
            "end": message.end_s,
            "reason": message.reason,
        }
    if isinstance(message, Metrics):
        values = message.values
        return {
            "type": "metrics",
            "latency_p50_ms": values.get("latency_p50_ms"),
            "latency_p95_ms": values.get("latency_p95_ms"),
            "queue": values.get("queue"),
            "lag_s": values.get("lag_s"),
            "finals": values.get("finals"),
        }
    return None
