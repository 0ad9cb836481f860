"""The accounting of ``bench/chaos.py``: expected segments per daemon run, against the journal
and the subscriber, and the words an utterance lost at a shutdown.

Each run starts the looped file from its beginning, so each run is accounted on its own
(``expected.account``, the soak's matching), its finals told apart by ``run_id``. The cutoff of a
run is its last announced speech end; for a run that died by SIGKILL (or exited by itself) it is
also at most the end of its last published final: what ended after that was only in the dead
supervisor's memory (``segments_cut_by_supervisor_kill``, reported, not a loss the daemon can
prevent).

Words lost at a shutdown: the utterance open at the signal should get a final with the words
the VAD had read (the daemon ends it there). The cut is exact: the daemon logs each stream's VAD
read position when the stop is requested ("VAD read at the stop: main 123.456 s", also
``status["stop_vad_read_s"]``; ``RunRecord.vad_read_at_term_s``). Other loops' finals of the same
segment (same position in the loop) say how many words end before that offset into the segment
(the median over them); the words of this run's finals (every final of the run from the
segment's start on, committed parts included) that end before the cut (plus ``WORD_END_SLACK_S``
for the model's timing) are counted against it, and the shortfall is the figure. Only a run
whose log has no such line (a daemon from before it existed) falls back to the old estimate: the
capture position at the signal less ``VAD_LAG_S``, or the run's own final's end if earlier
(``words_lost_exact`` false in its row). ``cut_behind_capture_s`` shows how far behind capture
the cut was.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.soak_parts.expected import (
    ExpectedSegment,
    FinalRow,
    LoopTemplate,
    _nearest,
    account,
)
from bench.soak_parts.ledger import cross_check

KILLED = ("kill:supervisor", "unexpected")
VAD_LAG_S = 0.3  # (estimate only) the VAD reads somewhat behind the capture position
WORD_END_SLACK_S = 0.5  # a word spoken before the cut may be stamped up to this much after it


def account_runs(
    runs: list[Any],
    template: LoopTemplate,
    journal_rows: list[FinalRow],
    journal_run_ids: dict[int, str],
    live_rows: list[FinalRow],
    live_run_ids: dict[int, str],
    words: dict[int, tuple[float, list[float]]],
    tolerance_s: float,
) -> dict[str, Any]:
    """Per-run accounting and the headline figures (see the module docstring)."""
    per_run = []
    positions: dict[int, tuple[bool, int]] = {}  # seq -> (first pass, index in the loop)
    expected_of: dict[int, list[ExpectedSegment]] = {}
    for run in runs:
        rows = _rows_of(journal_rows, journal_run_ids, run.run_id)
        horizon_s = max([run.last_ended_s] + [r.end_s for r in rows]) + template.loop_s
        expected = template.segments_until(horizon_s)
        expected_of[run.index] = expected
        starts = [s.start_s for s in expected]
        for row in rows:
            at = _nearest(starts, row.start_s)
            if at is not None and abs(starts[at] - row.start_s) <= tolerance_s:
                positions[row.seq] = (expected[at].loop == 0, expected[at].template_index)
    headline = {
        "finals_lost": 0,
        "finals_duplicated": 0,
        "words_lost_at_shutdown": 0,
        "segments_cut_by_supervisor_kill": 0,
        "expected_due": 0,
        "finals_journal": len(journal_rows),
        "finals_subscriber": len(live_rows),
        "out_of_order": 0,
    }
    for run in runs:
        expected = expected_of[run.index]
        in_journal = _rows_of(journal_rows, journal_run_ids, run.run_id)
        at_subscriber = _rows_of(live_rows, live_run_ids, run.run_id)
        cutoff_s = run.last_ended_s
        if run.end_reason in KILLED:
            cutoff_s = min(cutoff_s, max((r.end_s for r in in_journal), default=0.0))
        journal_acc = account(expected, in_journal, cutoff_s, tolerance_s)
        live_acc = account(expected, at_subscriber, cutoff_s, tolerance_s)
        cut = 0
        if run.end_reason in KILLED:
            cut = account(expected, in_journal, run.last_ended_s, tolerance_s)["lost"]
            cut -= journal_acc["lost"]
        run_seqs = {seq for seq, run_id in live_run_ids.items() if run_id == run.run_id}
        words_lost = words_lost_at(
            run, expected, in_journal, positions, words, tolerance_s, run_seqs
        )
        lost = max(journal_acc["lost"], live_acc["lost"])
        duplicated = max(journal_acc["duplicated"], live_acc["duplicated"])
        headline["finals_lost"] += lost
        headline["finals_duplicated"] += duplicated
        headline["words_lost_at_shutdown"] += words_lost or 0
        headline["segments_cut_by_supervisor_kill"] += cut
        headline["expected_due"] += journal_acc["expected_due"]
        headline["out_of_order"] += journal_acc["out_of_order"]
        per_run.append(
            {
                "run": run.index,
                "run_id": run.run_id,
                "end": run.end_reason,
                "exit_code": run.exit_code,
                "cutoff_s": round(cutoff_s, 2),
                "expected_due": journal_acc["expected_due"],
                "finals_journal": len(in_journal),
                "finals_subscriber": len(at_subscriber),
                "lost_journal": journal_acc["lost"],
                "lost_subscriber": live_acc["lost"],
                "duplicated_journal": journal_acc["duplicated"],
                "duplicated_subscriber": live_acc["duplicated"],
                "segments_cut_by_supervisor_kill": cut,
                "words_lost_at_shutdown": words_lost,
                "words_lost_exact": getattr(run, "vad_read_at_term_s", None) is not None,
                "vad_read_at_term_s": getattr(run, "vad_read_at_term_s", None),
                "open_at_term_s": run.open_at_term_s,
                "capture_at_term_s": run.audio_at_term_s,
                "cut_behind_capture_s": _behind(run, in_journal, tolerance_s),
                "lost_examples": journal_acc["lost_examples"][:5] or live_acc["lost_examples"][:5],
                "duplicated_examples": journal_acc["duplicated_examples"][:5]
                or live_acc["duplicated_examples"][:5],
            }
        )
    seqs = [row.seq for row in live_rows]
    headline["finals_duplicated"] += len(seqs) - len(set(seqs))  # one seq handed out twice
    return {
        "headline": headline,
        "per_run": per_run,
        "cross_check": cross_check(live_rows, journal_rows),
    }


def words_lost_at(
    run: Any,
    expected: list[ExpectedSegment],
    rows: list[FinalRow],
    positions: dict[int, tuple[bool, int]],
    words: dict[int, tuple[float, list[float]]],
    tolerance_s: float,
    run_seqs: set[int] | None = None,
) -> int | None:
    """Words of the utterance open at the run's SIGTERM/shutdown, spoken before the VAD's read
    position then, missing from the run's finals; None when no utterance was open (or nothing
    to compare with)."""
    open_s, audio_s = run.open_at_term_s, run.audio_at_term_s
    vad_s = getattr(run, "vad_read_at_term_s", None)
    if open_s is None or (audio_s is None and vad_s is None) or not expected:
        return None
    starts = [s.start_s for s in expected]
    at = _nearest(starts, open_s)
    if at is None:
        return None
    segment = expected[at]
    key = (segment.loop == 0, segment.template_index)
    own = next((r for r in rows if abs(r.start_s - segment.start_s) <= tolerance_s), None)
    if vad_s is not None:
        cut_s = vad_s  # exact: where the VAD had read when the stop came
    else:
        assert audio_s is not None
        cut_s = audio_s - VAD_LAG_S if own is None else min(audio_s - VAD_LAG_S, own.end_s)
    offset_s = cut_s - segment.start_s
    mine = set(run_seqs or ()) | ({own.seq} if own is not None else set())
    references = [
        sum(1 for end in words[seq][1] if end - words[seq][0] <= offset_s)
        for seq, position in positions.items()
        if position == key and seq in words and seq not in mine
    ]
    if not references:
        return None
    expected_words = int(statistics.median(references))
    if vad_s is None:
        got = len(words[own.seq][1]) if own is not None and own.seq in words else 0
    else:  # every final of the run from the segment's start on (committed parts too)
        got = sum(
            1
            for seq in mine
            if seq in words and words[seq][0] >= segment.start_s - tolerance_s
            for end in words[seq][1]
            if end <= cut_s + WORD_END_SLACK_S
        )
    return max(0, expected_words - got)


def _behind(run: Any, rows: list[FinalRow], tolerance_s: float) -> float | None:
    if run.open_at_term_s is None or run.audio_at_term_s is None:
        return None
    vad_s = getattr(run, "vad_read_at_term_s", None)
    if vad_s is not None:
        return round(run.audio_at_term_s - vad_s, 2)
    own = [r for r in rows if abs(r.start_s - run.open_at_term_s) <= tolerance_s]
    return round(run.audio_at_term_s - own[-1].end_s, 2) if own else None


def loop_p99_of(status: dict[str, Any]) -> float | None:
    """The supervisor's step latency p99 (ms) if status reports it (a key with ``p99`` under or
    naming ``loop``), else None."""

    def walk(node: Any, inside_loop: bool) -> float | None:
        if not isinstance(node, dict):
            return None
        for key, value in node.items():
            name = str(key).lower()
            loopish = inside_loop or "loop" in name
            if "p99" in name and loopish and isinstance(value, int | float):
                return float(value)
            found = walk(value, loopish)
            if found is not None:
                return found
        return None

    return walk(status, False)


def _rows_of(rows: list[FinalRow], run_ids: dict[int, str], run_id: str) -> list[FinalRow]:
    if not run_id:
        return []
    return [row for row in rows if run_ids.get(row.seq) == run_id]
