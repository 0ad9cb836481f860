"""TranscriptSubscriber against a fake daemon in a real process over real ipc sockets."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pipeline.messages import Metrics, TranscriptFinal
from pipeline.subscriber import TranscriptSubscriber
from tests.fake_transcript_daemon import FakeDaemon


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ss", dir="/tmp"))  # mode 0700, short ipc paths
    yield path
    shutil.rmtree(path, ignore_errors=True)


def subscriber_for(daemon: FakeDaemon, **kwargs) -> TranscriptSubscriber:
    kwargs.setdefault("replay_timeout_ms", 2000)
    return TranscriptSubscriber(daemon.transcript_endpoint, daemon.control_endpoint, **kwargs)


def wait_connected(subscriber: TranscriptSubscriber, timeout_s: float = 10) -> None:
    """Wait for a Metrics message: the SUB socket is connected and subscribed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if isinstance(subscriber.receive(200), Metrics):
            return
    raise TimeoutError("no metrics from the fake daemon")


def collect_finals(
    subscriber: TranscriptSubscriber, until_seq: int, timeout_s: float = 20
) -> list[int]:
    seqs: list[int] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = subscriber.receive(200)
        if isinstance(message, TranscriptFinal):
            seqs.append(message.seq)
            if message.seq >= until_seq:
                return seqs
    raise TimeoutError(f"finals up to {until_seq} not received; got {len(seqs)}: {seqs[-5:]}")


def drain(subscriber: TranscriptSubscriber, quiet_s: float = 0.3) -> list[int]:
    """The seqs of finals that still come out until ``quiet_s`` pass without one."""
    seqs = []
    quiet_until = time.monotonic() + quiet_s
    while time.monotonic() < quiet_until:
        message = subscriber.receive(50)
        if isinstance(message, TranscriptFinal):
            seqs.append(message.seq)
            quiet_until = time.monotonic() + quiet_s
    return seqs


def test_normal_stream_arrives_in_order_without_replay(runtime_dir: Path) -> None:
    daemon = FakeDaemon.start(runtime_dir)
    with daemon, subscriber_for(daemon, metrics=True) as subscriber:
        wait_connected(subscriber)
        daemon.publish(300)
        assert collect_finals(subscriber, 299) == list(range(300))
        counters = subscriber.counters
        assert counters.received == 300
        assert counters.replayed == counters.gaps_detected == counters.duplicates_dropped == 0
        assert counters.lost == 0 and subscriber.last_seq == 299


def test_dropped_ranges_are_filled_by_replay(runtime_dir: Path) -> None:
    daemon = FakeDaemon.start(runtime_dir)
    with daemon, subscriber_for(daemon, metrics=True) as subscriber:
        wait_connected(subscriber)
        daemon.publish(300, skip=[(50, 120), (200, 201)])  # journaled, never published
        assert collect_finals(subscriber, 299) == list(range(300))
        counters = subscriber.counters
        # the first gap's replay may already reach past the second one
        assert 1 <= counters.gaps_detected <= 2
        assert counters.replayed >= 71
        assert drain(subscriber) == []  # the live copies of replayed finals are dropped
        assert counters.received + counters.replayed - counters.duplicates_dropped == 300
        assert counters.lost == 0
        assert daemon.status()["replays"] >= 2


def test_a_lost_last_final_is_found_by_the_idle_check(runtime_dir: Path) -> None:
    daemon = FakeDaemon.start(runtime_dir)
    with daemon, subscriber_for(daemon, metrics=True, idle_check_s=0.5) as subscriber:
        wait_connected(subscriber)
        daemon.publish(20, skip=[(19, 20)])  # no later final reveals that 19 is missing
        assert collect_finals(subscriber, 19) == list(range(20))
        counters = subscriber.counters
        assert counters.gaps_detected == 0 and counters.replayed == 1 and counters.lost == 0


