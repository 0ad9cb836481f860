"""Messages: every registered kind round-trips; every rejection reason is reachable and tested."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import msgpack
import pytest

from pipeline import messages as m
from pipeline.errors import MessageError
from pipeline.messages import work as work_messages
from pipeline.messages.base import Min, register
from pipeline.messages.codec import _build
from pipeline.messages.speech import SpeechPaused, SpeechResumed
from pipeline.messages.work import CancelRequest
from pipeline.words import Word

WORDS = (Word(0.0, 0.4, " hello", 0.93), Word(0.4, 0.9, " world", 0.81))
FINAL = m.TranscriptFinal(
    stream_id="mic",
    segment_id=3,
    seq=41,
    start_s=12.5,
    end_s=14.0,
    text="hello world",
    words=WORDS,
    backend="whisper",
    model="tiny.en",
    latency_ms=310.0,
)

# One example per registered kind; test_every_kind_has_an_example fails when one is missing.
EXAMPLES: dict[str, m.Message] = {
    msg.kind: msg
    for msg in (
        m.AudioTick("mic", 16000, 16000),
        m.CaptureEvent("mic", "overflow", "input overflow", 48000, {"overflows": 2}),
        m.RingOverrunReport("mic", "asr-1", 100, 200, 2_000_000),
        m.EndOfStream("file", 123456),
        m.PushAudio("main", "client-1", 7, "s16le", 16000, 1, 1.7e9),
        m.PushEnd("main", "client-1", 8),
        m.PushFinalize("main", "client-1", 8, 2000),
        m.PushReply("main", "client-1", "gap", 7, "frames 5..6 never arrived", 16000, 2),
        m.SpeechStarted("mic", 0, 1600),
        m.SpeechOngoing("mic", 0, 1600, 32000),
        m.SpeechEnded("mic", 0, 1600, 48000, split=True),
        SpeechPaused("mic", 0, 1600, 40000, 43200, 1),
        SpeechResumed("mic", 0, 1600, 44800, 1),
        m.VadStats(
            "mic", 5.0, {"energy": 250, "webrtc": 80}, {"energy": 0.01, "silero": 0.2}, 2, 0.7
        ),
        m.Ready("asr-1", 4242, "whisper", "tiny.en", ("words", "partials")),
        m.Heartbeat("asr-1", 4242, 300_000_000, 50_000_000, 10_000_000, "req-7"),
        m.TranscribeRequest("req-7", "mic", 0, 1, 3, "ss1234a", 160000, 320000, False, "Hi."),
        m.TranscribeResult("req-7", "mic", 0, 1, "hello world", WORDS, 820.5, 10.0, {"t": 0.0}),
        m.WorkerError("req-7", "ring_overrun", "audio gone", retryable=False),
        m.Shutdown("recycle: memory"),
        CancelRequest("req-7", "final work waits"),
        m.StreamOpen("sess-1", "mic", 4, "ss1234a", 16000),
        m.StreamFeed("sess-1", 16000, 24000),
        m.StreamClose("sess-1", 64000),
        m.StreamUpdate("sess-1", "mic", 4, WORDS[:1], WORDS[1:], 20000, False, 15.0),
        work_messages.TranscribeBatch(
            "batch:req-7",
            (
                m.TranscribeRequest("req-7", "mic", 0, 1, 3, "ss1234a", 160000, 320000),
                m.TranscribeRequest("req-8", "room", 2, 0, 1, "ss1234b", 0, 16000),
            ),
        ),
        work_messages.TranscribeBatchResult(
            "batch:req-7",
            (m.TranscribeResult("req-7", "mic", 0, 1, "hello world", WORDS, 820.5, 10.0),),
            (m.WorkerError("req-8", "ring_overrun", "audio gone", retryable=False),),
        ),
        FINAL,
        m.TranscriptPartial("mic", 3, 2, 12.5, 13.4, "hello", " wor", "whisper", "tiny.en"),
        m.SpeechEvent("mic", 3, "ended", 14.0),
        m.GapEvent("mic", 20.0, 21.5, "vad_resync"),
        m.Metrics(1_700_000_000.5, {"queue": {"finals": 0}, "rss_mb": [101.5, 99], "ok": True}),
        m.StatusRequest(),
        m.StatusReply({"workers": [{"id": "asr-1", "busy": None}], "uptime_s": 12}),
        m.MetricsRequest(),
        m.MetricsReply({"published_finals": 41, "blob": b"\x00\x01"}),
        m.SetProfileRequest("low-latency"),
        m.SetProfileReply("low-latency", ("vad",)),
        m.ReplayRequest(40, 10),
        m.ReplayReply((FINAL,), 42),
        m.ShutdownRequest("control"),
        m.ShutdownAck(),
        m.ControlError("control.set_profile", "unknown profile 'x'", {"allowed": "balanced"}),
        m.StreamOpenRequest("push:s16le:48000", "", False, "tab 3", "", {"vad.hangover_ms": "500"}),
        m.StreamOpenReply("s1", "ipc:///run/x/default.push-s1"),
        m.StreamCloseRequest("s1"),
        m.StreamCloseReply("s1", "closing"),
        m.StreamListRequest(),
        m.StreamListReply(({"stream_id": "main", "state": "running", "lag_s": 0.1},)),
    )
}


def raw_frame(kind: str = "speech.started", **fields: Any) -> bytes:
    """A frame built by hand, bypassing encode's checks."""
    body = {"v": m.SCHEMA_VERSION, "kind": kind, **fields}
    return msgpack.packb(body, use_bin_type=True)


