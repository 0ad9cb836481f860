"""End-to-end daemon bench: the real ``run.py daemon`` against one offline pass of the same model.

For each of dictation_dev.wav and monologue_dev.wav (file source, pace fast, a private runtime
directory per run):

1. a clean run;
2. a run in which one asr worker is killed with SIGKILL while it is busy on a segment that has
   ended (so the request in flight is a final; the log confirms it by a "sent again" line);

and one run of dictation_dev.wav at pace realtime, whose latencies reflect live use rather than
a queue of audio arriving 100x faster than speech. Then, in this process, one offline
long-form pass (``pipeline.long_form.transcribe_long``, ``WhisperBackend`` with the options a
daemon worker gets) over each whole file, and the engine alone on the same segment spans the
daemon's finals cover (cut into the same chunks the scheduler cuts).

Figures (the last output line is one JSON object):

    wer_stream_minus_offline   WER of the streamed finals minus WER of the offline pass, per
                               file, worst and mean (clean fast runs; target <= 0.005)
    finals_lost                segments of a clean run with no final (or only an empty one where
                               the clean run had text) in the killed run, plus seq gaps in any
                               run (target 0)
    finals_duplicated          segment ids published twice plus finals whose spans overlap another
                               final by more than half, over all runs (target 0)
    restart_s                  SIGKILL -> the replacement worker's "ready" log line (worst file;
                               target <= 2), split into detection (kill -> "replacing it") and
                               load (the pool's "loaded in X s"); ``restart_polled_s`` is the
                               same seen by polling status every ~20 ms
    latency_p50_ms / _p95_ms   the finals' latency_ms (SpeechEnded reaches the supervisor ->
                               final published) of the REALTIME dictation run: live use
    latency_fast_p50_ms / _p95_ms  the same over the clean fast runs (includes queueing)
    latency_user_p50_ms / _p95_ms  realtime run, as a user sees it: the last word's end in the
                               stream -> the final arriving at a subscriber (includes the VAD's
                               hangover, which latency_ms does not)
    engine_p50_ms / _p95_ms    the engine alone on the realtime run's segment spans, in-process
                               (the daemon's status carries no engine time); the difference to
                               latency_p50_ms is the pipeline's overhead
    cpu_overhead_ratio         CPU seconds of the daemon (supervisor and every descendant) over
                               the CPU seconds of the offline engine pass on the same audio
                               (clean fast runs, all files). Measured with getrusage of the
                               reaped process tree; ``cpu_overhead_ratio_sampled`` is the same
                               from psutil cpu_times sampled every 100 ms per pid.

Usage: .venv/bin/python bench/daemon_e2e.py [--workers N] [--quick] [--keep-logs DIR]

``--quick``: dictation only, and the realtime pass on its first 15 s (a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import soundfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.audio_format import SAMPLE_RATE_HZ  # noqa: E402
from pipeline.text_metrics import word_error_rate  # noqa: E402
from tests.daemon_harness import DaemonRun  # noqa: E402
from tests.data_paths import DATA_DIR  # noqa: E402
from workers.daemon_status import percentile  # noqa: E402

FILES = ("dictation_dev.wav", "monologue_dev.wav")
REALTIME_FILE = "dictation_dev.wav"
QUICK_REALTIME_S = 15.0  # --quick: the realtime pass covers this much of the file
POLL_S = 0.02  # status polls while waiting for a busy worker or its replacement
CPU_SAMPLE_INTERVAL_S = 0.1  # psutil samples of every daemon process
RUN_TIMEOUT_S = 300.0  # one daemon run, fast or realtime
KILL_ATTEMPTS = 3  # fresh runs tried until a kill lands on a final request
SPAN_OVERLAP_MATCH = 0.5  # two finals "cover the same audio" above this share of the shorter
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
TARGETS = {
    "wer_stream_minus_offline.worst": "<= 0.005",
    "finals_lost": "== 0",
    "finals_duplicated": "== 0",
    "restart_s": "<= 2",
}


# ---- one daemon run -------------------------------------------------------------------------


@dataclass
class KillReport:
    victim_pid: int
    killed_at_unix_s: float
    role: str
    replacement_pid: int | None = None
    ready_polled_unix_s: float | None = None  # first status showing the replacement ready
    replacing_logged_unix_s: float | None = None  # "asr-N (pid P) ...: replacing it"
    ready_logged_unix_s: float | None = None  # "asr-N ready (pid Q, ..., loaded in X s)"
    load_s: float | None = None  # the X above
    resent: list[str] = field(default_factory=list)  # "sent again" log lines after the kill

    @property
    def hit_final(self) -> bool:
        return any("chunk" in line for line in self.resent)

    def figures(self) -> dict[str, Any]:
        def since_kill(t: float | None) -> float | None:
            return None if t is None else round(t - self.killed_at_unix_s, 3)

        return {
            "role": self.role,
            "restart_s": since_kill(self.ready_logged_unix_s),
            "detection_s": since_kill(self.replacing_logged_unix_s),
            "load_s": self.load_s,
            "restart_polled_s": since_kill(self.ready_polled_unix_s),
            "killed_request": "final" if self.hit_final else "partial or none",
            "resent": self.resent,
        }


@dataclass
class RunResult:
    name: str
    exit_code: int
    wall_s: float
    finals: list[dict[str, Any]]  # journal records, seq order
    received_unix_s: dict[int, float]  # seq -> when a live subscriber got it
    stream_origin_unix_s: float | None  # wall time of stream second 0 (realtime runs)
    cpu_s: float  # getrusage of the reaped daemon tree
    cpu_s_sampled: float  # psutil, last sample per pid
    cpu_s_by_role: dict[str, float]
    last_status: dict[str, Any] | None
    kill: KillReport | None
    log_tail: str

    @property
    def text(self) -> str:
        return " ".join(f["text"] for f in self.finals if f["text"]).strip()

    @property
    def latencies_ms(self) -> list[float]:
        return [f["latency_ms"] for f in self.finals]


class CpuSampler:
    """Last-seen CPU seconds of the daemon and every descendant (sampled before they exit)."""

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self.cpu_s: dict[int, float] = {}
        self.roles: dict[int, str] = {}
        self._next_s = 0.0

    def sample(self, now_s: float, roles: dict[int, str]) -> None:
        self.roles.update(roles)
        if now_s < self._next_s:
            return
        self._next_s = now_s + CPU_SAMPLE_INTERVAL_S
        try:
            root = psutil.Process(self.root_pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for process in processes:
            try:
                times = process.cpu_times()
                self.cpu_s[process.pid] = times.user + times.system
                if process.pid not in self.roles:
                    self.roles[process.pid] = (
                        "supervisor" if process.pid == self.root_pid else process.name()
                    )
            except psutil.Error:
                continue  # it exited between the listing and the read

    def by_role(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for pid, seconds in self.cpu_s.items():
            role = self.roles.get(pid, "other")
            totals[role] = round(totals.get(role, 0.0) + seconds, 3)
        return totals


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_daemon(
    name: str, audio: Path, pace: str, workers: int, kill: bool, log_dir: Path | None
) -> RunResult:
    from pipeline.messages import SpeechEvent, TranscriptFinal
    from pipeline.subscriber import TranscriptSubscriber

    cpu_before_s = children_cpu_s()
    started_s = time.monotonic()
    run = DaemonRun(
        "--source", f"file:{audio}", "--pace", pace, "--workers", str(workers), instance="b"
    ).start()
    sampler = CpuSampler(run.pid)
    received: dict[int, float] = {}
    origins: list[float] = []
    ended = finals_seen = 0
    kill_report: KillReport | None = None
    last_status: dict[str, Any] | None = None
    subscriber = TranscriptSubscriber(
        run.endpoint("transcript"), run.endpoint("control"), speech_events=True, idle_check_s=None
    )
    try:
        while run.process.poll() is None:
            if time.monotonic() - started_s > RUN_TIMEOUT_S:
                raise SystemExit(f"{name}: daemon still running after {RUN_TIMEOUT_S} s")
            while (message := subscriber.receive(timeout_ms=0)) is not None:
                if isinstance(message, TranscriptFinal):
                    received[message.seq] = time.time()
                    finals_seen += 1
                elif isinstance(message, SpeechEvent) and message.event == "ended":
                    ended += 1
            asked_unix_s = time.time()
            status = run.status(timeout_s=2.0)
            if status is not None:
                last_status = status
                origins.append(asked_unix_s - status["ring"]["write_s"])
                roles = {row["pid"]: row["role"] for row in status["processes"] if row.get("pid")}
                sampler.sample(time.monotonic(), roles)
                if kill and kill_report is None:
                    kill_report = maybe_kill(status, ended > finals_seen)
                elif kill_report is not None and kill_report.ready_polled_unix_s is None:
                    note_replacement(status, kill_report)
            time.sleep(POLL_S)
        exit_code = run.wait(30)
    finally:
        subscriber.close()
        run.close()
    cpu_s = children_cpu_s() - cpu_before_s
    log = run.log()
    if log_dir is not None:
        (log_dir / f"{name}.log").write_text(log)
    finals = run.journal() if (run.runtime_dir / f"{run.instance}.finals.jsonl").exists() else []
    if kill_report is not None:
        read_kill_log(log, kill_report)
    result = RunResult(
        name=name,
        exit_code=exit_code,
        wall_s=round(time.monotonic() - started_s, 2),
        finals=finals,
        received_unix_s=received,
        stream_origin_unix_s=min(origins) if origins and pace == "realtime" else None,
        cpu_s=round(cpu_s, 3),
        cpu_s_sampled=round(sum(sampler.cpu_s.values()), 3),
        cpu_s_by_role=sampler.by_role(),
        last_status=last_status,
        kill=kill_report,
        log_tail=log[-3000:],
    )
    shutil.rmtree(run.runtime_dir, ignore_errors=True)
    return result


def maybe_kill(status: dict[str, Any], final_pending: bool) -> KillReport | None:
    """SIGKILL a busy worker while a segment has ended and its final is not out yet."""
    if not final_pending:
        return None
    for row in status["processes"]:
        if row["role"].startswith("asr") and row["state"] == "busy" and row.get("pid"):
            os.kill(row["pid"], signal.SIGKILL)
            return KillReport(row["pid"], time.time(), row["role"])
    return None


def note_replacement(status: dict[str, Any], report: KillReport) -> None:
    for row in status["processes"]:
        if (
            row["role"] == report.role
            and row.get("pid") not in (None, report.victim_pid)
            and row["state"] in ("ready", "busy")
        ):
            report.replacement_pid = row["pid"]
            report.ready_polled_unix_s = time.time()


def log_time(line: str) -> float | None:
    match = LOG_TIME.match(line)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def read_kill_log(log: str, report: KillReport) -> None:
    """The supervisor's own account of the kill: detection, replacement ready, requests resent."""
    ready = re.compile(rf"{re.escape(report.role)} ready \(pid (\d+), .*loaded in ([\d.]+) s\)")
    for line in log.splitlines():
        at = log_time(line)
        if at is None or at < report.killed_at_unix_s - 1.0:
            continue
        if f"(pid {report.victim_pid})" in line and "replacing it" in line:
            report.replacing_logged_unix_s = report.replacing_logged_unix_s or at
        elif (match := ready.search(line)) and int(match.group(1)) != report.victim_pid:
            if report.ready_logged_unix_s is None:
                report.ready_logged_unix_s = at
                report.load_s = float(match.group(2))
        elif "sent again" in line:
            report.resent.append(line.split(": ", 1)[-1])


