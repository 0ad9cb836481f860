"""The real daemon with its journal on a small tmpfs that fills up: it keeps publishing, status
says the journal is degraded (with the reason), and when space returns the journal recovers and
holds every final the subscriber got, gap-free. Needs root (to mount the tmpfs); skipped otherwise.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pipeline.messages import ShutdownAck, ShutdownRequest, TranscriptFinal
from pipeline.subscriber import TranscriptSubscriber
from tests.daemon_harness import DaemonRun
from tests.data_paths import DATA_DIR
from tests.test_journal_durability import small_tmpfs
from workers.daemon_status import render_status_text

HARVARD = DATA_DIR / "harvard_list72_8k.wav"
PAGE_BYTES = 4096


def fill_disk_leaving(directory: Path, free_bytes: int) -> Path:
    """A file that takes all but ``free_bytes`` of ``directory``'s file system."""
    stats = os.statvfs(directory)
    filler = directory / "filler"
    filler.write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize - free_bytes))
    return filler


def journal_state(status: dict | None) -> dict:
    return (status or {}).get("metrics", {}).get("journal", {})


def test_a_full_journal_disk_degrades_the_journal_not_the_daemon(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "fs", size="64k") as fs:
        # room for the journal's first page (its start mark and a few finals) and the seq file
        filler = fill_disk_leaving(fs, 2 * PAGE_BYTES)
        journal = fs / "t.finals.jsonl"
        run = DaemonRun(
            "--source",
            f"file:{HARVARD}",
            "--pace",
            "fast",
            "--keep-running",
            "--set",
            f"outputs.journal_path={journal}",
        ).start()
        finals: list[TranscriptFinal] = []
        try:
            with TranscriptSubscriber(
                run.endpoint("transcript"), run.endpoint("control"), from_seq=0
            ) as subscriber:
                degraded = None
                published_while_degraded = 0
                deadline = time.monotonic() + 240
                next_status_at = 0.0
                while published_while_degraded < 2:
                    assert time.monotonic() < deadline, (len(finals), run.log()[-3000:])
                    assert run.process.poll() is None, run.log()[-3000:]
                    message = subscriber.receive(timeout_ms=200)
                    if isinstance(message, TranscriptFinal):
                        finals.append(message)
                        published_while_degraded += degraded is not None
                    if time.monotonic() >= next_status_at:
                        next_status_at = time.monotonic() + 0.5
                        status = run.status()
                        state = journal_state(status)
                        if degraded is None and state.get("state") == "degraded":
                            degraded, degraded_status = state, status
                assert "No space left on device (ENOSPC)" in degraded["reason"], degraded
                assert "journal DEGRADED" in render_status_text(degraded_status)
                filler.unlink()  # space returns
                recovered = run.wait_for(
                    lambda s: journal_state(s).get("state") == "ok", 30, "the journal to recover"
                )
                assert journal_state(recovered)["recoveries"] == 1
                assert isinstance(run.request(ShutdownRequest(reason="test")), ShutdownAck)
                while run.process.poll() is None:
                    message = subscriber.receive(timeout_ms=200)
                    if isinstance(message, TranscriptFinal):
                        finals.append(message)
            assert run.wait(60) == 0, run.log()[-3000:]
            lines = [json.loads(line) for line in journal.read_text().splitlines()]
        finally:
            run.cleanup()
    journaled = [line for line in lines if line["kind"] == "transcript.final"]
    assert [f["seq"] for f in journaled] == list(range(len(journaled)))
    assert [f.seq for f in finals] == [f["seq"] for f in journaled[: len(finals)]]
    assert [f.text for f in finals] == [f["text"] for f in journaled[: len(finals)]]
    assert len({f.run_id for f in finals}) == 1 and finals[0].run_id
    marks = [line["reason"] for line in lines if line["kind"] == "journal.mark"]
    assert marks == ["open", "recover"], marks
