"""The journal's durability on real files: sync modes, seqs never reused after a crash that lost
the unsynced tail, private files whatever the umask, and a full disk (a real tmpfs) that degrades
the journal without an exception and recovers when space returns."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.journal import SEQ_RESERVE_BLOCK, FinalsJournal
from tests.test_journal import fill, make_final, seqs

NAME = "t.finals.jsonl"


def crash(journal: FinalsJournal) -> None:
    """Leave ``journal`` as a killed daemon would: descriptors closed, nothing more written."""
    assert journal._file.fd is not None
    os.close(journal._file.fd)
    journal._file.fd = None
    journal._high_water.close()
    journal._closed = True


def drop_last_lines(path: Path, count: int) -> None:
    """What a power loss does to lines that were never synced."""
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-count]))


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Counts real fsync calls by the inode they synced."""
    counts: Counter = Counter()
    real = os.fsync

    def counting(fd: int) -> None:
        counts[os.fstat(fd).st_ino] += 1
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return counts


def test_fsync_mode_syncs_every_final_before_append_returns(tmp_path: Path, fsyncs) -> None:
    with FinalsJournal.open(tmp_path / NAME, 1 << 20, 1) as journal:
        assert journal.sync == "fsync"  # the default
        inode = os.fstat(journal._file.fd).st_ino
        before = fsyncs[inode]
        fill(journal, 5)
        assert fsyncs[inode] - before == 5


@pytest.mark.parametrize("mode", ["rotate", "none"])
def test_other_modes_sync_at_rotation_only(tmp_path: Path, fsyncs, mode: str) -> None:
    directory = tmp_path.stat().st_ino
    with FinalsJournal.open(tmp_path / NAME, 3000, 10, sync=mode) as journal:
        first_file = os.fstat(journal._file.fd).st_ino
        directory_before = fsyncs[directory]
        fill(journal, 30)
        assert 1 <= journal.rotations < 10  # no file deleted: no inode reused
        synced_at_rotation = mode == "rotate"
        assert fsyncs[first_file] == (1 if synced_at_rotation else 0)  # the file rotated out
        renames_synced = fsyncs[directory] - directory_before
        assert renames_synced == (journal.rotations if synced_at_rotation else 0)
    assert fsyncs[(tmp_path / (NAME + ".seq")).stat().st_ino] >= 1  # the high-water mark always


def test_rotation_in_fsync_mode_syncs_the_directory(tmp_path: Path, fsyncs) -> None:
    with FinalsJournal.open(tmp_path / NAME, 3000, 2) as journal:
        fill(journal, 30)
        assert journal.rotations >= 2
    assert fsyncs[tmp_path.stat().st_ino] >= journal.rotations


@pytest.mark.parametrize("mode", ["rotate", "none"])
def test_a_crash_that_lost_the_tail_never_reuses_a_seq(tmp_path: Path, mode: str) -> None:
    path = tmp_path / NAME
    journal = FinalsJournal.open(path, 1 << 20, 1, sync=mode)
    published = fill(journal, 5)  # each one "published" once append returned
    crash(journal)
    drop_last_lines(path, 3)  # seqs 2, 3, 4 were published but never reached the disk
    with FinalsJournal.open(path, 1 << 20, 1, sync=mode) as next_run:
        assert next_run.next_seq == SEQ_RESERVE_BLOCK > published[-1].seq
        assert next_run.run_id != journal.run_id
        fill(next_run, 2)
        finals, _ = next_run.replay(0, 100)
        assert seqs(finals) == [0, 1, SEQ_RESERVE_BLOCK, SEQ_RESERVE_BLOCK + 1]


def test_fsync_mode_restarts_without_a_gap_after_a_crash(tmp_path: Path) -> None:
    path = tmp_path / NAME
    journal = FinalsJournal.open(path, 1 << 20, 1)
    fill(journal, 5)
    crash(journal)
    with FinalsJournal.open(path, 1 << 20, 1) as next_run:
        assert next_run.next_seq == 5


@pytest.mark.parametrize("mode", ["fsync", "rotate", "none"])
def test_a_clean_close_leaves_no_gap(tmp_path: Path, mode: str) -> None:
    path = tmp_path / NAME
    with FinalsJournal.open(path, 1 << 20, 1, sync=mode) as journal:
        fill(journal, 5)
    with FinalsJournal.open(path, 1 << 20, 1, sync=mode) as next_run:
        assert next_run.next_seq == 5