def body_of(message: m.Message) -> dict[str, Any]:
    return msgpack.unpackb(m.encode(message), raw=False)


def rejected(frame: Any, reason: str, **kwargs: Any) -> m.FrameRejected:
    with pytest.raises(m.FrameRejected) as info:
        m.decode(frame, **kwargs)
    assert info.value.reason == reason, str(info.value)
    assert isinstance(info.value, MessageError)
    assert info.value.reason in m.REJECTION_REASONS
    return info.value


def test_every_kind_has_an_example() -> None:
    assert set(m.REGISTRY) == set(EXAMPLES), set(m.REGISTRY) ^ set(EXAMPLES)


@pytest.mark.parametrize("kind", sorted(m.REGISTRY))
def test_round_trip(kind: str) -> None:
    message = EXAMPLES[kind]
    frame = m.encode(message)
    assert isinstance(frame, bytes)
    decoded = m.decode(frame)
    assert type(decoded) is m.REGISTRY[kind]
    assert decoded == message
    assert m.decode(memoryview(frame)) == message
    body = msgpack.unpackb(frame, raw=False)
    assert body["v"] == m.SCHEMA_VERSION and body["kind"] == kind


def test_optional_and_defaulted_fields_may_be_omitted() -> None:
    assert m.decode(raw_frame("audio.tick", stream_id="s", write_index=5)) == m.AudioTick("s", 5)
    assert m.decode(raw_frame("audio.tick", stream_id="s", write_index=5, sample_rate_hz=None)) == (
        m.AudioTick("s", 5)
    )


def test_float_fields_accept_ints_and_come_back_as_float() -> None:
    message = m.decode(
        raw_frame("event.speech", stream_id="s", segment_id=0, event="ended", time_s=3)
    )
    assert message.time_s == 3.0 and type(message.time_s) is float


def test_not_bytes() -> None:
    rejected("not a frame", "not_bytes")
    rejected(None, "not_bytes")


