"""The daemon as users run it: real processes, real sockets, the real embedded model, real audio."""

from __future__ import annotations

import os
import random
import signal
import time

import numpy as np
import pytest
import soundfile
import zmq

from pipeline.messages import ShutdownAck, ShutdownRequest, encode
from pipeline.messages.control import ReplayRequest, StatusRequest
from pipeline.subscriber import TranscriptSubscriber
from pipeline.text_metrics import word_error_rate
from tests.daemon_harness import DaemonRun, process_row, reference_text, shm_segments_of
from tests.data_paths import DATA_DIR

DICTATION = DATA_DIR / "dictation_dev.wav"


@pytest.fixture(scope="module")
def offline_dictation_wer() -> float:
    """WER of one offline long-form pass of the same model over the whole file."""
    from pipeline.backends.mlx_runtime import prepare_blas

    prepare_blas(1)
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions
    from pipeline.long_form import transcribe_long

    audio, _ = soundfile.read(DICTATION, dtype="float32")
    backend = WhisperBackend(options=WhisperOptions(blas_threads=1))
    return word_error_rate(
        reference_text("dictation_dev.wav"), transcribe_long(backend, audio).text
    )


def collect_finals(run: DaemonRun, timeout_s: float) -> list:
    """Finals from a real subscriber (gap-free via replay) until the daemon exits."""
    finals = []
    with TranscriptSubscriber(
        run.endpoint("transcript"), run.endpoint("control"), from_seq=0
    ) as subscriber:
        deadline = time.monotonic() + timeout_s
        while run.process.poll() is None:
            assert time.monotonic() < deadline, run.log()[-3000:]
            message = subscriber.receive(timeout_ms=200)
            if message is not None:
                finals.append(message)
    return finals


def test_dictation_streams_no_worse_than_offline_with_contiguous_seq(
    offline_dictation_wer: float,
) -> None:
    run = DaemonRun("--source", f"file:{DICTATION}", "--pace", "fast", "--workers", "2").start()
    try:
        live = collect_finals(run, timeout_s=240)
        assert run.wait(30) == 0, run.log()[-3000:]
        journal = run.journal()
        assert [f["seq"] for f in journal] == list(range(len(journal)))
        assert len(journal) >= 8
        starts = [f["start_s"] for f in journal]
        assert starts == sorted(starts), "finals out of order"
        assert [f.seq for f in live] == [f["seq"] for f in journal[: len(live)]]
        text = " ".join(f["text"] for f in journal)
        streaming_wer = word_error_rate(reference_text("dictation_dev.wav"), text)
        assert streaming_wer <= offline_dictation_wer + 0.005, (
            streaming_wer,
            offline_dictation_wer,
            text,
        )
        assert not shm_segments_of(run.pid), "shared memory left after a clean exit"
        leftovers = [
            p.name
            for p in run.runtime_dir.glob("t.*")
            if p.suffix not in (".jsonl", ".seq", ".log")
        ]
        assert not leftovers, f"sockets or lock left after a clean exit: {leftovers}"
    finally:
        run.cleanup()


def assert_each_range_has_one_final(journal: list[dict]) -> None:
    """Exactly once with commits: a segment may get several finals (the parts committed while
    speech went on), but their time ranges follow each other without overlap; a range that got
    two finals would repeat its start or overlap the part before it."""
    last_end_s: dict[int, float] = {}
    for final in journal:
        segment_id = final["segment_id"]
        if segment_id in last_end_s:
            assert final["start_s"] >= last_end_s[segment_id] - 1e-3, (
                f"segment {segment_id}: a final from {final['start_s']} s overlaps the part "
                f"before it (to {last_end_s[segment_id]} s): a range got two finals"
            )
        last_end_s[segment_id] = final["end_s"]


