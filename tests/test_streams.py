"""Streams as a runtime resource, on the real daemon (processes, rings, sockets, journal, model).

One daemon (its first stream an idle push stream) serves every phase: each stream alone, then
two file streams and a push stream at once; each stream's finals must match its run alone.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading

import numpy as np
import pytest
import zmq

from pipeline.messages import (
    ControlError,
    PushAudio,
    PushReply,
    ReplayRequest,
    StreamCloseReply,
    StreamOpenReply,
    StreamOpenRequest,
    decode,
    encode,
)
from tests.daemon_harness import DaemonRun, process_row
from tests.data_paths import DATA_DIR
from tests.stream_clients import (
    close_stream,
    finals_of,
    list_streams,
    open_refused,
    open_stream,
    push_file,
    segment_count,
    stream_row,
    text_of,
    wait_closed,
    wer,
)

HARVARD = DATA_DIR / "harvard_list72_8k.wav"  # 36 s, ten sentences with pauses
MONOLOGUE = DATA_DIR / "monologue_dev.wav"  # 35 s of continuous speech (chunking)
PRE_ROLL_S = 0.3  # the VAD's pre-roll (balanced profile)
JFK = DATA_DIR / "jfk.flac"  # 11 s, 44.1 kHz stereo: pushed as s16le at 44100 Hz


def _daemon(*extra: str) -> DaemonRun:
    return DaemonRun(
        "--source",
        "push:s16le:16000",
        "--workers",
        "2",
        "--set",
        "streams.admission_max_busy=9",  # no load check: fast files keep workers busy on purpose
        *extra,
    ).start()


def _run_streams(run: DaemonRun, push: bool = True) -> dict[str, str]:
    """Open the harvard and monologue files (fast) and, if ``push``, a push stream fed jfk;
    wait until all are closed; returns name -> stream id."""
    ids = {
        "harvard": open_stream(run, f"file:{HARVARD}", pace="fast", label="harvard").stream_id,
        "monologue": open_stream(
            run, f"file:{MONOLOGUE}", pace="fast", label="monologue"
        ).stream_id,
    }
    if push:
        reply = open_stream(run, "push:s16le:44100", label="jfk")
        ids["jfk"] = reply.stream_id
        push_file(reply.push_endpoint, reply.stream_id, JFK)
    wait_closed(run, list(ids.values()), 240)
    return ids


def test_two_files_and_a_push_stream_at_once_match_their_runs_alone() -> None:
    run = _daemon()
    try:
        run.wait_for(lambda s: s["metrics"]["streams_open"] == 1, 60, "the daemon")
        alone: dict[str, str] = {}
        for name, source, fields in (
            ("harvard", f"file:{HARVARD}", {"pace": "fast"}),
            ("monologue", f"file:{MONOLOGUE}", {"pace": "fast"}),
        ):
            alone[name] = open_stream(run, source, **fields).stream_id
            wait_closed(run, [alone[name]], 240)
        reply = open_stream(run, "push:s16le:44100")
        push_file(reply.push_endpoint, reply.stream_id, JFK)
        alone["jfk"] = reply.stream_id
        wait_closed(run, [alone["jfk"]], 120)

        together = _run_streams(run)
        for name in ("harvard", "monologue", "jfk"):
            single, multi = finals_of(run, alone[name]), finals_of(run, together[name])
            assert text_of(single), f"{name} alone gave no words"
            assert wer(single, multi) <= 0.005, (name, text_of(single), text_of(multi))
            assert segment_count(multi) == segment_count(single), (name, single, multi)
        assert "kennedy" not in text_of(finals_of(run, together["harvard"])).lower()
        journal = run.journal()
        assert [f["seq"] for f in journal] == list(range(len(journal)))  # gap-free per daemon
        # replay filtered by stream returns exactly that stream's finals
        reply = run.request(ReplayRequest(since_seq=0, max_count=1000, stream_id=together["jfk"]))
        assert [f.seq for f in reply.finals] == [f["seq"] for f in finals_of(run, together["jfk"])]
        status = run.status()
        rows = {row["stream_id"]: row for row in status["streams"]}
        assert rows[together["harvard"]]["segments"] >= 8
        assert status["metrics"]["streams_open"] == 1  # the idle main stream
        assert "ring" in status and status["processes"]
    finally:
        run.cleanup()


def test_killing_one_streams_vad_or_capture_leaves_the_others_alone() -> None:
    run = _daemon()
    try:
        run.wait_for(lambda s: s["metrics"]["streams_open"] == 1, 60, "the daemon")
        lecture = open_stream(run, f"file:{DATA_DIR / 'lecture_60s_16k.wav'}", pace="realtime")
        harvard = open_stream(run, f"file:{HARVARD}", pace="fast").stream_id
        victim_id = lecture.stream_id
        status = run.wait_for(
            lambda s: all(
                process_row(s, f"{r}:{victim_id}")["state"] == "running" for r in ("vad", "capture")
            ),
            60,
            "the lecture stream's children",
        )
        others_before = {
            row["role"]: row["pid"]
            for row in status["processes"]
            if row["role"] in ("capture", "vad")
        }
        os.kill(process_row(status, f"vad:{victim_id}")["pid"], signal.SIGKILL)
        os.kill(process_row(status, f"capture:{victim_id}")["pid"], signal.SIGKILL)
        wait_closed(run, [harvard], 240)  # the fast stream ran on to its end meanwhile
        status = run.wait_for(
            lambda s: stream_row_of(s, victim_id)["restarts"] >= 2, 30, "the restarts"
        )
        others_after = {
            row["role"]: row["pid"] for row in status["processes"] if row["role"] in others_before
        }
        assert others_after == others_before  # the main stream's children were untouched
        harvard_finals = finals_of(run, harvard)
        assert segment_count(harvard_finals) >= 9 and all(
            f["status"] == "ok" for f in harvard_finals
        )
        close = close_stream(run, victim_id)
        assert isinstance(close, StreamCloseReply)
        wait_closed(run, [victim_id], 60)
        finals = finals_of(run, victim_id)
        spoken = [f for f in finals if f["text"]]
        assert spoken, "the killed stream published nothing"
        for a, b in itertools.pairwise(spoken):
            # a restarted VAD may take up to its pre-roll (0.3 s) of silence again, no words
            assert b["start_s"] >= a["end_s"] - PRE_ROLL_S, f"duplicated audio: {a} {b}"
            last, first = a["text"].split()[-1].lower(), b["text"].split()[0].lower()
            assert last.strip(".,?!") != first.strip(".,?!"), f"a word twice: {a} {b}"
    finally:
        run.cleanup()


def push_bad_frames(run: DaemonRun, stream_id: str) -> list[str]:
    """Send a garbage frame and one at 48 kHz to a push:s16le:16000 stream; the replies'
    reasons."""
    endpoint = next(r["push_endpoint"] for r in list_streams(run) if r["stream_id"] == stream_id)
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.connect(endpoint)
    try:
        pcm = np.zeros(320, dtype="<i2").tobytes()
        socket.send_multipart([b"\xc1garbage", pcm])
        wrong = PushAudio(stream_id, "bad", 0, "s16le", 48000, 1, 0.0)
        socket.send_multipart([encode(wrong), pcm])
        reasons = []
        for _ in range(2):
            assert socket.poll(10_000), "no reply from the push stream"
            reply = decode(socket.recv())
            assert isinstance(reply, PushReply) and reply.status == "rejected", reply
            reasons.append(reply.detail)
        return reasons
    finally:
        socket.close(linger=0)


def stream_row_of(status: dict, stream_id: str) -> dict:
    return next(row for row in status["streams"] if row["stream_id"] == stream_id)


def test_bad_requests_get_clear_errors_and_leave_the_daemon_serving() -> None:
    run = _daemon("--set", "streams.max_open=3")
    try:
        run.wait_for(lambda s: s["metrics"]["streams_open"] == 1, 60, "the daemon")
        assert "does not exist" in open_refused(run, "file:/nonexistent.wav").message
        assert "unknown audio source kind" in open_refused(run, "bogus:x").message
        assert "device" in open_refused(run, "mic:no-such-device-xyz").message.lower()
        assert "stdin" in open_refused(run, "stdin:s16le:16000").message
        opened = [open_stream(run, "push:s16le:16000").stream_id for _ in range(2)]
        refused = [open_refused(run, "push:s16le:16000") for _ in range(1000)]
        assert all(r.message.startswith("capacity:") for r in refused)
        assert "streams.max_open" in refused[0].message and refused[0].details["open_streams"]
        assert isinstance(close_stream(run, opened[0]), StreamCloseReply)
        second = close_stream(run, opened[0])
        assert isinstance(second, ControlError) and opened[0] in second.message
        assert isinstance(close_stream(run, "nope"), ControlError)
        wait_closed(run, [opened[0]], 30)
        status = run.status()
        assert status["metrics"]["load"]["streams_refused"] >= 1000
        assert len(status["streams"]) <= 3 + 32  # closed ones kept are bounded
        # garbage and the wrong rate on a push stream: rejected with a reason, the stream goes on
        reasons = push_bad_frames(run, opened[1])
        assert "not a push header" in reasons[0] and "format" in reasons[1], reasons
        row = stream_row(run, opened[1])
        assert row is not None and row["state"] == "running"
        assert {r["stream_id"] for r in list_streams(run) if r["state"] == "running"} == {
            "main",
            opened[1],
        }
    finally:
        run.cleanup()


def test_admission_refuses_at_capacity_naming_the_load() -> None:
    run = DaemonRun(
        "--source",
        f"file:{MONOLOGUE}",
        "--pace",
        "fast",
        "--loop",
        "--workers",
        "1",
        "--set",
        "streams.admission_max_busy=0.5",
    ).start()
    try:
        run.wait_for(
            lambda s: s["metrics"]["load"]["busy_fraction"] >= 0.4, 120, "a busy worker pool"
        )
        refusal = open_refused(run, "push:s16le:16000")
        assert refusal.message.startswith("capacity:"), refusal
        assert "busy" in refusal.message and float(refusal.details["busy_fraction"]) >= 0.4
    finally:
        run.cleanup()


def test_streams_opened_while_the_workers_load_are_admitted_at_the_pools_size() -> None:
    """A client opening streams the moment the daemon answers, its two workers still loading
    the model: admission counts the pool at its configured size (before, with no worker ready
    the load was "unknown" and all twelve realtime streams were let in, up to streams.max_open)."""
    run = DaemonRun("--source", "push:s16le:16000", "--workers", "2").start()
    try:
        status = run.wait_for(lambda s: True, 60, "the control socket")
        ready_before = status["metrics"]["load"]["workers_ready"]
        source = f"file:{MONOLOGUE}"
        replies = [
            run.request(StreamOpenRequest(source=source, pace="realtime"), timeout_s=10.0)
            for _ in range(12)
        ]
        opened = [r for r in replies if isinstance(r, StreamOpenReply)]
        refused = [r for r in replies if isinstance(r, ControlError)]
        assert len(opened) + len(refused) == 12, replies
        assert refused and all(r.message.startswith("capacity:") for r in refused), refused
        # the default prior on two workers (workers/stream_load.py): six speaking streams, the
        # idle main push stream among them while it is fresh
        assert 2 <= len(opened) <= 5, (len(opened), ready_before)
        assert refused[0].details["workers"] == "2", refused[0].details
        assert run.status()["metrics"]["load"]["streams_refused"] == len(refused)
    finally:
        run.cleanup()


@pytest.mark.parametrize("realtime", [True])
def test_close_mid_utterance_keeps_the_words(realtime: bool) -> None:
    run = _daemon()
    try:
        run.wait_for(lambda s: s["metrics"]["streams_open"] == 1, 60, "the daemon")
        reply = open_stream(run, "push:s16le:44100", close_when_idle=False)
        stop = threading.Event()
        # jfk: "And so, my fellow Americans, ask not what your country can do for you ..."
        feeder = threading.Thread(
            target=push_file,
            args=(reply.push_endpoint, reply.stream_id, JFK),
            kwargs={"realtime": realtime, "stop": stop},
        )
        feeder.start()
        run.wait_for(
            lambda s: (stream_row_of(s, reply.stream_id)["written_s"] or 0) >= 5.0,
            60,
            "5 s of jfk",
        )
        assert isinstance(close_stream(run, reply.stream_id), StreamCloseReply)
        stop.set()
        wait_closed(run, [reply.stream_id], 60)
        feeder.join(timeout=30)
        text = text_of(finals_of(run, reply.stream_id)).lower()
        assert "americans" in text, text
        assert "for your country" not in text  # spoken after the close (~9-11 s)
    finally:
        run.cleanup()
