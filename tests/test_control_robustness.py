"""The real daemon's control socket under abuse: it answers, cuts, counts, and never goes down.

One daemon (real processes, the real model, a real journal) starts on a journal of 600 long
finals (100 words each, ~5 MB) and a silent source, so nothing but control work loads its
loop. A replay of 500 of them does not fit one frame: the reply must be cut with a ``next_seq``
to continue from, and following it must bring every final exactly once. Floods of replays and a
client that sends without ever reading must leave ``status`` answering.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import zmq

from pipeline.bus import open_socket
from pipeline.messages import (
    DEFAULT_MAX_FRAME_BYTES,
    SCHEMA_VERSION,
    ControlError,
    ReplayReply,
    ReplayRequest,
    StatusRequest,
    TranscriptFinal,
    decode,
    encode,
)
from pipeline.messages.schema import to_wire
from pipeline.words import Word
from tests.daemon_harness import DaemonRun

FINALS = 600
WORDS_PER_FINAL = 100
FLOOD_PER_CLIENT = 3  # a replay from a cold journal parses its files (~1 s here): keep it short


def long_final(seq: int) -> TranscriptFinal:
    start_s = seq * 40.0
    words = tuple(
        Word(round(start_s + 0.3 * i, 2), round(start_s + 0.3 * i + 0.25, 2), f" w{i}", 0.9)
        for i in range(WORDS_PER_FINAL)
    )
    return TranscriptFinal(
        stream_id="main",
        segment_id=seq,
        seq=seq,
        start_s=start_s,
        end_s=words[-1].end_s,
        text="".join(w.text for w in words).strip(),
        words=words,
        backend="whisper",
        model="tiny.en",
        latency_ms=250.0,
    )


def write_journal(path: Path, count: int) -> None:
    """A journal as the daemon writes it: one JSON object per line."""
    with path.open("w", encoding="utf-8") as file:
        for seq in range(count):
            record = {"kind": TranscriptFinal.kind, "v": SCHEMA_VERSION}
            record.update(to_wire(long_final(seq)))
            file.write(json.dumps(record, separators=(",", ":")) + "\n")
    path.chmod(0o600)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    silence = tmp_path_factory.mktemp("audio") / "silence.wav"
    soundfile.write(silence, np.zeros(16000 * 2, dtype=np.float32), 16000)
    run = DaemonRun("--source", f"file:{silence}", "--pace", "realtime", "--loop")
    write_journal(run.runtime_dir / f"{run.instance}.finals.jsonl", FINALS)
    run.start()
    run.wait_for(lambda s: s["metrics"]["last_seq"] == FINALS - 1, 120, "the daemon on its journal")
    yield run
    run.cleanup()


def alive_and_answering(run: DaemonRun, within_s: float = 10.0) -> dict:
    assert run.process is not None and run.process.poll() is None, run.log()[-4000:]
    started = time.monotonic()
    status = run.status(timeout_s=within_s)
    assert status is not None, f"no status within {within_s} s:\n{run.log()[-4000:]}"
    assert time.monotonic() - started < within_s
    return status


def test_a_replay_over_the_frame_limit_is_cut_and_continues(daemon) -> None:
    uncut = ReplayReply(finals=tuple(map(long_final, range(500))), next_seq=500)
    assert len(encode(uncut, max_frame_bytes=1 << 30)) > DEFAULT_MAX_FRAME_BYTES
    reply = daemon.request(ReplayRequest(since_seq=0, max_count=500), timeout_s=30)
    assert isinstance(reply, ReplayReply), reply
    seqs = [f.seq for f in reply.finals]
    assert 0 < len(seqs) < 500 and seqs == list(range(len(seqs)))
    assert reply.next_seq == seqs[-1] + 1
    got = seqs
    while reply.finals and len(got) < FINALS:  # follow next_seq as a subscriber does
        reply = daemon.request(ReplayRequest(since_seq=reply.next_seq, max_count=500), 30)
        assert isinstance(reply, ReplayReply), reply
        got += [f.seq for f in reply.finals]
    assert got == list(range(FINALS))
    assert reply.finals[-1] == long_final(FINALS - 1)
    status = alive_and_answering(daemon)
    assert status["control"]["errors"] == 0


def test_a_replay_flood_leaves_status_answering(daemon) -> None:
    flooders = [
        open_socket(daemon.context, zmq.DEALER, daemon.endpoint("control"), bind=False)
        for _ in range(4)
    ]
    try:
        frame = encode(ReplayRequest(since_seq=0, max_count=1000))
        for _ in range(FLOOD_PER_CLIENT):
            for socket in flooders:
                socket.send_multipart([b"", frame])
        time.sleep(0.5)  # the flood is queued at the daemon
        before = alive_and_answering(daemon, within_s=10.0)
        assert before["control"]["errors"] == 0
        answered = 0
        deadline = time.monotonic() + 120
        while answered < 4 * FLOOD_PER_CLIENT and time.monotonic() < deadline:
            for socket in flooders:
                while socket.poll(0):
                    _empty, payload = socket.recv_multipart()
                    assert isinstance(decode(payload), ReplayReply)
                    answered += 1
            time.sleep(0.05)
        assert answered == 4 * FLOOD_PER_CLIENT  # every request of the flood got its (cut) reply
    finally:
        for socket in flooders:
            socket.close(linger=0)
    after = alive_and_answering(daemon)
    assert after["metrics"]["ring_overruns"] == 0  # capture and VAD kept up meanwhile
    assert after["ring"]["write_s"] > before["ring"]["write_s"]  # audio kept coming in


def test_a_client_that_never_reads_cannot_stall_or_kill_the_daemon(daemon) -> None:
    hog = open_socket(daemon.context, zmq.DEALER, daemon.endpoint("control"), bind=False)
    try:
        hog.setsockopt(zmq.RCVHWM, 1)
        status_frame = encode(StatusRequest())
        replay_frame = encode(ReplayRequest(since_seq=FINALS - 1, max_count=1))
        for i in range(3000):
            hog.send_multipart([b"", replay_frame if i % 500 == 0 else status_frame])
        deadline = time.monotonic() + 60
        status = alive_and_answering(daemon)
        while status["control"]["unsent"] == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
            status = alive_and_answering(daemon)
        assert status["control"]["unsent"] > 0  # the hog's replies were dropped, not waited for
        assert status["control"]["errors"] == 0
    finally:
        hog.close(linger=0)
    bad = daemon.request(ReplayRequest(since_seq=FINALS + 5, max_count=10))
    assert isinstance(bad, ReplayReply) and bad.finals == () and bad.next_seq == FINALS
    assert not isinstance(bad, ControlError)
    alive_and_answering(daemon)