def test_files_and_directories_are_private_under_umask_022(tmp_path: Path) -> None:
    old_journal = tmp_path / "old" / NAME
    old_journal.parent.mkdir()
    old_journal.write_text("")
    old_journal.chmod(0o644)  # written by an earlier version
    previous = os.umask(0o022)
    try:
        path = tmp_path / "made" / "by" / "journal" / NAME
        with FinalsJournal.open(path, 3000, 2, sync="rotate") as journal:
            fill(journal, 30)
            assert journal.rotations >= 2
        with FinalsJournal.open(old_journal, 3000, 2):
            pass
    finally:
        os.umask(previous)
    for directory in (tmp_path / "made", tmp_path / "made" / "by", path.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    made = sorted(path.parent.iterdir())
    assert {p.name for p in made} >= {NAME, NAME + ".1", NAME + ".2", NAME + ".seq"}
    for file in [*made, old_journal, old_journal.with_name(NAME + ".seq")]:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


# --- a real full disk -------------------------------------------------------------------------


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "64k") -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root; not root here")
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill_disk(directory: Path) -> Path:
    """A file that takes every free block of ``directory``'s file system."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC
    return filler


def test_a_full_disk_degrades_the_journal_and_it_recovers(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "fs") as fs:
        path = fs / NAME
        with FinalsJournal.open(path, 1 << 20, 1) as journal:
            fill(journal, 3)
            assert journal.health().state == "ok"
            filler = fill_disk(fs)
            published = fill(journal, 8, words=60)  # lines > a page: each needs space; no raise
            health = journal.health()
            assert journal.degraded and health.state == "degraded"
            assert "No space left on device (ENOSPC)" in health.reason
            assert health.write_errors >= 1 and health.unwritten >= 7
            # still answers replays from memory, and the seq bound is on disk
            assert journal.replay(3, 100)[0] == published
            assert FinalsJournal.peek_next_seq(path) >= 11
            journal.maintain()  # too early to retry: nothing changes
            assert journal.degraded
            journal.maintain(now_s=time.monotonic() + 5)  # still full
            assert journal.degraded and journal.health().recoveries == 0
            filler.unlink()  # space returns
            journal.maintain(now_s=time.monotonic() + 5)
            health = journal.health()
            assert health.state == "ok" and health.reason == ""
            assert (health.recoveries, health.unwritten, health.dropped) == (1, 0, 0)
            fill(journal, 2)
        with FinalsJournal.open(path, 1 << 20, 1, tail_size=1) as reopened:
            assert reopened.next_seq == 13
            finals, _ = reopened.replay(0, 100)
            assert seqs(finals) == list(range(13)) and finals[3:11] == published
            assert reopened.corrupt_lines == 0  # the torn line of the failed write was cut
        marks = [json.loads(line) for line in path.read_text().splitlines()]
        assert [m["reason"] for m in marks if m["kind"] == "journal.mark"] == [
            "open",
            "recover",
            "open",
        ]


def test_a_full_disk_past_the_memory_bound_counts_dropped_finals(tmp_path: Path) -> None:
    fs = tmp_path / "fs"
    with small_tmpfs(fs), FinalsJournal.open(fs / NAME, 1 << 20, 1, tail_size=5) as journal:
        filler = fill_disk(fs)
        fill(journal, 8, words=60)
        assert journal.health().dropped == 3 and journal.health().unwritten == 5
        filler.unlink()
        journal.maintain(now_s=time.monotonic() + 5)
        journal.append(make_final(journal.next_seq))
        assert seqs(journal.replay(0, 100)[0]) == [3, 4, 5, 6, 7, 8]


def test_a_restart_on_a_full_disk_starts_degraded_and_keeps_the_numbering(tmp_path: Path) -> None:
    fs = tmp_path / "fs"
    with small_tmpfs(fs):
        with FinalsJournal.open(fs / NAME, 1 << 20, 1) as journal:
            fill(journal, 3)
            filler = fill_disk(fs)
        with FinalsJournal.open(fs / NAME, 1 << 20, 1) as restarted:  # no exception
            assert restarted.next_seq == 3
            fill(restarted, 4, words=60)
            assert restarted.degraded and restarted.health().unwritten >= 3
            filler.unlink()
            restarted.maintain(now_s=time.monotonic() + 5)
            assert not restarted.degraded
        assert FinalsJournal.peek_next_seq(fs / NAME) == 7


def test_a_line_written_but_not_synced_is_not_written_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / NAME
    real = os.fsync
    failing = {"left": 1}

    def fsync_failing_once(fd: int) -> None:
        if failing["left"]:
            failing["left"] -= 1
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    with FinalsJournal.open(path, 1 << 20, 1) as journal:
        fill(journal, 2)
        monkeypatch.setattr(os, "fsync", fsync_failing_once)
        fill(journal, 1)  # its write worked, its fsync did not
        assert "(EIO)" in journal.health().reason
        journal.maintain(now_s=time.monotonic() + 5)
        assert not journal.degraded
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["seq"] for r in records if r["kind"] == "transcript.final"] == [0, 1, 2]


def test_journal_sync_is_validated_with_the_key_and_the_choices() -> None:
    from config.loader import load_config
    from pipeline.errors import ConfigError

    assert load_config(environ={}).config.outputs.journal_sync == "fsync"
    assert load_config(environ={}, cli_overrides={"outputs.journal_sync": "rotate"}).config
    with pytest.raises(ConfigError, match=r"outputs\.journal_sync.*'fsync', 'rotate', 'none'"):
        load_config(environ={}, cli_overrides={"outputs.journal_sync": "always"})