# ---- comparing runs -------------------------------------------------------------------------


def overlap_share(a: dict[str, Any], b: dict[str, Any]) -> float:
    overlap = min(a["end_s"], b["end_s"]) - max(a["start_s"], b["start_s"])
    shorter = min(a["end_s"] - a["start_s"], b["end_s"] - b["start_s"])
    return max(0.0, overlap) / shorter if shorter > 0 else 0.0


def seq_gaps(run: RunResult) -> int:
    seqs = [f["seq"] for f in run.finals]
    return (seqs[-1] - seqs[0] + 1 - len(set(seqs))) if seqs else 0


def duplicates(run: RunResult) -> int:
    ids = [f["segment_id"] for f in run.finals]
    by_id = len(ids) - len(set(ids))
    spoken = [f for f in run.finals if f["text"]]
    by_span = sum(
        1
        for i, a in enumerate(spoken)
        for b in spoken[i + 1 :]
        if a["segment_id"] != b["segment_id"] and overlap_share(a, b) > SPAN_OVERLAP_MATCH
    )
    return by_id + by_span


def lost_against(clean: RunResult, killed: RunResult) -> list[dict[str, Any]]:
    """Segments of the clean run the killed run has no final for (or only an empty one)."""
    missing = []
    for final in clean.finals:
        matches = [f for f in killed.finals if overlap_share(final, f) > 0.0]
        if not matches or (final["text"] and not any(f["text"] for f in matches)):
            missing.append(
                {k: final[k] for k in ("segment_id", "start_s", "end_s", "text")}
                | {"killed_run_matches": len(matches)}
            )
    return missing