def test_stalled_subscriber_catches_up_and_daemon_memory_stays_flat(runtime_dir: Path) -> None:
    # ~1.5 kB frames: 6000 finals queued without a bound would take the daemon ~10 MB
    daemon = FakeDaemon.start(
        runtime_dir, pub_high_water_mark=20, journal_max_bytes=4 << 20, words_per_final=20
    )
    with daemon, subscriber_for(daemon, metrics=False, high_water_mark=20) as subscriber:
        time.sleep(0.5)  # let the SUB connect (anything missed is replayed anyway)
        daemon.publish(100)
        assert collect_finals(subscriber, 99) == list(range(100))
        stalled_at = time.monotonic()
        # the subscriber stops reading: the daemon's PUB queue fills and drops
        daemon.publish(1500)  # warm up: the journal's in-memory tail fills, files rotate
        process = psutil.Process(daemon.pid)
        rss_before = process.memory_info().rss
        published = daemon.publish(6000)
        rss_after = process.memory_info().rss
        assert published is not None and published["next_seq"] == 7600
        assert rss_after - rss_before < 3 << 20, (rss_before, rss_after)
        time.sleep(max(0.0, 5.0 - (time.monotonic() - stalled_at)))  # stalled for 5 s in all
        seqs = collect_finals(subscriber, 7599, timeout_s=30)
        assert seqs == list(range(100, 7600))
        counters = subscriber.counters
        # on resuming, the overdue idle check or the first seq jump starts the replay
        assert counters.replayed > 5000 and counters.lost == 0
        assert any(runtime_dir.glob("finals.jsonl.*"))  # replayed from rotated files too


def test_unanswered_replay_request_is_retried_on_a_new_socket(runtime_dir: Path) -> None:
    daemon = FakeDaemon.start(runtime_dir, ignore_requests=1)
    with daemon, subscriber_for(daemon, metrics=True, replay_timeout_ms=300) as subscriber:
        wait_connected(subscriber)
        daemon.publish(60, skip=[(10, 20)])
        assert collect_finals(subscriber, 59) == list(range(60))
        assert subscriber.counters.replay_timeouts == 1
        assert subscriber.counters.lost == 0


def test_numbering_continues_across_a_daemon_restart(runtime_dir: Path) -> None:
    first = FakeDaemon.start(runtime_dir)
    subscriber = subscriber_for(first, metrics=True, idle_check_s=0.5)
    try:
        wait_connected(subscriber)
        first.publish(40)
        assert collect_finals(subscriber, 39) == list(range(40))
        assert first.stop() == 0
        with FakeDaemon.start(runtime_dir) as second:  # same sockets, same journal
            # the first finals of the new run go out before the SUB has reconnected: the idle
            # check (or the next final) fetches them from the journal
            second.publish(40)
            assert collect_finals(subscriber, 79) == list(range(40, 80))
            assert subscriber.counters.lost == subscriber.counters.resets == 0
            assert subscriber.counters.duplicates_dropped == 0
    finally:
        subscriber.close()
        first.stop()


def test_subscriber_from_seq_replays_history_and_counts_what_is_gone(runtime_dir: Path) -> None:
    daemon = FakeDaemon.start(
        runtime_dir, journal_max_bytes=20_000, journal_keep=1, journal_tail=50
    )
    with daemon:
        daemon.publish(400)  # before anyone subscribes: only the journal has them
        with subscriber_for(daemon, from_seq=0) as subscriber:
            seqs = collect_finals(subscriber, 399)
            assert seqs == list(range(seqs[0], 400)) and seqs[0] > 0
            assert subscriber.counters.lost == seqs[0]  # rotated out of the journal
            assert subscriber.counters.replayed == len(seqs)


def test_a_daemon_whose_journal_was_lost_is_followed_from_zero(runtime_dir: Path) -> None:
    first = FakeDaemon.start(runtime_dir)
    subscriber = subscriber_for(first, metrics=True, idle_check_s=0.5)
    try:
        wait_connected(subscriber)
        first.publish(30)
        assert collect_finals(subscriber, 29) == list(range(30))
        first.stop()
        for path in runtime_dir.glob("finals.jsonl*"):
            path.unlink()
        with FakeDaemon.start(runtime_dir) as second:  # numbering starts again at 0
            second.publish(10)
            # a new 0..9 that comes live carries another run_id (not a duplicate); one missed
            # while the SUB reconnected is found when the idle check sees next_seq go back
            assert collect_finals(subscriber, 9) == list(range(10))
            counters = subscriber.counters
            assert counters.resets + counters.seq_reuses == 1 and counters.lost == 0
    finally:
        subscriber.close()
        first.stop()


def test_receive_returns_within_its_timeout_when_the_daemon_is_gone(tmp_path) -> None:
    """No daemon answers: replay attempts time out, and receive() still returns about on time."""
    import time as _time

    from pipeline.subscriber import TranscriptSubscriber

    runtime = tmp_path
    with TranscriptSubscriber(
        f"ipc://{runtime}/gone.transcript",
        f"ipc://{runtime}/gone.control",
        from_seq=0,
        replay_timeout_ms=300,
        replay_retries=2,
        idle_check_s=0.2,
    ) as subscriber:
        for _ in range(3):
            started = _time.monotonic()
            assert subscriber.receive(timeout_ms=100) is None
            # one catch-up (3 tries of 300 ms) may run past the timeout, never more
            assert _time.monotonic() - started < 1.5
