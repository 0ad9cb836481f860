"""The journal's seq -> (file, offset) index: a replay reads only the lines it returns, a reply
is filled to the frame limit, and the index follows rotations, reopen and outside edits."""

from __future__ import annotations

from pathlib import Path

from pipeline.journal import FinalsJournal
from pipeline.journal_index import scan
from pipeline.messages import ReplayRequest, encode
from tests.test_journal import fill, make_final, seqs


def damage_line_of(path: Path, seq: int) -> None:
    """Overwrite (same length) the line of final ``seq`` with garbage."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    key = f'"seq":{seq},'.encode()
    at = next(i for i, line in enumerate(lines) if key in line and b"transcript.final" in line)
    lines[at] = b"#" * len(lines[at])
    path.write_bytes(b"\n".join(lines))


def test_replay_reads_only_the_lines_it_returns(tmp_path: Path) -> None:
    path = tmp_path / "f.finals.jsonl"
    with FinalsJournal.open(path, 1 << 22, 1) as journal:
        fill(journal, 60, words=20)
    damage_line_of(path, 5)  # before the range asked for
    damage_line_of(path, 50)  # after the cut
    with FinalsJournal.open(path, 1 << 22, 1) as reopened:  # empty tail: all from the file
        finals, next_seq = reopened.replay(20, 10)
        assert seqs(finals) == list(range(20, 30)) and next_seq == 30
        assert reopened.corrupt_lines == 0  # neither damaged line was read
        reply = reopened.answer(ReplayRequest(since_seq=10, max_count=20))
        assert seqs(list(reply.finals)) == list(range(10, 30)) and reply.next_seq == 30
        assert reopened.corrupt_lines == 0
        finals, _ = reopened.replay(0, 100)  # the whole file: both are skipped and counted
        assert 5 not in seqs(finals) and 50 not in seqs(finals) and len(finals) == 58
        assert reopened.corrupt_lines == 2


def test_answer_fills_the_frame_and_stops_reading_there(tmp_path: Path) -> None:
    path = tmp_path / "f.finals.jsonl"
    limit = 64_000
    with FinalsJournal.open(path, 1 << 22, 1, tail_size=50) as journal:
        fill(journal, 300, words=40)
        one = len(encode(make_final(0, words=40)))
        reply = journal.answer(ReplayRequest(since_seq=0, max_count=100_000), max_frame_bytes=limit)
        size = len(encode(reply))
        assert size <= limit
        assert size > limit * (1 - 1 / 64) - 2 * one  # filled, not halved
        assert seqs(list(reply.finals)) == list(range(len(reply.finals)))
        assert reply.next_seq == len(reply.finals)
        # from the in-memory tail, the same rule
        tail = journal.answer(
            ReplayRequest(since_seq=250, max_count=100_000), max_frame_bytes=limit
        )
        assert len(encode(tail)) <= limit and tail.finals[0].seq == 250
    damage_line_of(path, 250)  # far past what one frame holds
    with FinalsJournal.open(path, 1 << 22, 1) as reopened:
        reply = reopened.answer(
            ReplayRequest(since_seq=0, max_count=100_000), max_frame_bytes=limit
        )
        assert len(reply.finals) > 0 and reopened.corrupt_lines == 0


def test_index_follows_rotations_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "f.finals.jsonl"
    with FinalsJournal.open(path, 6000, 3, tail_size=5) as journal:
        fill(journal, 120)
        assert journal.rotations > 3
        oldest = journal.replay(0, 1)[0][0].seq
        for since in (oldest, oldest + 13, 100, 117):
            finals, _ = journal.replay(since, 7)
            assert seqs(finals) == list(range(since, min(since + 7, 120)))
    with FinalsJournal.open(path, 6000, 3, tail_size=5) as reopened:
        fill(reopened, 30)
        finals, next_seq = reopened.replay(oldest + 40, 1000)
        assert seqs(finals) == list(range(oldest + 40, 150)) and next_seq == 150


def test_a_file_that_does_not_match_its_index_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "f.finals.jsonl"
    with FinalsJournal.open(path, 1 << 22, 1, tail_size=1) as journal:
        fill(journal, 20)
        # someone inserts bytes at the front behind the journal's back: every offset moves
        data = path.read_bytes()
        path.write_bytes(b"\n" * 37 + data)
        finals, next_seq = journal.replay(10, 5)
        assert seqs(finals) == list(range(10, 15)) and next_seq == 15
        assert journal._reader.index_misses == 1
        finals, _ = journal.replay(12, 3)  # re-indexed: found directly again
        assert seqs(finals) == [12, 13, 14] and journal._reader.index_misses == 1


def test_scan_finds_every_final_and_skips_marks_and_torn_lines(tmp_path: Path) -> None:
    path = tmp_path / "f.finals.jsonl"
    with FinalsJournal.open(path, 1 << 22, 1) as journal:
        fill(journal, 4, text='a "seq":99, quoted')
    with path.open("ab") as f:
        f.write(b'{"kind":"transcript.final","v":1,"stream_id":"x","segment_id":1,"seq":4')
    index = scan(path)
    assert list(index.seqs) == [0, 1, 2, 3]
    lines = path.read_bytes().split(b"\n")
    assert all(
        b'"seq":%d,' % s in path.read_bytes()[o:].split(b"\n")[0]
        for s, o in zip(index.seqs, index.offsets, strict=True)
    )
    assert lines[0].startswith(b'{"kind":"journal.mark"')