# ---- offline, in this process ---------------------------------------------------------------


class OfflineEngine:
    """The model as a daemon worker loads it, run in this process."""

    def __init__(self, workers: int) -> None:
        from dataclasses import replace

        from config.loader import load_config
        from pipeline.backends.mlx_runtime import default_blas_threads
        from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions
        from pipeline.scheduling.options import SchedulerOptions

        config = load_config(None, cli_overrides={"asr.workers": workers}).config
        threads = config.asr.blas_threads or default_blas_threads(workers)
        options = replace(WhisperOptions.from_config(config.asr), blas_threads=threads)
        self.backend = WhisperBackend("", options)
        self.chunking = SchedulerOptions.from_config(config, "whisper", "model").chunking
        self.blas_threads = threads

    def long_form(self, audio: np.ndarray) -> tuple[str, float, float]:
        """(text, wall seconds, CPU seconds of this process) of one offline pass."""
        from pipeline.long_form import transcribe_long

        cpu_s, wall_s = time.process_time(), time.perf_counter()
        text = transcribe_long(self.backend, audio).text
        return text, time.perf_counter() - wall_s, time.process_time() - cpu_s

    def segment_ms(self, audio: np.ndarray, finals: list[dict[str, Any]]) -> list[float]:
        """Engine milliseconds per final's span, cut into the scheduler's chunks."""
        from pipeline.chunking import split_span

        times_ms, prompt = [], ""
        for final in finals:
            start = round(final["start_s"] * SAMPLE_RATE_HZ)
            end = min(len(audio), round(final["end_s"] * SAMPLE_RATE_HZ))
            total_ms = 0.0
            for chunk in split_span(start, end, self.chunking):
                started_s = time.perf_counter()
                self.backend.transcribe(
                    audio[chunk.start_index : chunk.end_index], prompt=prompt or None
                )
                total_ms += (time.perf_counter() - started_s) * 1000.0
            times_ms.append(total_ms)
            prompt = final["text"] or prompt
        return times_ms


