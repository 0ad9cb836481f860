"""daemon_e2e's end-decision latency (``latency.decision_latencies``): the closing final of each
segment, from wall clocks outside the daemon; parts committed while speech went on left out."""

from __future__ import annotations

import pytest

from bench.e2e_parts.latency import decision_latencies

ORIGIN = 1000.0


def final(seq: int, segment_id: int, start_s: float, end_s: float, latency_ms: float) -> dict:
    return {
        "seq": seq,
        "segment_id": segment_id,
        "stream_id": "main",
        "start_s": start_s,
        "end_s": end_s,
        "text": "x",
        "latency_ms": latency_ms,
    }


def test_closing_finals_only_measured_from_their_end_audio() -> None:
    finals = [
        final(1, 0, 0.0, 1.5, 0.0),  # a part committed while speech went on
        final(2, 0, 1.5, 3.0, 0.0),  # segment 0's closing final, ready at the decision
        final(3, 1, 4.0, 6.0, 180.0),  # decoded after the decision
    ]
    received = {1: ORIGIN + 2.0, 2: ORIGIN + 3.012, 3: ORIGIN + 6.25}
    found = decision_latencies(finals, received, ORIGIN)
    assert found.values_ms == pytest.approx([12.0, 250.0])  # IPC and publish, not a clamp to 0
    assert found.journal_ms == [0.0, 180.0]
    assert found.ready_at_decision == 1
    assert found.parts == 1


def test_a_final_never_received_is_not_counted() -> None:
    found = decision_latencies([final(1, 0, 0.0, 1.0, 5.0)], {}, ORIGIN)
    assert found.values_ms == [] and found.journal_ms == [5.0] and found.parts == 0