def test_killed_worker_is_replaced_and_every_segment_gets_exactly_one_final() -> None:
    run = DaemonRun(
        "--source",
        f"file:{DICTATION}",
        "--pace",
        "fast",
        "--workers",
        "1",
        "--set",
        "asr.use_prompt=false",
    ).start()
    try:
        busy = run.wait_for(
            lambda s: process_row(s, "asr-1")["state"] == "busy", 120, "a busy worker"
        )
        victim = process_row(busy, "asr-1")["pid"]
        os.kill(victim, signal.SIGKILL)
        replaced = run.wait_for(
            lambda s: (
                process_row(s, "asr-1")["pid"] != victim
                and process_row(s, "asr-1")["state"] in ("ready", "busy")
            ),
            60,
            "the replacement worker",
        )
        assert process_row(replaced, "asr-1")["restarts"] == 1
        assert run.wait(240) == 0, run.log()[-3000:]
        journal = run.journal()
        assert_each_range_has_one_final(journal)
        segment_ids = [f["segment_id"] for f in journal]
        assert segment_ids == sorted(segment_ids)
        assert [f["seq"] for f in journal] == list(range(len(journal)))
        assert len(journal) >= 8 and sum(1 for f in journal if f["text"]) >= 8
        text = " ".join(f["text"] for f in journal)
        assert word_error_rate(reference_text("dictation_dev.wav"), text) < 0.2
    finally:
        run.cleanup()


def test_kill_9_of_the_daemon_leaves_nothing_the_next_start_does_not_clean() -> None:
    first = DaemonRun("--source", f"file:{DICTATION}", "--pace", "realtime", "--loop")
    first.start()
    try:
        first.wait_for(lambda s: process_row(s, "asr-1")["state"] == "ready", 120, "a ready worker")
        killed_pid = first.pid
        assert shm_segments_of(killed_pid), "the running daemon should own a ring"
        first.kill()
        assert (first.runtime_dir / "t.control").exists()  # what a kill -9 leaves behind
        second = DaemonRun(
            "--source", f"file:{DICTATION}", "--pace", "fast", runtime_dir=first.runtime_dir
        ).start()
        try:
            second.wait_for(lambda s: True, 120, "the second daemon to answer")
            deadline = time.monotonic() + 20
            while shm_segments_of(killed_pid) and time.monotonic() < deadline:
                time.sleep(0.2)  # the killed daemon's children notice their parent is gone
            assert not shm_segments_of(killed_pid), "the killed daemon's ring survived the restart"
            assert isinstance(second.request(ShutdownRequest(reason="test")), ShutdownAck)
            assert second.wait(60) == 0
            assert not shm_segments_of(second.pid)
            leftovers = sorted(
                p.name
                for p in first.runtime_dir.iterdir()
                if p.suffix not in (".jsonl", ".seq", ".log")
            )
            assert leftovers in ([], ["ring-segments"]), leftovers
        finally:
            second.close()
    finally:
        first.cleanup()


def test_ten_thousand_malformed_control_frames_are_answered_or_rejected() -> None:
    run = DaemonRun("--source", f"file:{DICTATION}", "--pace", "realtime", "--loop").start()
    try:
        run.wait_for(lambda s: True, 120, "the daemon to answer")
        rng = random.Random(5)
        valid = encode(StatusRequest())
        frames = []
        for number in range(10_000):
            kind = number % 4
            if kind == 0:
                frames.append(rng.randbytes(rng.randint(0, 64)))
            elif kind == 1:
                frames.append(valid[: rng.randint(0, len(valid) - 1)])
            elif kind == 2:
                mutated = bytearray(valid)
                mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
                frames.append(bytes(mutated))
            else:
                frames.append(encode(ReplayRequest(since_seq=0, max_count=1))[:-1] + b"\xc1")
        dealer = run.context.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(run.endpoint("control"))
        for frame in frames:
            dealer.send_multipart([b"", frame])
        answers = 0
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            while dealer.poll(100):
                dealer.recv_multipart()
                answers += 1
            status = run.status(timeout_s=5.0)
            assert status is not None, "status stopped answering"
            metrics = status["metrics"]
            if metrics["control_rejected"] + answers >= 10_000:
                break
        dealer.close()
        assert status is not None
        assert status["metrics"]["control_rejected"] + answers == 10_000
        assert run.process.poll() is None, "the daemon died"
    finally:
        run.cleanup()