def load_audio(path: Path) -> np.ndarray:
    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE_HZ:
        raise SystemExit(f"{path}: expected {SAMPLE_RATE_HZ} Hz, found {rate}")
    return np.ascontiguousarray(audio.mean(axis=1))


def per_file_audio_s(name: str) -> float:
    return round(soundfile.info(str(DATA_DIR / name)).duration, 2)


def reference_text(name: str) -> str:
    return json.loads((DATA_DIR / name.replace(".wav", ".json")).read_text())["text"]


def user_latencies_ms(run: RunResult) -> list[float]:
    """Realtime run: last word's end (stream time mapped to wall time) -> final received."""
    if run.stream_origin_unix_s is None:
        return []
    values = []
    for final in run.finals:
        arrived = run.received_unix_s.get(final["seq"])
        if arrived is None or not final["words"]:
            continue
        spoken_end = run.stream_origin_unix_s + final["words"][-1]["end_s"]
        values.append((arrived - spoken_end) * 1000.0)
    return values


def rounded(values: list[float], digits: int = 1) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 0.5), digits),
        "p95": round(percentile(values, 0.95), digits),
    }


# ---- main -----------------------------------------------------------------------------------


def killed_run(name: str, path: Path, workers: int, log_dir: Path | None) -> RunResult:
    """A run whose kill hit a final request (up to ``KILL_ATTEMPTS`` fresh runs)."""
    result = None
    for attempt in range(1, KILL_ATTEMPTS + 1):
        result = run_daemon(f"{name}-kill{attempt}", path, "fast", workers, True, log_dir)
        report = result.kill
        if report is not None and report.hit_final:
            return result
        what = "no busy worker seen" if report is None else "the kill hit no final request"
        print(f"  kill attempt {attempt}: {what}; trying again")
    assert result is not None
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1, help="asr workers (default: config's)")
    parser.add_argument("--quick", action="store_true", help="dictation only, short realtime run")
    parser.add_argument("--keep-logs", type=Path, help="write every daemon log into DIR")
    args = parser.parse_args(argv)
    if args.keep_logs:
        args.keep_logs.mkdir(parents=True, exist_ok=True)
    files = FILES[:1] if args.quick else FILES

    clean: dict[str, RunResult] = {}
    killed: dict[str, RunResult] = {}
    for name in files:
        stem = name.removesuffix(".wav")
        path = DATA_DIR / name
        clean[name] = run_daemon(f"{stem}-clean", path, "fast", args.workers, False, args.keep_logs)
        print(
            f"{stem} clean: {len(clean[name].finals)} finals in {clean[name].wall_s:.1f} s, "
            f"exit {clean[name].exit_code}, CPU {clean[name].cpu_s:.1f} s "
            f"(sampled {clean[name].cpu_s_sampled:.1f} s: {clean[name].cpu_s_by_role})"
        )
        killed[name] = killed_run(stem, path, args.workers, args.keep_logs)
        kill = killed[name].kill
        print(
            f"{stem} killed: {len(killed[name].finals)} finals in {killed[name].wall_s:.1f} s, "
            f"exit {killed[name].exit_code}, kill {kill.figures() if kill else 'not done'}"
        )

    with tempfile.TemporaryDirectory() as tmp:
        realtime_path = DATA_DIR / REALTIME_FILE
        if args.quick:
            audio = load_audio(realtime_path)[: int(QUICK_REALTIME_S * SAMPLE_RATE_HZ)]
            realtime_path = Path(tmp) / "realtime.wav"
            soundfile.write(realtime_path, audio, SAMPLE_RATE_HZ, subtype="FLOAT")
        realtime = run_daemon("dictation-realtime", realtime_path, "realtime", args.workers,
                              False, args.keep_logs)  # fmt: skip
    print(
        f"realtime: {len(realtime.finals)} finals in {realtime.wall_s:.1f} s, latency_ms "
        f"{rounded(realtime.latencies_ms)}, user-seen {rounded(user_latencies_ms(realtime))}"
    )

    engine = OfflineEngine(args.workers)
    per_file: dict[str, dict[str, Any]] = {}
    engine_fast_ms: list[float] = []
    offline_cpu_s = daemon_cpu_s = daemon_cpu_sampled_s = 0.0
    for name in files:
        stem = name.removesuffix(".wav")
        audio = load_audio(DATA_DIR / name)
        engine.long_form(audio[: SAMPLE_RATE_HZ * 5])  # warm-up
        offline_text, offline_wall_s, offline_file_cpu_s = engine.long_form(audio)
        reference = reference_text(name)
        wer_offline = word_error_rate(reference, offline_text)
        wer_clean = word_error_rate(reference, clean[name].text)
        wer_killed = word_error_rate(reference, killed[name].text)
        engine_fast_ms += engine.segment_ms(audio, clean[name].finals)
        offline_cpu_s += offline_file_cpu_s
        daemon_cpu_s += clean[name].cpu_s
        daemon_cpu_sampled_s += clean[name].cpu_s_sampled
        lost = lost_against(clean[name], killed[name])
        per_file[stem] = {
            "audio_s": round(len(audio) / SAMPLE_RATE_HZ, 2),
            "wer_offline": round(wer_offline, 4),
            "wer_stream": round(wer_clean, 4),
            "wer_killed": round(wer_killed, 4),
            "finals_clean": len(clean[name].finals),
            "finals_killed": len(killed[name].finals),
            "lost_segments": lost,
            "kill": killed[name].kill.figures() if killed[name].kill else None,
            "offline_wall_s": round(offline_wall_s, 3),
            "offline_cpu_s": round(offline_file_cpu_s, 3),
            "daemon_cpu_s": clean[name].cpu_s,
            "daemon_cpu_s_sampled": clean[name].cpu_s_sampled,
            "daemon_cpu_s_by_role": clean[name].cpu_s_by_role,
            "daemon_wall_s": clean[name].wall_s,
            "exit_codes": [clean[name].exit_code, killed[name].exit_code],
            "scheduler_killed_run": (killed[name].last_status or {}).get("scheduler"),
        }
        print(
            f"{stem}: WER offline {wer_offline:.4f}, stream {wer_clean:.4f}, killed run "
            f"{wer_killed:.4f}; offline pass {offline_wall_s:.2f} s wall, "
            f"{offline_file_cpu_s:.2f} s CPU; lost {len(lost)}"
        )
    engine_realtime_ms = engine.segment_ms(load_audio(DATA_DIR / REALTIME_FILE), realtime.finals)

    runs = [*clean.values(), *killed.values(), realtime]
    deltas = {stem: round(f["wer_stream"] - f["wer_offline"], 4) for stem, f in per_file.items()}
    kills = [f["kill"] for f in per_file.values() if f["kill"]]
    restart = [k["restart_s"] for k in kills if k["restart_s"] is not None]
    restart_polled = [k["restart_polled_s"] for k in kills if k["restart_polled_s"] is not None]
    fast_latencies = [ms for run in clean.values() for ms in run.latencies_ms]
    latency = rounded(realtime.latencies_ms)
    user_latency = rounded(user_latencies_ms(realtime))
    engine_realtime = rounded(engine_realtime_ms)
    summary = {
        "wer_stream_minus_offline": {
            **deltas,
            "worst": max(deltas.values()),
            "mean": round(statistics.mean(deltas.values()), 4),
        },
        "wer_killed_minus_offline": {
            stem: round(f["wer_killed"] - f["wer_offline"], 4) for stem, f in per_file.items()
        },
        "finals_lost": sum(len(f["lost_segments"]) for f in per_file.values())
        + sum(seq_gaps(run) for run in runs),
        "finals_duplicated": sum(duplicates(run) for run in runs),
        "restart_s": max(restart) if restart else None,
        "restart_detection_s": max((k["detection_s"] or 0.0) for k in kills) if kills else None,
        "restart_load_s": max((k["load_s"] or 0.0) for k in kills) if kills else None,
        "restart_polled_s": max(restart_polled) if restart_polled else None,
        "kills_hit_final": [k["killed_request"] == "final" for k in kills],
        "latency_p50_ms": latency["p50"],
        "latency_p95_ms": latency["p95"],
        "latency_fast_p50_ms": rounded(fast_latencies)["p50"],
        "latency_fast_p95_ms": rounded(fast_latencies)["p95"],
        "latency_user_p50_ms": user_latency["p50"],
        "latency_user_p95_ms": user_latency["p95"],
        "engine_p50_ms": engine_realtime["p50"],
        "engine_p95_ms": engine_realtime["p95"],
        "engine_fast_p50_ms": rounded(engine_fast_ms)["p50"],
        "pipeline_overhead_p50_ms": round(latency["p50"] - engine_realtime["p50"], 1),
        "cpu_overhead_ratio": round(daemon_cpu_s / max(offline_cpu_s, 1e-9), 3),
        "cpu_overhead_ratio_sampled": round(daemon_cpu_sampled_s / max(offline_cpu_s, 1e-9), 3),
        "cpu_realtime_run_s": realtime.cpu_s,
        "latency_note": (
            "latency_p50/p95_ms: realtime-paced dictation (live use); latency_fast_*: file at "
            "pace fast (includes queueing); latency_user_*: realtime, last word's end -> "
            "final at a subscriber (includes VAD hangover); engine_*: in-process engine time "
            "on the realtime run's segment spans"
        ),
        "workers": args.workers,
        "blas_threads": engine.blas_threads,
        "quick": args.quick,
        "realtime_audio_s": QUICK_REALTIME_S if args.quick else per_file_audio_s(REALTIME_FILE),
        "per_file": per_file,
        "exit_codes_ok": all(run.exit_code == 0 for run in runs),
        "targets": TARGETS,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
