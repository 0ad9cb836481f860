"""TranscriptSubscriber across daemon restarts, told apart by run_id (a fake daemon in a real
process, real journal, real ipc sockets): a seq reused by a new run is delivered, not dropped as a
duplicate; seqs a restarted daemon skipped past are counted as skipped at the restart, not lost."""

from __future__ import annotations

import time
from pathlib import Path

from pipeline.journal import SEQ_RESERVE_BLOCK
from pipeline.messages import TranscriptFinal
from tests.fake_transcript_daemon import FakeDaemon
from tests.test_subscriber import runtime_dir, subscriber_for, wait_connected  # noqa: F401


def finals_until(subscriber, until_seq: int, timeout_s: float = 20) -> list[TranscriptFinal]:
    finals: list[TranscriptFinal] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = subscriber.receive(200)
        if isinstance(message, TranscriptFinal):
            finals.append(message)
            if message.seq >= until_seq:
                return finals
    raise TimeoutError(f"no final {until_seq}; got {[f.seq for f in finals]}")


def test_a_seq_reused_by_a_new_daemon_run_is_delivered(runtime_dir: Path) -> None:  # noqa: F811
    first = FakeDaemon.start(runtime_dir)
    subscriber = subscriber_for(first, metrics=True, idle_check_s=None)  # live path only
    try:
        wait_connected(subscriber)
        first.publish(20)
        old = finals_until(subscriber, 19)
        assert [f.seq for f in old] == list(range(20))
        first.stop()
        for path in runtime_dir.glob("finals.jsonl*"):  # the journal is lost (and its .seq)
            path.unlink()
        with FakeDaemon.start(runtime_dir) as second:
            wait_connected(subscriber)  # the SUB reconnected to the new daemon
            second.publish(5)
            new = finals_until(subscriber, 4)
        assert [f.seq for f in new] == list(range(5))  # seqs 0..4 again, from another run
        assert {f.run_id for f in new} != {f.run_id for f in old}
        assert all(f.run_id for f in old + new)
        assert subscriber.counters.seq_reuses == 1
        assert subscriber.counters.duplicates_dropped == 0 and subscriber.counters.lost == 0
    finally:
        subscriber.close()
        first.stop()


def test_seqs_skipped_after_a_crash_are_not_counted_as_lost(runtime_dir: Path) -> None:  # noqa: F811
    first = FakeDaemon.start(runtime_dir, journal_sync="rotate")
    subscriber = subscriber_for(first, metrics=True, idle_check_s=0.5)
    try:
        wait_connected(subscriber)
        first.publish(5)
        assert [f.seq for f in finals_until(subscriber, 4)] == list(range(5))
        first.process.kill()  # a crash: the next run starts past the reserved block
        first.process.join(10)
        with FakeDaemon.start(runtime_dir, journal_sync="rotate") as second:
            wait_connected(subscriber)
            second.publish(3)
            new = finals_until(subscriber, SEQ_RESERVE_BLOCK + 2)
        assert [f.seq for f in new] == [SEQ_RESERVE_BLOCK + i for i in range(3)]
        assert subscriber.counters.skipped_at_restart == SEQ_RESERVE_BLOCK - 5
        assert subscriber.counters.lost == 0 and subscriber.counters.duplicates_dropped == 0
    finally:
        subscriber.close()
        first.stop()