# A file source that cannot be read now fails the start before anything is spawned:
# tests/test_escalation.py::test_a_source_that_cannot_be_opened_fails_the_start_at_once.


# the dictation's first four utterances (the fourth ends at 19.30 s, the fifth starts at 19.80 s)
FIRST_PART_S = 19.55


@pytest.fixture(scope="module")
def first_part_of_the_dictation(tmp_path_factory) -> tuple:
    """The dictation cut after its fourth utterance, and the reference text of those four."""
    import json

    audio, rate = soundfile.read(DICTATION, dtype="int16")
    path = tmp_path_factory.mktemp("audio") / "dictation_first_part.wav"
    soundfile.write(path, audio[: int(FIRST_PART_S * rate)], rate)
    utterances = json.loads(DICTATION.with_suffix(".json").read_text())["utterances"]
    kept = [u for u in utterances if u["end"] < FIRST_PART_S]
    assert len(kept) == 4
    return path, " ".join(u["text"] for u in kept), kept[-1]["start"]


@pytest.mark.parametrize("role", ["capture", "vad"])
def test_killed_capture_or_vad_is_restarted_and_the_stream_resumes(
    role: str, first_part_of_the_dictation: tuple
) -> None:
    audio, reference, last_start_s = first_part_of_the_dictation
    run = DaemonRun("--source", f"file:{audio}", "--pace", "realtime", "--workers", "1").start()
    try:
        status = run.wait_for(lambda s: s["ring"]["write_s"] > 8.0, 120, "8 s of audio")
        victim = process_row(status, role)["pid"]
        os.kill(victim, signal.SIGKILL)
        status = run.wait_for(
            lambda s: (
                process_row(s, role)["pid"] not in (victim, None)
                and process_row(s, role)["state"] == "running"
            ),
            30,
            f"{role} to be restarted",
        )
        assert process_row(status, role)["restarts"] == 1
        assert run.wait(180) == 0, run.log()[-3000:]
        journal = run.journal()
        assert [f["seq"] for f in journal] == list(range(len(journal)))
        assert_each_range_has_one_final(journal)
        # speech after the kill was still transcribed, to the end of the file (its last utterance)
        text = " ".join(f["text"] for f in journal)
        assert journal[-1]["end_s"] > last_start_s + 1.0, journal[-1]
        assert word_error_rate(reference, text) < 0.3, text
    finally:
        run.cleanup()


@pytest.mark.parametrize(
    "stall_s", [pytest.param(6.0, id="6s"), pytest.param(60.0, id="60s", marks=pytest.mark.slow)]
)
def test_a_stalled_subscriber_costs_no_memory_and_catches_up_by_replay(stall_s: float) -> None:
    import psutil

    run = DaemonRun(
        "--source",
        f"file:{DICTATION}",
        "--pace",
        "fast",
        "--loop",
        "--workers",
        "2",
        "--set",
        "outputs.high_water_mark=5",
        "--set",
        "vad.partial_interval_s=0.5",
    ).start()
    try:
        run.wait_for(lambda s: s["metrics"]["finals"] >= 3, 120, "the first finals")
        daemon = psutil.Process(run.pid)
        with TranscriptSubscriber(
            run.endpoint("transcript"), run.endpoint("control"), partials=True, high_water_mark=5
        ) as subscriber:
            first = None
            while first is None or first.kind != "transcript.final":
                first = subscriber.receive(timeout_ms=30_000)
                assert first is not None
            rss_before = daemon.memory_info().rss
            finals_before = run.status()["metrics"]["finals"]
            time.sleep(stall_s)  # not reading: the daemon's queue for us fills and drops
            rss_after = daemon.memory_info().rss
            finals_during = run.status()["metrics"]["finals"] - finals_before
            assert finals_during >= 3, "the daemon should keep publishing meanwhile"
            seqs = [first.seq]
            deadline = time.monotonic() + 60
            while seqs[-1] < first.seq + finals_during and time.monotonic() < deadline:
                message = subscriber.receive(timeout_ms=1000)
                if message is not None and message.kind == "transcript.final":
                    seqs.append(message.seq)
            assert seqs == list(range(first.seq, seqs[-1] + 1)), "finals missing or repeated"
            assert subscriber.counters.replayed > 0, "the gap should have been filled by replay"
        assert (rss_after - rss_before) / 1e6 < 10, (rss_before, rss_after)
    finally:
        run.cleanup()


