"""bench/chaos.py's accounting, pure logic: runs told apart by run_id, a SIGKILLed run's cutoff at
its last published final, words lost at a shutdown, the loop p99 found in status."""

from __future__ import annotations

from types import SimpleNamespace

from bench.soak_parts.chaos_accounting import account_runs, loop_p99_of, words_lost_at
from bench.soak_parts.expected import ExpectedSegment, FinalRow, LoopTemplate

RATE = 16_000
# a 10 s loop with segments at 1-3 s and 5-8 s
TEMPLATE = LoopTemplate(
    loop_samples=10 * RATE,
    first=((1 * RATE, 3 * RATE), (5 * RATE, 8 * RATE)),
    typical=((1 * RATE, 3 * RATE), (5 * RATE, 8 * RATE)),
    counts=(2, 2),
    template_jitter_s=0.0,
)


def run(index: int, run_id: str, end: str, last_ended_s: float, **kw) -> SimpleNamespace:
    fields = {"open_at_term_s": None, "audio_at_term_s": None, "exit_code": 0}
    return SimpleNamespace(
        index=index, run_id=run_id, end_reason=end, last_ended_s=last_ended_s, **(fields | kw)
    )


def rows(*spans: tuple[int, float, float]) -> list[FinalRow]:
    return [FinalRow(seq, seq, start, end, False) for seq, start, end in spans]


def test_killed_run_loses_nothing_it_never_published_but_a_hole_counts() -> None:
    killed = run(0, "a", "kill:supervisor", last_ended_s=28.0)
    later = run(1, "b", "final", last_ended_s=18.0)
    journal = rows((0, 1, 3), (1, 5, 8), (2, 15, 18), (3, 1, 3), (4, 5, 8), (5, 11, 13))
    ids = {0: "a", 1: "a", 2: "a", 3: "b", 4: "b", 5: "b"}  # run b missed 15-18
    words = {seq: (r.start_s, [r.start_s + 0.5]) for seq, r in enumerate(journal)}
    result = account_runs([killed, later], TEMPLATE, journal, ids, journal, ids, words, 0.5)
    head = result["headline"]
    # run a: 11-13 is a hole before its last final (lost), 21-23 and 25-28 were cut by the kill
    per_run = {r["run"]: r for r in result["per_run"]}
    assert per_run[0]["lost_journal"] == 1 and per_run[0]["segments_cut_by_supervisor_kill"] == 2
    assert per_run[1]["lost_journal"] == 1 and per_run[0]["cutoff_s"] == 18.0
    assert head["finals_lost"] == 2 and head["finals_duplicated"] == 0


def test_words_lost_at_a_shutdown_compare_with_other_loops() -> None:
    expected = [ExpectedSegment(5.0 + 10 * k, 8.0 + 10 * k, k, 1) for k in range(3)]
    words = {
        0: (5.0, [5.5, 6.0, 6.5, 7.0, 7.5]),  # loops 1 and 2 of the same segment, 5 words
        1: (15.0, [15.5, 16.0, 16.5, 17.0, 17.5]),
        2: (25.0, [25.5]),  # the shutdown final: 1 word
    }
    positions = {0: (True, 1), 1: (False, 1), 2: (False, 1)}
    stopped = run(0, "a", "term:supervisor", 20.0, open_at_term_s=25.0, audio_at_term_s=26.9)
    own = rows((2, 25.0, 26.6))
    # 1.6 s into the segment (26.9 - 0.3 lag): 3 words (5.5, 6.0, 6.5) in the loop-1 reference
    assert words_lost_at(stopped, expected, own, {1: (False, 1), 2: (False, 1)}, words, 0.5) == 2
    no_final = {0: (True, 1), 1: (False, 1)}
    assert words_lost_at(stopped, expected, [], no_final, words, 0.5) == 3  # no final at all
    between = run(0, "a", "term:supervisor", 20.0)
    assert words_lost_at(between, expected, own, positions, words, 0.5) is None


def test_words_lost_at_a_shutdown_are_exact_with_the_vad_read_position() -> None:
    """With the VAD's read position at the signal (from the daemon's log), the cut is that
    position, and every final of the run from the segment's start on counts (committed parts)."""
    expected = [ExpectedSegment(5.0 + 10 * k, 8.0 + 10 * k, k, 1) for k in range(3)]
    words = {
        0: (5.0, [5.5, 6.0, 6.5, 7.0, 7.5]),  # references: loops 0 and 1, 5 words each
        1: (15.0, [15.5, 16.0, 16.5, 17.0, 17.5]),
        2: (25.0, [25.5]),  # the run's shutdown final in two parts: 25.5, then 26.0 and 26.4
        3: (25.8, [26.0, 26.4]),
    }
    positions = {0: (True, 1), 1: (False, 1), 2: (False, 1)}
    own = rows((2, 25.0, 25.8))
    # the VAD had read to 26.6 (capture was at 28.0): 1.6 s in, 3 words (5.5, 6.0, 6.5) expected
    stopped = run(
        0,
        "a",
        "term:supervisor",
        20.0,
        open_at_term_s=25.0,
        audio_at_term_s=28.0,
        vad_read_at_term_s=26.6,
    )
    assert words_lost_at(stopped, expected, own, positions, words, 0.5, {2, 3}) == 0
    assert words_lost_at(stopped, expected, own, positions, words, 0.5, {2}) == 2
    # the VAD far behind capture: words it never read are not counted as lost
    behind = run(
        0,
        "a",
        "term:supervisor",
        20.0,
        open_at_term_s=25.0,
        audio_at_term_s=28.0,
        vad_read_at_term_s=25.2,
    )
    assert words_lost_at(behind, expected, [], positions, words, 0.5, set()) == 0


def test_loop_p99_is_found_where_status_reports_it() -> None:
    assert loop_p99_of({"metrics": {"loop": {"p50_ms": 1.0, "p99_ms": 12.5}}}) == 12.5
    assert loop_p99_of({"metrics": {"latency_p99_ms": 3.0}}) is None
