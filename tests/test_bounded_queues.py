"""A live source whose workers never load keeps its queues bounded: the oldest pending work is
dropped once the ring overwrites its audio, published as an ``event.gap`` (``queue_full``), and
each dropped segment gets its final with status ``audio_lost`` and the range (real daemon, real
capture/VAD/ring, a worker that always fails to load)."""

from __future__ import annotations

import time

import zmq

from pipeline.bus import open_socket, receive_message
from pipeline.messages import GapEvent, TranscriptFinal
from tests.test_escalation import FAST_BREAKER, HARVARD, SHORT_STOP, _run_with_load_fault


def test_a_live_source_nothing_serves_drops_the_oldest_work_as_gaps_and_lost_finals(
    tmp_path,
) -> None:
    run, _ = _run_with_load_fault(
        tmp_path,
        10_000,
        "--source",
        f"file:{HARVARD}",
        "--loop",
        "--pace",
        "realtime",
        "--workers",
        "1",
        "--set",
        "ring.capacity_s=8",
        "--set",
        "vad.max_segment_s=3",
        *FAST_BREAKER,
        *SHORT_STOP,
    )
    subscriber = open_socket(
        run.context,
        zmq.SUB,
        run.endpoint("transcript"),
        bind=False,
        subscribe=[b"event.gap", b"transcript.final"],
    )
    try:
        run.wait_for(lambda _: True, 60, "the daemon to answer status")
        gaps: list[GapEvent] = []
        finals: list[TranscriptFinal] = []
        pending_seen: list[int] = []
        deadline = time.monotonic() + 150
        next_status_s = 0.0
        while time.monotonic() < deadline and (len(gaps) < 3 or len(finals) < 3):
            received = receive_message(subscriber, timeout_ms=200)
            if received is not None and isinstance(received.message, GapEvent):
                gaps.append(received.message)
            elif received is not None and isinstance(received.message, TranscriptFinal):
                finals.append(received.message)
            if time.monotonic() >= next_status_s:
                next_status_s = time.monotonic() + 1.0
                status = run.status(timeout_s=5.0)
                assert status is not None, "status must keep answering"
                queue = status["metrics"]["queue"]
                pending_seen.append(queue["finals"] + queue["held"])
        assert len(gaps) >= 3 and len(finals) >= 3, run.log()[-4000:]
        status = run.status()
        stats = status["scheduler"]
        print(
            f"\nsegments started {stats['segments_started']}, dropped "
            f"{stats['segments_dropped']}, pending queue samples max {max(pending_seen)}"
        )
        assert {g.reason for g in gaps} == {"queue_full"}
        assert all(g.end_s > g.start_s for g in gaps)
        assert {f.status for f in finals} == {"audio_lost"}
        assert all(f.lost_end_s > f.lost_start_s >= 0 and not f.text for f in finals)
        # every dropped final lies inside a published gap
        assert all(
            any(g.start_s <= f.lost_start_s and f.lost_end_s <= g.end_s for g in gaps)
            for f in finals
        )
        # bounded: an 8 s ring holds a few segments' work, however long nothing serves it
        assert max(pending_seen) <= 8, pending_seen
        assert stats["segments_started"] - stats["finals_published"] <= 8, stats
        assert stats["segments_dropped"] >= 3
        assert status["metrics"]["health"]["state"] == "degraded"
        journal = run.journal()
        seqs = [f["seq"] for f in journal]
        assert len(journal) >= 3 and seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert {f["status"] for f in journal} == {"audio_lost"}
    finally:
        subscriber.close(linger=0)
        run.cleanup()