def test_tcp_on_a_non_loopback_address_needs_curve_keys(tmp_path) -> None:
    run = DaemonRun(
        "--source",
        f"file:{DICTATION}",
        "--set",
        "outputs.transport=tcp",
        "--set",
        "outputs.tcp_host=0.0.0.0",
        "--set",
        "outputs.tcp_base_port=47930",
    ).start()
    try:
        assert run.wait(60) == 2
        assert "curve_keys_dir" in run.log() and "keys generate" in run.log()
    finally:
        run.cleanup()


def test_a_worker_over_its_memory_limit_is_recycled_without_losing_work() -> None:
    run = DaemonRun(
        "--source",
        f"file:{DICTATION}",
        "--pace",
        "fast",
        "--workers",
        "1",
        "--set",
        "supervisor.memory_limit_mb=64",  # below any worker's RSS: recycled after each request
    ).start()
    try:
        assert run.wait(240) == 0, run.log()[-3000:]
        journal = run.journal()
        assert [f["seq"] for f in journal] == list(range(len(journal)))
        assert len(journal) >= 8 and sum(1 for f in journal if f["text"]) >= 8
        log = run.log()
        assert "over its memory limit" in log and "drained: starting a fresh one" in log
        assert "marked failed" not in log
    finally:
        run.cleanup()


def test_raw_pcm_on_stdin_is_transcribed(tmp_path) -> None:
    audio, rate = soundfile.read(DATA_DIR / "harvard_list72_8k.wav", dtype="int16")
    raw = tmp_path / "harvard.s16le"
    raw.write_bytes(np.ascontiguousarray(audio).tobytes())
    run = DaemonRun("--source", f"stdin:s16le:{rate}").start(stdin_path=raw)
    try:
        assert run.wait(180) == 0, run.log()[-3000:]
        text = " ".join(f["text"] for f in run.journal())
        reference = (DATA_DIR / "references.json").read_text()
        import json

        wer = word_error_rate(json.loads(reference)["harvard_list72_8k.wav"], text)
        assert wer < 0.25, text
        assert not (run.runtime_dir / "t.stdin").exists(), "the stdin FIFO was left behind"
    finally:
        run.cleanup()


def test_graceful_shutdown_finishes_queued_finals_without_restarting_capture() -> None:
    run = DaemonRun(
        "--source",
        f"file:{DICTATION}",
        "--pace",
        "fast",
        "--loop",
        "--workers",
        "1",
        "--set",
        "supervisor.shutdown_timeout_s=60",
        # a 40 s ring bounds the backlog at pace fast to the few segments it holds (~6; the
        # default 120 s ring queued ~15, each drained at shutdown by the one worker)
        "--set",
        "ring.capacity_s=40",
        "--set",
        "vad.max_segment_s=15",  # under half the ring (the dictation's utterances are < 4 s)
    ).start()
    try:
        run.wait_for(
            lambda s: s["metrics"]["finals"] >= 3 and s["metrics"]["queue"]["finals"] >= 2,
            120,
            "a backlog",
        )
        run.process.send_signal(signal.SIGTERM)
        assert run.wait(90) == 0, run.log()[-3000:]
        log = run.log()
        assert "restarting it" not in log, "capture or VAD restarted during shutdown"
        assert "given up" not in log and "ring_overrun" not in log
        journal = run.journal()
        assert [f["seq"] for f in journal] == list(range(len(journal)))
        assert all(f["text"] for f in journal[-3:]), "the last finals lost their words"
    finally:
        run.cleanup()
