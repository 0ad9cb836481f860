"""Loss is visible in the messages: a final's run id, status and lost range; the gap event."""

from __future__ import annotations

import msgpack
import pytest

from pipeline.messages import (
    FINAL_STATUSES,
    FrameRejected,
    GapEvent,
    TranscriptFinal,
    TranscriptPartial,
    decode,
    encode,
)

OLD_FINAL = {  # a final as written before run ids and statuses existed
    "stream_id": "main",
    "segment_id": 3,
    "seq": 7,
    "start_s": 1.0,
    "end_s": 2.5,
    "text": "hello",
    "words": [],
    "backend": "whisper",
    "model": "tiny.en",
    "latency_ms": 12.0,
}


def _frame(kind: str, fields: dict) -> bytes:
    return msgpack.packb({"kind": kind, "v": 1, **fields})


def test_a_final_without_the_new_fields_still_decodes_as_ok() -> None:
    final = decode(_frame("transcript.final", OLD_FINAL))
    assert isinstance(final, TranscriptFinal)
    assert (final.run_id, final.status, final.lost_start_s, final.lost_end_s) == ("", "ok", 0, 0)


def test_a_lost_final_round_trips_with_its_status_and_range() -> None:
    final = TranscriptFinal(
        **{**OLD_FINAL, "words": (), "text": ""},
        run_id="r1",
        status="audio_lost",
        lost_start_s=1.0,
        lost_end_s=2.5,
    )
    assert decode(encode(final)) == final
    assert set(FINAL_STATUSES) == {"ok", "audio_lost", "failed"}


@pytest.mark.parametrize(
    "change, reason",
    [({"status": "lost"}, "status"), ({"lost_start_s": 2.0, "lost_end_s": 1.0}, "lost_end_s")],
)
def test_a_bad_status_or_range_is_rejected(change: dict, reason: str) -> None:
    with pytest.raises(FrameRejected, match=reason):
        decode(_frame("transcript.final", {**OLD_FINAL, **change}))


def test_partials_carry_the_run_id() -> None:
    partial = TranscriptPartial("main", 1, 0, 0.0, 1.0, "a", "b", run_id="r2")
    assert decode(encode(partial)).run_id == "r2"


def test_the_gap_event_is_its_own_topic() -> None:
    gap = GapEvent(stream_id="main", start_s=10.0, end_s=12.5, reason="vad_resync", run_id="r")
    assert gap.kind == "event.gap"  # the PUB topic is the kind
    assert decode(encode(gap)) == gap
    with pytest.raises(FrameRejected, match="end_s"):
        decode(_frame("event.gap", {"stream_id": "m", "start_s": 2.0, "end_s": 1.0, "reason": "x"}))
