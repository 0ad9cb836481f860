"""A stand-in daemon for subscriber tests: a real process with the real transcript sockets.

The child binds the ``transcript`` PUB and a ``control`` ROUTER, journals every final in a
``FinalsJournal`` before publishing it, answers ``ReplayRequest`` from the journal the way the
supervisor does (``journal.answer``) and publishes ``Metrics`` periodically. The test drives it
over a pipe: publish N finals (optionally leaving some seqs off the PUB socket, to make gaps),
report its status, stop. ``ignore_requests`` makes it leave the first requests unanswered, as a
daemon that is busy or restarting would.

Typical use::

    with FakeDaemon.start(runtime_dir, pub_high_water_mark=20) as daemon:
        daemon.publish(100, skip=[(10, 20)])  # seqs 10..19 are journaled, not published
        psutil.Process(daemon.pid).memory_info().rss
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import zmq

PUBLISH_BATCH = 50  # finals published between two looks at the control socket
METRICS_INTERVAL_S = 0.2


@dataclass
class FakeDaemon:
    """The test side: the spawned process and the pipe that drives it."""

    process: Any  # multiprocessing.Process (spawn context)
    conn: Connection
    transcript_endpoint: str
    control_endpoint: str
    journal_path: Path
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        runtime_dir: Path,
        *,
        journal_max_bytes: int = 4 << 20,
        journal_keep: int = 3,
        journal_tail: int = 1000,
        pub_high_water_mark: int = 1000,
        words_per_final: int = 8,
        ignore_requests: int = 0,
        instance: str = "fake",
        journal_sync: str = "none",  # tests here do not cut the power; fsyncs would slow them
    ) -> FakeDaemon:
        settings = {
            "transcript": f"ipc://{runtime_dir}/{instance}.transcript",
            "control": f"ipc://{runtime_dir}/{instance}.control",
            "journal_path": str(runtime_dir / "finals.jsonl"),
            "journal_max_bytes": journal_max_bytes,
            "journal_keep": journal_keep,
            "journal_tail": journal_tail,
            "pub_high_water_mark": pub_high_water_mark,
            "words_per_final": words_per_final,
            "ignore_requests": ignore_requests,
            "journal_sync": journal_sync,
        }
        context = multiprocessing.get_context("spawn")
        parent_conn, child_conn = context.Pipe()
        process = context.Process(target=main, args=(settings, child_conn), daemon=True)
        process.start()
        child_conn.close()
        daemon = cls(
            process,
            parent_conn,
            settings["transcript"],
            settings["control"],
            Path(settings["journal_path"]),
            settings,
        )
        daemon._expect("ready", timeout_s=20)
        return daemon

    @property
    def pid(self) -> int:
        return self.process.pid

    def publish(
        self, count: int, *, skip: list[tuple[int, int]] = (), wait: bool = True, timeout_s=30
    ) -> dict[str, Any] | None:
        """Journal ``count`` finals; publish those whose seq is in no ``[start, end)`` of ``skip``."""
        self.conn.send({"cmd": "publish", "count": count, "skip": list(skip)})
        return self.wait_published(timeout_s) if wait else None

    def wait_published(self, timeout_s: float = 30) -> dict[str, Any]:
        return self._expect("published", timeout_s)

    def status(self) -> dict[str, Any]:
        self.conn.send({"cmd": "status"})
        return self._expect("status", timeout_s=10)

    def stop(self, timeout_s: float = 10) -> int | None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):  # the child may be gone already
                self.conn.send({"cmd": "stop"})
            self.process.join(timeout_s)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(5)
        self.conn.close()
        return self.process.exitcode

    def _expect(self, what: str, timeout_s: float) -> dict[str, Any]:
        if not self.conn.poll(timeout_s):
            raise TimeoutError(f"fake daemon sent no {what!r} within {timeout_s} s")
        reply = self.conn.recv()
        if reply.get("event") != what:
            raise AssertionError(f"fake daemon sent {reply}, expected {what!r}")
        return reply

    def __enter__(self) -> FakeDaemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the child process ---------------------------------------------------------------------


def main(settings: dict[str, Any], conn: Connection) -> None:
    logging.basicConfig(level=logging.WARNING, format=f"fake daemon {os.getpid()}: %(message)s")
    from pipeline.bus import Receiver, SocketOptions, new_context, open_socket, send_message
    from pipeline.journal import FinalsJournal
    from pipeline.messages import Metrics, ReplayRequest, StatusReply, StatusRequest

    context = new_context()
    pub = open_socket(
        context,
        zmq.PUB,
        settings["transcript"],
        bind=True,
        options=SocketOptions(high_water_mark=settings["pub_high_water_mark"]),
    )
    control = open_socket(context, zmq.ROUTER, settings["control"], bind=True)
    requests = Receiver(control, accept=(ReplayRequest, StatusRequest), name="control")
    journal = FinalsJournal.open(
        settings["journal_path"],
        settings["journal_max_bytes"],
        settings["journal_keep"],
        tail_size=settings["journal_tail"],
        sync=settings["journal_sync"],
    )
    ignore = settings["ignore_requests"]
    jobs: deque[dict[str, Any]] = deque()
    counts = {"published": 0, "skipped": 0, "replays": 0, "ignored": 0}
    poller = zmq.Poller()
    poller.register(control, zmq.POLLIN)
    poller.register(conn.fileno(), zmq.POLLIN)
    metrics_at = 0.0
    conn.send({"event": "ready", "next_seq": journal.next_seq})
    while True:
        now = time.monotonic()
        if now >= metrics_at:
            send_message(
                pub, Metrics(time_unix_s=time.time(), values={"next_seq": journal.next_seq})
            )
            metrics_at = now + METRICS_INTERVAL_S
        events = dict(poller.poll(0 if jobs else 50))
        while control in events:
            received = requests.receive(0)
            if received is None:
                break
            if ignore > 0:
                ignore -= 1
                counts["ignored"] += 1
                continue
            if isinstance(received.message, ReplayRequest):
                counts["replays"] += 1
                reply = journal.answer(received.message)
            else:
                reply = StatusReply(status={"next_seq": journal.next_seq, **counts})
            send_message(control, reply, identity=received.identity)
        if conn.fileno() in events:
            try:
                command = conn.recv()
            except EOFError:
                break  # the test process is gone
            if command["cmd"] == "stop":
                break
            if command["cmd"] == "status":
                conn.send({"event": "status", "next_seq": journal.next_seq, **counts})
            elif command["cmd"] == "publish":
                jobs.append(dict(command, left=command["count"]))
        if jobs:
            job = jobs[0]
            for _ in range(min(PUBLISH_BATCH, job["left"])):
                final = _final(journal.next_seq, settings["words_per_final"], journal.run_id)
                journal.append(final)  # journal first: whatever was published can be replayed
                if any(start <= final.seq < end for start, end in job["skip"]):
                    counts["skipped"] += 1
                else:
                    send_message(pub, final)
                    counts["published"] += 1
                job["left"] -= 1
            if job["left"] == 0:
                jobs.popleft()
                conn.send({"event": "published", "next_seq": journal.next_seq, **counts})
    journal.close()
    pub.close(linger=0)
    control.close(linger=0)
    context.term()


def _final(seq: int, word_count: int, run_id: str):  # -> TranscriptFinal
    from pipeline.messages import TranscriptFinal
    from pipeline.words import Word

    start_s = seq * 2.0
    words = tuple(
        Word(start_s + 0.2 * i, start_s + 0.2 * i + 0.15, f" w{seq}_{i}", 0.9)
        for i in range(word_count)
    )
    return TranscriptFinal(
        stream_id="s1",
        segment_id=seq,
        seq=seq,
        start_s=start_s,
        end_s=start_s + 0.2 * word_count,
        text="".join(w.text for w in words).strip(),
        words=words,
        backend="fake",
        model="none",
        latency_ms=5.0,
        run_id=run_id,
    )
