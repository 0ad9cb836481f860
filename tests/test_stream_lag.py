"""``transcript_lag_s``: written audio that no final covers yet."""

from __future__ import annotations

from workers.stream_lag import transcript_lag_s

SR = 16_000


def test_lag_counts_from_the_oldest_segment_without_a_final_else_the_vad() -> None:
    assert transcript_lag_s(10 * SR, 10 * SR, []) == 0.0  # silence, the VAD caught up
    assert transcript_lag_s(10 * SR, 9 * SR, []) == 1.0  # the VAD one second behind
    assert transcript_lag_s(10 * SR, 10 * SR, [7 * SR, 4 * SR]) == 6.0  # speech since 4 s
    assert transcript_lag_s(10 * SR, 10 * SR, [9 * SR]) == 1.0  # a commit moved it to 9 s
    assert transcript_lag_s(5 * SR, 6 * SR, []) == 0.0  # never negative