def test_oversize() -> None:
    frame = m.encode(EXAMPLES["transcript.final"])
    error = rejected(frame, "oversize", max_frame_bytes=len(frame) - 1)
    assert str(len(frame)) in str(error)
    assert m.decode(frame, max_frame_bytes=len(frame)) == EXAMPLES["transcript.final"]
    with pytest.raises(m.FrameRejected) as info:
        m.encode(EXAMPLES["transcript.final"], max_frame_bytes=len(frame) - 1)
    assert info.value.reason == "oversize"


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\xc1",  # never-used byte
        m.encode(FINAL)[:-3],  # truncated
        m.encode(FINAL) + b"\x00",  # trailing bytes
        b"\x91" * 5000,  # nested deeper than msgpack's stack
        b"\xa2\xff\xfe",  # invalid UTF-8 in a str
        b"\xd6\xff\x00\x00\x00\x01",  # timestamp extension
        b"\xc7\x00\x05",  # empty extension
        b"\x81\x01\x02",  # int map key
        b"\xdd\xff\xff\xff\xff",  # array claiming 4 G items
    ],
)
def test_garbage(frame: bytes) -> None:
    rejected(frame, "garbage")


@pytest.mark.parametrize("value", [[1, 2], 7, "speech.started", None, b"x"])
def test_not_a_map(value: Any) -> None:
    rejected(msgpack.packb(value, use_bin_type=True), "not_a_map")


@pytest.mark.parametrize("version", [None, 0, 2, True, "1", 1.0])
def test_wrong_version(version: Any) -> None:
    body = body_of(EXAMPLES["speech.started"])
    if version is None:
        del body["v"]
    else:
        body["v"] = version
    rejected(msgpack.packb(body), "version")


@pytest.mark.parametrize("kind", [None, "", "speech.startedx", 5, ["speech.started"], "x" * 500])
def test_unknown_kind(kind: Any) -> None:
    body = body_of(EXAMPLES["speech.started"])
    if kind is None:
        del body["kind"]
    else:
        body["kind"] = kind
    error = rejected(msgpack.packb(body), "unknown_kind")
    assert len(str(error)) < 200


def test_missing_field() -> None:
    error = rejected(raw_frame(stream_id="mic", segment_id=0), "missing_field")
    assert "start_index" in str(error)
    body = body_of(FINAL)
    del body["words"][1]["probability"]
    assert "words[1]" in str(rejected(msgpack.packb(body), "missing_field"))


def test_unknown_field() -> None:
    error = rejected(
        raw_frame(stream_id="m", segment_id=0, start_index=0, extra=1), "unknown_field"
    )
    assert "extra" in str(error)
    body = body_of(FINAL)
    body["words"][0]["confidence"] = 1.0
    rejected(msgpack.packb(body), "unknown_field")


@pytest.mark.parametrize(
    ("kind", "name", "value"),
    [
        ("speech.started", "segment_id", True),  # a bool is not an int
        ("speech.started", "start_index", 1.0),  # a float is not an int
        ("speech.started", "stream_id", b"mic"),  # bytes are not str
        ("speech.started", "stream_id", 5),
        ("speech.ended", "split", 1),  # an int is not a bool
        ("event.speech", "time_s", "3.0"),
        ("event.speech", "time_s", True),
        ("transcript.final", "words", "hello"),
        ("transcript.final", "words", [["0", 1, "x", 0.5]]),  # a word must be a map
        ("transcript.final", "words", [{"start_s": 0, "end_s": 1, "text": 3, "probability": 1}]),
        ("work.result", "details", {"x": "y"}),
        ("work.result", "details", [1.0]),
        ("worker.ready", "capabilities", [1]),
        ("metrics", "values", [1, 2]),
        ("control.replay_reply", "finals", [1]),
        ("audio.tick", "sample_rate_hz", 16000.0),
        ("event.speech", "event", ["started"]),  # unhashable where a choice is expected
        ("capture.event", "event", {"x": 1}),
    ],
)
def test_wrong_field_type(kind: str, name: str, value: Any) -> None:
    body = body_of(EXAMPLES[kind])
    body[name] = value
    error = rejected(msgpack.packb(body, use_bin_type=True), "field_type")
    assert name in str(error)


