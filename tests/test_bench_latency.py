"""The bench's latency matching: utterance ends against the finals that hold their last words."""

from __future__ import annotations

import pytest

from bench.e2e_parts.latency import (
    ArrivedFinal,
    RefUtterance,
    align,
    first_partial_latencies,
    summary,
    utterance_latencies,
)

ORIGIN = 1000.0
UTTERANCES = [
    RefUtterance("Good morning, please open a new note.", 1.0, 3.0),
    RefUtterance("Yes.", 5.0, 5.4),
    RefUtterance("The fix will ship on Thursday afternoon.", 7.0, 10.0),
]


def final(seq: int, text: str, start_s: float, end_s: float, arrival_s: float) -> ArrivedFinal:
    return ArrivedFinal(seq, text, start_s, end_s, ORIGIN + arrival_s)


def test_align_maps_substitutions_and_skips_deletions() -> None:
    mapping = align(["a", "b", "c", "d"], ["a", "x", "d"])
    assert mapping[0] == 0 and mapping[3] == 2
    assert mapping[1] == 1  # substituted b -> x
    assert mapping[2] is None  # deleted


def test_one_final_per_utterance_at_pauses() -> None:
    finals = [
        final(0, "Good morning, please open a new note.", 0.7, 3.6, 3.9),
        final(1, "Yes.", 4.7, 6.0, 6.2),
        final(2, "The fix will ship on Thursday afternoon.", 6.7, 10.6, 10.8),
    ]
    results = utterance_latencies(UTTERANCES, finals, ORIGIN)
    assert [r.latency_ms for r in results] == [900.0, 800.0, 800.0]
    assert [r.final_seq for r in results] == [0, 1, 2]
    assert {r.method for r in results} == {"last_word"}


def test_commit_mid_utterance_uses_the_final_holding_the_last_word() -> None:
    # the third utterance committed in two parts; an earlier part must not count as its end
    finals = [
        final(0, "Good morning please open a new note. Yes.", 0.7, 6.0, 6.3),
        final(1, "The fix will ship", 6.7, 8.5, 9.2),
        final(2, "on Thursday afternoon.", 8.5, 10.6, 10.5),
    ]
    results = utterance_latencies(UTTERANCES, finals, ORIGIN)
    assert results[0].latency_ms == 3300.0  # merged with "Yes.": its text waited for it
    assert results[1].latency_ms == pytest.approx(900.0)
    assert results[2].final_seq == 2 and results[2].latency_ms == 500.0


def test_misrecognised_last_word_and_missed_utterance() -> None:
    finals = [
        final(0, "Good morning, please open a new boat.", 0.7, 3.6, 4.0),
        final(1, "The fix will ship on Thursday afternoon.", 6.7, 10.6, 11.0),
    ]
    results = utterance_latencies(UTTERANCES, finals, ORIGIN)
    assert results[0].method == "last_word" and results[0].latency_ms == 1000.0
    assert results[1].method == "missed" and results[1].latency_ms is None
    assert results[2].latency_ms == 1000.0


def test_alignment_far_from_the_utterance_falls_back_to_time() -> None:
    # "yes" aligned to a final 20 s away is rejected; the final spanning its end is used
    utterances = [RefUtterance("Yes.", 5.0, 5.4)]
    finals = [final(0, "hmm", 4.8, 6.0, 6.5), final(1, "yes", 25.0, 26.0, 26.5)]
    (result,) = utterance_latencies(utterances, finals, ORIGIN)
    assert result.method == "time" and result.final_seq == 0


def test_first_partial_per_segment() -> None:
    partials = [(ORIGIN + 1.9, 0, 0.7), (ORIGIN + 2.5, 0, 0.7), (ORIGIN + 7.6, 2, 6.7)]
    assert first_partial_latencies(UTTERANCES, partials, ORIGIN) == [900.0, 600.0]


def test_summary_of_nothing_is_none_not_zero() -> None:
    assert summary([]) == {"p50": None, "p95": None, "count": 0}
    assert summary([3.0, 1.0, 2.0])["p50"] == 2.0
