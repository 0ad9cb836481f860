"""FinalsJournal: lines, rotation bounds, replay across files, recovery, numbering on reopen;
sync modes, seqs never reused after a lost tail, private files under umask 022."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from pipeline.journal import SEQ_RESERVE_BLOCK, FinalsJournal, JournalError
from pipeline.messages import DEFAULT_MAX_FRAME_BYTES, ReplayRequest, TranscriptFinal, encode
from pipeline.words import Word

DEFAULT_FILE_NAME = "t.finals.jsonl"


def make_final(seq: int, words: int = 4, text: str = "") -> TranscriptFinal:
    start_s = seq * 1.5
    word_list = tuple(
        Word(start_s + 0.25 * i, start_s + 0.25 * i + 0.2, f" w{i}", 0.5 + i / (2 * words))
        for i in range(words)
    )
    return TranscriptFinal(
        stream_id="mic",
        segment_id=seq + 7,
        seq=seq,
        start_s=start_s,
        end_s=start_s + 0.25 * words + 0.1,
        text=text or f"final number {seq} ünïcode",
        words=word_list,
        backend="whisper",
        model="tiny.en",
        latency_ms=123.25,
    )


def fill(journal: FinalsJournal, count: int, **kwargs) -> list[TranscriptFinal]:
    finals = []
    for _ in range(count):
        final = make_final(journal.next_seq, **kwargs)
        journal.append(final)
        finals.append(final)
    return finals


def seqs(finals: list[TranscriptFinal]) -> list[int]:
    return [f.seq for f in finals]


def test_round_trip_lines_hold_every_field(tmp_path: Path) -> None:
    path = tmp_path / DEFAULT_FILE_NAME
    with FinalsJournal.open(path, 1 << 20, 2) as journal:
        written = fill(journal, 5)
        assert journal.next_seq == 5 and journal.last_seq == 4
        finals, next_seq = journal.replay(0, 100)
        assert finals == written and next_seq == 5
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["kind"] == "journal.mark" and lines[0]["next_seq"] == 0
    first = lines[1]
    assert first["kind"] == "transcript.final"
    assert first["seq"] == 0 and first["text"] == "final number 0 ünïcode"
    assert first["words"][1] == {
        "start_s": 0.25,
        "end_s": 0.45,
        "text": " w1",
        "probability": 0.625,
    }
    assert set(first) >= {"stream_id", "segment_id", "start_s", "end_s", "backend", "model"}
    with FinalsJournal.open(path, 1 << 20, 2, tail_size=1) as reopened:  # read back from the file
        assert reopened.replay(0, 100) == (written, 5)


def test_append_refuses_a_seq_out_of_turn(tmp_path: Path) -> None:
    with FinalsJournal.open(tmp_path / "j.jsonl", 1 << 20, 1) as journal:
        journal.append(make_final(0))
        with pytest.raises(ValueError, match="next seq 1"):
            journal.append(make_final(2))


def test_rotation_bounds_files_and_total_size(tmp_path: Path) -> None:
    max_bytes, keep = 4000, 3
    path = tmp_path / DEFAULT_FILE_NAME
    with FinalsJournal.open(path, max_bytes, keep) as journal:
        longest = max(len(encode(f)) for f in fill(journal, 400)) * 2  # a JSON line, generously
        files = journal.files()
        assert [p.name for p in files] == [f"{DEFAULT_FILE_NAME}.{i}" for i in (3, 2, 1)] + [
            DEFAULT_FILE_NAME
        ]
        sizes = [p.stat().st_size for p in files]
        assert all(size <= max_bytes for size in sizes), sizes
        assert sum(sizes) <= (keep + 1) * max_bytes + longest
        assert journal.rotations > keep
        assert not (tmp_path / f"{DEFAULT_FILE_NAME}.4").exists()
        # each file starts with a mark saying where it starts
        for p in files:
            first = json.loads(p.read_text().splitlines()[0])
            assert first["kind"] == "journal.mark"


def test_replay_across_rotated_files_and_max_count(tmp_path: Path) -> None:
    with FinalsJournal.open(tmp_path / "f.jsonl", 4000, 5, tail_size=10) as journal:
        fill(journal, 200)
        oldest = journal.replay(0, 1)[0][0].seq
        assert oldest > 0  # the first finals were rotated away
        finals, next_seq = journal.replay(0, 1000)
        assert seqs(finals) == list(range(oldest, 200)) and next_seq == 200
        # from the middle of a rotated file, cut by max_count: next_seq says where to go on
        since = oldest + 2
        count = 200 - since - 5  # stops short of the newest finals, whatever a final's size
        finals, next_seq = journal.replay(since, count)
        assert seqs(finals) == list(range(since, since + count)) and next_seq == since + count
        # a range that runs from the files into the in-memory tail
        finals, next_seq = journal.replay(185, 100)
        assert seqs(finals) == list(range(185, 200)) and next_seq == 200
        assert journal.replay(200, 10) == ([], 200)
        assert journal.replay(10_000, 10) == ([], 200)
        assert journal.corrupt_lines == 0


def test_answer_cuts_a_reply_to_the_frame_limit(tmp_path: Path) -> None:
    with FinalsJournal.open(tmp_path / "f.jsonl", 1 << 22, 1) as journal:
        fill(journal, 300, words=40)
        reply = journal.answer(ReplayRequest(since_seq=0, max_count=300), max_frame_bytes=64_000)
        assert 0 < len(reply.finals) < 300
        assert len(encode(reply)) <= 64_000
        assert reply.next_seq == reply.finals[-1].seq + 1
        full = journal.answer(ReplayRequest(since_seq=290, max_count=300))
        assert seqs(list(full.finals)) == list(range(290, 300)) and full.next_seq == 300
        assert len(encode(full)) <= DEFAULT_MAX_FRAME_BYTES


def test_numbering_continues_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / DEFAULT_FILE_NAME
    with FinalsJournal.open(path, 2500, 2) as first_run:
        fill(first_run, 30)
    with FinalsJournal.open(path, 2500, 2) as second_run:
        assert second_run.next_seq == 30 and second_run.last_seq == 29
        fill(second_run, 30)
        finals, next_seq = second_run.replay(0, 1000)
        assert seqs(finals) == list(range(finals[0].seq, 60)) and next_seq == 60
        assert first_run.run_id != second_run.run_id


def test_numbering_survives_a_rotation_that_keeps_no_final(tmp_path: Path) -> None:
    path = tmp_path / DEFAULT_FILE_NAME
    with FinalsJournal.open(path, 1500, 0) as journal:
        fill(journal, 40)
        assert journal.files() == [path]
    mark = path.read_text().splitlines(keepends=True)[0]
    rotated_at = json.loads(mark)["next_seq"]
    assert rotated_at > 30
    path.write_text(mark)  # as if the daemon died just after a rotation: only the mark is left
    (tmp_path / (DEFAULT_FILE_NAME + ".seq")).unlink()  # and no high-water file either
    with FinalsJournal.open(path, 1500, 0) as reopened:
        assert reopened.next_seq == rotated_at
        # nothing held: a subscriber counts the finals before rotated_at as lost
        assert reopened.replay(0, 10) == ([], rotated_at)


def test_a_fresh_journal_starts_at_zero(tmp_path: Path) -> None:
    with FinalsJournal.open(tmp_path / "new" / "f.jsonl", 1000, 1) as journal:
        assert journal.next_seq == 0 and journal.last_seq is None
        assert journal.replay(0, 5) == ([], 0)


def test_truncated_last_line_is_cut_and_numbering_recovers(tmp_path: Path, caplog) -> None:
    path = tmp_path / DEFAULT_FILE_NAME
    with FinalsJournal.open(path, 1 << 20, 1) as journal:
        written = fill(journal, 10)
    whole = path.read_bytes()
    path.write_bytes(whole[: whole.rindex(b"\n", 0, len(whole) - 1) + 20])  # seq 9 torn mid-line
    caplog.set_level(logging.WARNING, logger="pipeline.journal")
    with FinalsJournal.open(path, 1 << 20, 1, tail_size=1) as journal:
        assert "torn last line" in caplog.text
        # seq 9 was published (the close recorded it): it is never given to other words
        assert journal.next_seq == 10
        fill(journal, 3)
        finals, next_seq = journal.replay(0, 100)
        assert finals[:9] == written[:9] and seqs(finals) == [*range(9), 10, 11, 12]
        assert next_seq == 13 and journal.corrupt_lines == 0


def test_a_whole_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / DEFAULT_FILE_NAME
    with FinalsJournal.open(path, 1 << 20, 1) as journal:
        fill(journal, 3)
    path.write_bytes(path.read_bytes()[:-1])  # the crash came between the line and its newline
    with FinalsJournal.open(path, 1 << 20, 1) as journal:
        assert journal.next_seq == 3
        fill(journal, 1)
        assert seqs(journal.replay(0, 10)[0]) == [0, 1, 2, 3]


def test_damaged_lines_in_the_middle_are_skipped_with_a_warning(tmp_path: Path, caplog) -> None:
    path = tmp_path / DEFAULT_FILE_NAME
    with FinalsJournal.open(path, 1 << 20, 1) as journal:
        fill(journal, 6)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[3] = b'{"kind": "transcript.final", "v": 1, "seq": "two"}\n'  # seq 2: wrong type
    lines[4] = b"\x00\xff garbage\n"  # seq 3
    lines.append(b'{"kind": "journal.future_thing", "v": 1}\n')  # unknown kinds are passed over
    path.write_bytes(b"".join(lines))
    caplog.set_level(logging.WARNING, logger="pipeline.journal")
    with FinalsJournal.open(path, 1 << 20, 1, tail_size=1) as journal:
        assert journal.next_seq == 6
        finals, next_seq = journal.replay(0, 100)
        assert seqs(finals) == [0, 1, 4, 5] and next_seq == 6
        assert journal.corrupt_lines == 2
    assert caplog.text.count("skipped a damaged line") == 2


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / DEFAULT_FILE_NAME
    with FinalsJournal.open(path, 1 << 20, 1), pytest.raises(JournalError, match="in use"):
        FinalsJournal.open(path, 1 << 20, 1)
    FinalsJournal.open(path, 1 << 20, 1).close()  # free again once closed


def test_memory_tail_is_bounded(tmp_path: Path) -> None:
    with FinalsJournal.open(tmp_path / "f.jsonl", 1 << 22, 1, tail_size=50) as journal:
        fill(journal, 500)
        assert len(journal._tail) == 50
        finals, _ = journal.replay(100, 500)
        assert seqs(finals) == list(range(100, 500))


def test_from_outputs_is_the_instance_journal_in_the_runtime_dir(tmp_path: Path) -> None:
    from config.schema import OutputsConfig

    outputs = OutputsConfig(journal_max_mb=0.5, journal_keep=4, journal_sync="rotate")
    with FinalsJournal.from_outputs(outputs, tmp_path, "inst") as journal:
        assert journal.path == tmp_path / "inst.finals.jsonl"
        assert journal.max_bytes == 500_000 and journal.keep_files == 4
        assert journal.sync == "rotate"
        with pytest.raises(JournalError, match="in use"):
            FinalsJournal.from_outputs(outputs, tmp_path, "inst")
        fill(journal, 3)
        # read-only, while it is locked: a bound (the reserved block) until the close
        assert FinalsJournal.peek_next_seq(journal.path) == SEQ_RESERVE_BLOCK
    assert FinalsJournal.peek_next_seq(journal.path) == 3
    with pytest.raises(ValueError, match="sync 'always'"):
        FinalsJournal.open(tmp_path / "x.jsonl", 1000, 1, sync="always")


def test_a_journal_that_cannot_be_created_is_a_clear_error_naming_the_path(tmp_path: Path) -> None:
    """At the start this is a configuration error (the daemon exits 2 with this line), not a
    degraded journal: see the module docstring of pipeline.journal."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(JournalError, match=f"journal directory {blocker}: .*[Nn]ot a directory"):
        FinalsJournal.open(blocker / "x.finals.jsonl", 1 << 20, 1)


def test_the_daemon_start_fails_with_one_line_when_its_journal_cannot_be_created(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    from tests.data_paths import DATA_DIR, REPO_ROOT

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "run.py"),
            "daemon",
            "--source",
            f"file:{DATA_DIR / 'dictation_dev.wav'}",
            "--set",
            f"outputs.runtime_dir={tmp_path / 'rt'}",
            "--set",
            f"outputs.journal_path={blocker / 'j.finals.jsonl'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: cannot create the journal directory {blocker}: "
        f"[Errno 20] not a directory: '{blocker}'"
    ], result.stderr
    assert "Traceback" not in result.stderr
