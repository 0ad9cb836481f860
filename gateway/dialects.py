"""The two audio protocols: ours (``/v1/stream``) and the Deepgram live-streaming shape
(``/v1/listen``), each a ``connection.Dialect``."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from gateway.protocol import (
    CLOSE_BAD_FORMAT,
    ProtocolError,
    StartMessage,
    parse_endpointing,
    to_json,
    words_json,
)
from gateway.session import Outgoing, StreamSession
from pipeline.messages import SpeechEvent, TranscriptFinal, TranscriptPartial

DEEPGRAM_ENCODINGS = {"linear16": "s16le"}  # the raw encodings /v1/listen takes
TRUE_WORDS = ("true", "1", "yes")


class StreamDialect:
    """Our JSON messages (see ``gateway.protocol``)."""

    def __init__(
        self, start: StartMessage, daemon_profile: str, profile_applied: bool = False
    ) -> None:
        self.start = start
        self.daemon_profile = daemon_profile
        self.profile_applied = profile_applied  # a stream of its own took the start's profile

    def ready(self, session: StreamSession) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [
            {
                "type": "ready",
                "client_id": session.client_id,
                "stream": session.spec.describe() if session.spec else "",
                "stream_id": session.stream_id,
                "profile": (self.profile_applied and self.start.profile) or self.daemon_profile,
                "label": self.start.label,
            }
        ]
        if (
            not self.profile_applied
            and self.start.profile
            and self.start.profile != self.daemon_profile
        ):
            messages.append(
                {
                    "type": "error",
                    "fatal": False,
                    "detail": f"profile {self.start.profile!r} not applied: the daemon's one "
                    f"stream runs {self.daemon_profile!r} (per-stream profiles need stream.open)",
                }
            )
        return messages

    def encode(self, item: Outgoing, session: StreamSession) -> list[dict[str, Any]]:
        body = to_json(item.message, item.arrived_s, item.from_finalize)
        if body is None:
            return []
        if body["type"] == "final":
            body["sent_at"] = time.time()
        elif body["type"] == "metrics":
            body["lag_s"] = session.lag_s()  # this client's stream (the page's status panel)
        return [body]

    def on_text(self, text: str) -> str:
        try:
            body = json.loads(text)
        except ValueError:
            return ""
        kind = body.get("type") if isinstance(body, dict) else None
        return {"stop": "stop", "keepalive": "keepalive", "finalize": "finalize"}.get(
            kind or "", ""
        )

    def closing(self, session: StreamSession, audio_s: float) -> list[dict[str, Any]]:
        return [{"type": "closing", "audio_s": round(audio_s, 3), "problems": session.problems}]


def deepgram_start(query: dict[str, str]) -> tuple[StartMessage, dict[str, Any]]:
    """Our start message and the Deepgram options from ``/v1/listen``'s query parameters."""
    encoding = query.get("encoding", "")
    if encoding not in DEEPGRAM_ENCODINGS:
        raise ProtocolError(
            CLOSE_BAD_FORMAT,
            f"encoding {encoding or '(none)'!r} not supported: send raw linear16 "
            "with encoding=linear16&sample_rate=RATE",
        )
    try:
        rate = int(query.get("sample_rate", "16000"))
        channels = int(query.get("channels", "1"))
    except ValueError as e:
        raise ProtocolError(CLOSE_BAD_FORMAT, f"bad sample_rate or channels: {e}") from None
    options = {
        "interim_results": query.get("interim_results", "false").lower() in TRUE_WORDS,
        "vad_events": query.get("vad_events", "false").lower() in TRUE_WORDS,
        "utterance_end_ms": query.get("utterance_end_ms"),
        "model": query.get("model", ""),
    }
    endpointing_ms = parse_endpointing(query.get("endpointing"))  # the stream's VAD hangover
    start = StartMessage(
        rate, DEEPGRAM_ENCODINGS[encoding], channels, "", "deepgram", endpointing_ms
    )
    return start, options


class DeepgramDialect:
    """Results / SpeechStarted / UtteranceEnd / Metadata as Deepgram's live API sends them."""

    def __init__(self, options: dict[str, Any], model_name: str) -> None:
        self.options = options
        self.model_name = model_name
        self.request_id = str(uuid.uuid4())
        self.created = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")

    def ready(self, session: StreamSession) -> list[dict[str, Any]]:
        return []

    def _results(
        self,
        session: StreamSession,
        start_s: float,
        end_s: float,
        transcript: str,
        confidence: float,
        words: list[dict[str, Any]],
        is_final: bool,
        speech_final: bool,
        from_finalize: bool = False,
    ) -> dict[str, Any]:
        for word in words:  # times of the client's audio (Finalize silence taken out)
            word["start"] = round(session.client_s(word["start"]), 3)
            word["end"] = round(session.client_s(word["end"]), 3)
            word["punctuated_word"] = word["word"]
            word["word"] = word["word"].strip(".,!?;:\"'").lower()
        return {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": round(session.client_s(end_s) - session.client_s(start_s), 3),
            "start": round(session.client_s(start_s), 3),
            "is_final": is_final,
            "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {
                "alternatives": [
                    {"transcript": transcript, "confidence": confidence, "words": words}
                ]
            },
            "metadata": {
                "request_id": self.request_id,
                "model_info": {"name": self.model_name, "version": "local", "arch": "whisper"},
                "model_uuid": "00000000-0000-0000-0000-000000000000",
            },
        }

    def encode(self, item: Outgoing, session: StreamSession) -> list[dict[str, Any]]:
        message = item.message
        if isinstance(message, TranscriptFinal):
            words = words_json(message)
            confidence = sum(w["confidence"] for w in words) / len(words) if words else 0.0
            speech_final = message.segment_id in session._ended_at
            return [
                self._results(
                    session,
                    message.start_s,
                    message.end_s,
                    message.text.strip(),
                    round(confidence, 4),
                    words,
                    True,
                    speech_final or item.from_finalize,
                    item.from_finalize,
                )
            ]
        if isinstance(message, TranscriptPartial) and self.options["interim_results"]:
            text = f"{message.stable} {message.unstable}".strip()
            return [
                self._results(session, message.start_s, message.end_s, text, 0.0, [], False, False)
            ]
        if isinstance(message, SpeechEvent):
            if message.event == "started" and self.options["vad_events"]:
                return [
                    {
                        "type": "SpeechStarted",
                        "channel": [0],
                        "timestamp": round(session.client_s(message.time_s), 3),
                    }
                ]
            if message.event == "ended" and self.options["utterance_end_ms"]:
                return [
                    {
                        "type": "UtteranceEnd",
                        "channel": [0, 1],
                        "last_word_end": round(session.client_s(message.time_s), 3),
                    }
                ]
        return []

    def on_text(self, text: str) -> str:
        try:
            body = json.loads(text)
        except ValueError:
            return ""
        kind = body.get("type") if isinstance(body, dict) else None
        if kind == "CloseStream":
            return "stop"
        if kind == "KeepAlive":
            return "keepalive"
        if kind == "Finalize":
            return "finalize"
        return ""  # Configure and others: not taken

    def closing(self, session: StreamSession, audio_s: float) -> list[dict[str, Any]]:
        return [
            {
                "type": "Metadata",
                "transaction_key": "deprecated",
                "request_id": self.request_id,
                "sha256": "",
                "created": self.created,
                "duration": round(audio_s, 3),
                "channels": 1,
                "models": [self.model_name],
                "model_info": {},
            }
        ]