@pytest.mark.parametrize(
    ("kind", "changes", "needle"),
    [
        ("speech.started", {"start_index": -1}, "start_index"),
        ("speech.ended", {"start_index": 100, "end_index": 99}, "end_index"),
        ("speech.ongoing", {"current_index": 0}, "current_index"),
        ("work.transcribe", {"chunk_index": 3, "chunk_count": 3}, "chunk_index"),
        ("work.transcribe", {"chunk_count": 0}, "chunk_count"),
        ("transcript.final", {"end_s": 1.0}, "end_s"),
        ("transcript.final", {"latency_ms": float("nan")}, "latency_ms"),
        ("transcript.final", {"start_s": float("inf"), "end_s": float("inf")}, "start_s"),
        ("vad.stats", {"mean_speech_probability": 1.5}, "mean_speech_probability"),
        ("capture.event", {"event": "exploded"}, "event"),
        ("event.speech", {"event": "Started"}, "event"),
        ("heartbeat", {"pid": 0}, "pid"),
        ("ring.overrun", {"oldest_index": 50}, "oldest_index"),
    ],
)
def test_field_value_out_of_range(kind: str, changes: dict[str, Any], needle: str) -> None:
    body = body_of(EXAMPLES[kind])
    body.update(changes)
    error = rejected(msgpack.packb(body), "field_value")
    assert needle in str(error)


def test_free_form_payload_limits() -> None:
    deep: Any = 1
    for _ in range(20):
        deep = [deep]
    body = body_of(EXAMPLES["metrics"])
    body["values"] = {"deep": deep}
    assert "deeper" in str(rejected(msgpack.packb(body), "field_value"))
    body["values"] = {"many": list(range(20_000))}
    assert "values" in str(rejected(msgpack.packb(body), "field_value"))
    body["values"] = {"ok": {"a": [1, 2.5, None, "x", b"y", {"b": False}]}}
    assert m.decode(msgpack.packb(body, use_bin_type=True)).values == body["values"]


def test_construction_failure_is_reported_as_invalid() -> None:
    @dataclass(frozen=True)
    class Picky(m.Message):
        kind: ClassVar[str] = "test.picky"
        n: int

        def __post_init__(self) -> None:
            if self.n == 13:
                raise ValueError("unlucky")

    with pytest.raises(m.FrameRejected) as info:
        _build(Picky, {"n": 13})
    assert info.value.reason == "invalid" and "unlucky" in str(info.value)
    assert _build(Picky, {"n": 12}) == Picky(12)


def test_encode_refuses_what_decode_would_reject() -> None:
    with pytest.raises(m.FrameRejected) as info:
        m.encode(m.SpeechEnded("mic", 0, 100, 50))
    assert info.value.reason == "field_value"
    with pytest.raises(m.FrameRejected):
        m.encode(m.SpeechStarted("mic", True, 0))  # type: ignore[arg-type]

    @dataclass(frozen=True)
    class Unregistered(m.Message):
        kind: ClassVar[str] = "test.unregistered"

    with pytest.raises(m.FrameRejected) as info:
        m.encode(Unregistered())
    assert info.value.reason == "unknown_kind"


def test_register_refuses_bad_classes() -> None:
    @dataclass
    class NotFrozen(m.Message):
        kind: ClassVar[str] = "test.not_frozen"

    @dataclass(frozen=True)
    class BadKind(m.Message):
        kind: ClassVar[str] = "Bad Kind"

    @dataclass(frozen=True)
    class Duplicate(m.Message):
        kind: ClassVar[str] = "speech.started"

    @dataclass(frozen=True)
    class Reserved(m.Message):
        kind: ClassVar[str] = "test.reserved"
        v: int

    @dataclass(frozen=True)
    class BadHint(m.Message):
        kind: ClassVar[str] = "test.bad_hint"
        things: set[int]

    @dataclass(frozen=True)
    class BadRef(m.Message):
        kind: ClassVar[str] = "test.bad_ref"
        end: Annotated[int, Min(0), m.base.AtLeast("start")]

    for cls in (NotFrozen, BadKind, Duplicate, Reserved, BadHint, BadRef):
        with pytest.raises(TypeError):
            register(cls)
    assert not any(k.startswith("test.") for k in m.REGISTRY)
    assert m.REGISTRY["speech.started"] is m.SpeechStarted


def test_messages_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        EXAMPLES["audio.tick"].write_index = 1  # type: ignore[misc]
