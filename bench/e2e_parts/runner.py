"""One run of the real daemon (``run.py daemon``) with a live subscriber and status polls.

The subscriber (``pipeline.subscriber.TranscriptSubscriber``, the client ``run.py subscribe``
uses) runs in its own thread so every final, partial and speech event is stamped with the wall
time it arrived, whatever the main thread is doing. The main thread polls the daemon's status
(the data of ``run.py status --json``): to map stream seconds to wall time at realtime pace, to
sample each process's CPU, and to feed a ``KillController``.

Stream second 0 in wall time (``origin_unix_s``): each status reply gives the ring's write
position ``write_s``; the capture writes a block once its time has come, so
``reply_time - write_s`` is at least the origin; the smallest value over the run is the estimate
(high by at most one capture block and the 10 ms rounding of ``write_s``).
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.e2e_parts.cpu_breakdown import CpuSampler, engine_by_kind
from bench.e2e_parts.faults import KillController, LogTail, status_cli_command
from bench.e2e_parts.latency import ArrivedFinal
from tests.daemon_harness import DaemonRun
from tests.data_paths import REPO_ROOT

logger = logging.getLogger(__name__)

STATUS_INTERVAL_S = 1.0  # status polls in a plain run (few: each costs the supervisor CPU)
KILL_POLL_S = 0.02  # status polls while a kill is due or followed
RUN_TIMEOUT_MARGIN_S = 240.0  # a run may take its audio length plus this


@dataclass
class RunResult:
    name: str
    profile: str
    pace: str
    exit_code: int
    wall_s: float
    finals: list[dict[str, Any]]  # journal records, seq order
    received_unix_s: dict[int, float]  # seq -> when the subscriber got it
    partials: list[tuple[float, int, float]]  # (arrival, segment_id, start_s)
    origin_unix_s: float | None  # wall time of stream second 0
    cpu_s: float  # getrusage of the reaped daemon tree
    cpu_s_sampled: float  # psutil, last sample per pid
    cpu_s_by_role: dict[str, float]  # psutil, last sample per pid, by role (asr-N apart)
    cpu_s_start_by_role: dict[str, float]  # the same when the audio began to flow (start-up)
    engine_by_kind: dict[str, dict[str, dict[str, float]]]  # asr role -> request kind -> totals
    last_status: dict[str, Any] | None
    kills: KillController | None
    log_tail: str

    @property
    def text(self) -> str:
        return " ".join(f["text"] for f in self.finals if f["text"]).strip()

    @property
    def latencies_ms(self) -> list[float]:
        return [f["latency_ms"] for f in self.finals]

    @property
    def not_received(self) -> list[int]:
        """Journaled finals the subscriber never got."""
        return [f["seq"] for f in self.finals if f["seq"] not in self.received_unix_s]

    def arrived(self) -> list[ArrivedFinal]:
        return [
            ArrivedFinal(
                f["seq"], f["text"], f["start_s"], f["end_s"], self.received_unix_s[f["seq"]]
            )
            for f in self.finals
            if f["seq"] in self.received_unix_s
        ]


class SubscriberThread(threading.Thread):
    """Finals, partials and speech events with their arrival times, off the real PUB socket."""

    def __init__(self, transcript_endpoint: str, control_endpoint: str) -> None:
        super().__init__(name="bench-subscriber", daemon=True)
        self.endpoints = (transcript_endpoint, control_endpoint)
        self.finals: dict[int, float] = {}
        self.partials: list[tuple[float, int, float]] = []
        self.ended = 0
        self._halt = threading.Event()
        self._ready = threading.Event()

    def run(self) -> None:
        from pipeline.messages import SpeechEvent, TranscriptFinal, TranscriptPartial
        from pipeline.subscriber import TranscriptSubscriber

        subscriber = TranscriptSubscriber(
            *self.endpoints, partials=True, speech_events=True, idle_check_s=None
        )
        self._ready.set()
        try:
            while not self._halt.is_set():
                message = subscriber.receive(timeout_ms=50)
                now = time.time()
                if isinstance(message, TranscriptFinal):
                    self.finals.setdefault(message.seq, now)
                elif isinstance(message, TranscriptPartial):
                    self.partials.append((now, message.segment_id, message.start_s))
                elif isinstance(message, SpeechEvent) and message.event == "ended":
                    self.ended += 1
        finally:
            subscriber.close()

    def start_and_wait(self) -> None:
        self.start()
        self._ready.wait(10)

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


class LoggedDaemonRun(DaemonRun):
    """``DaemonRun`` with a chosen log level (the fault run reads DEBUG dispatch lines)."""

    def __init__(self, *arguments: str, log_level: str, instance: str) -> None:
        super().__init__(*arguments, instance=instance)
        self.log_level = log_level

    def start(self, stdin_path: Path | None = None) -> LoggedDaemonRun:
        command = [
            sys.executable, str(REPO_ROOT / "run.py"), "--log-level", self.log_level, "daemon",
            "--instance", self.instance, "--set", f"outputs.runtime_dir={self.runtime_dir}",
            *self.arguments,
        ]  # fmt: skip
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            cwd=REPO_ROOT,
        )
        return self


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_daemon(
    name: str,
    audio: Path,
    audio_s: float,
    *,
    pace: str,
    profile: str,
    workers: int,
    max_kills: int = 0,
    log_dir: Path | None = None,
    settings: tuple[str, ...] = (),
) -> RunResult:
    """Run the daemon on ``audio`` to its end; ``max_kills`` > 0 kills a worker on a final."""
    timeout_s = (audio_s if pace == "realtime" else 0.0) + RUN_TIMEOUT_MARGIN_S
    cpu_before_s = children_cpu_s()
    started_s = time.monotonic()
    run = LoggedDaemonRun(
        "--source", f"file:{audio}", "--pace", pace, "--workers", str(workers),
        "--profile", profile, *(a for kv in settings for a in ("--set", kv)),
        log_level="DEBUG" if max_kills else "INFO", instance="b",
    ).start()  # fmt: skip
    sampler = CpuSampler(run.pid)
    kills = (
        KillController(
            max_kills,
            LogTail(run.log_path),
            status_cli_command(REPO_ROOT, run.instance, run.runtime_dir),
        )
        if max_kills
        else None
    )
    subscriber = SubscriberThread(run.endpoint("transcript"), run.endpoint("control"))
    subscriber.start_and_wait()
    origins: list[float] = []
    last_status: dict[str, Any] | None = None
    try:
        while run.process.poll() is None:
            if time.monotonic() - started_s > timeout_s:
                raise SystemExit(f"{name}: daemon still running after {timeout_s:.0f} s")
            status = run.status(timeout_s=2.0)
            replied_unix_s = time.time()
            if status is not None:
                last_status = status
                write_s = status.get("ring", {}).get("write_s", 0.0)
                if write_s > 0 and not status["ring"].get("ended"):
                    origins.append(replied_unix_s - write_s)
                rows = [r for r in status["processes"] if r.get("pid")]
                ended = bool(status.get("ring", {}).get("ended"))  # sample often to the end
                sampler.sample({r["pid"]: r["role"] for r in rows}, streaming=write_s > 0,
                               force=ended, states={r["pid"]: r.get("state", "") for r in rows})  # fmt: skip
                if kills is not None:
                    pending = subscriber.ended > len(subscriber.finals)
                    kills.observe(status, pending)
            fast = kills is not None and not kills.done
            time.sleep(KILL_POLL_S if fast else STATUS_INTERVAL_S)
        exit_code = run.wait(30)
    finally:
        run.close()
        time.sleep(0.2)  # the last finals reach the subscriber thread
        subscriber.stop()
    cpu_s = children_cpu_s() - cpu_before_s
    log = run.log()
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        (log_dir / f"{name}.log").write_text(log)
    journal = run.runtime_dir / f"{run.instance}.finals.jsonl"
    finals = run.journal() if journal.exists() else []
    if kills is not None:
        kills.read_log(log)
    result = RunResult(
        name=name,
        profile=profile,
        pace=pace,
        exit_code=exit_code,
        wall_s=round(time.monotonic() - started_s, 2),
        finals=finals,
        received_unix_s=dict(subscriber.finals),
        partials=list(subscriber.partials),
        origin_unix_s=min(origins) if origins and pace == "realtime" else None,
        cpu_s=round(cpu_s, 3),
        cpu_s_sampled=round(sum(sampler.cpu_s.values()), 3),
        cpu_s_by_role=sampler.by_role(),
        cpu_s_start_by_role=sampler.start_by_role(),
        engine_by_kind=engine_by_kind(log),
        last_status=last_status,
        kills=kills,
        log_tail=log[-3000:],
    )
    shutil.rmtree(run.runtime_dir, ignore_errors=True)
    return result
