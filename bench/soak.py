#!/usr/bin/env python3
"""Stability soak: the real daemon on looping audio for hours, with memory, segment accounting,
latency drift and (``--faults``) fault injection.

Usage:
    .venv/bin/python bench/soak.py --minutes 10 --faults --seed 1          # accelerated
    .venv/bin/python bench/soak.py --hours 24 --realtime --workers 2        # 24 h of real time
    .venv/bin/python bench/soak.py --hours 2 --faults --set supervisor.heartbeat_timeout_s=5
    .venv/bin/python bench/soak.py --hours 24 --silence-hours 1 --silence-every 60   # nights

Silent stretches (``--silence-hours H --silence-every N``): the looped file becomes N passes of
the audio then H hours of silence (``--silence-kind digital|noise``: zeros, or noise at -60 dBFS),
written next to the results (soak_parts/silence.py); at pace fast an hour of silence takes
minutes. The expected segments come from the in-process VAD over that composite file.

The daemon runs with its normal command (``run.py daemon --source file:AUDIO --loop --pace
fast|realtime --workers N``, through ``tests/daemon_harness.DaemonRun``: a private runtime
directory, log at INFO). Pace ``fast`` (default) runs as fast as the workers keep up: the
supervisor's ring cursor throttles capture to transcription progress. ``--hours`` stops after that
much audio, ``--minutes`` after that much wall time. Defaults added to the daemon's command (a
``--set`` of the same key wins): ``supervisor.shutdown_timeout_s=60`` (the backlog is transcribed
at the end, so every due segment can be checked), ``outputs.journal_keep=100`` (no final rotates
away), and with ``--faults`` ``supervisor.heartbeat_timeout_s=3`` (hangs are found quickly).

Figures (``--out DIR``, default bench/results/soak/: results.json, memory.png, latency.png,
summary.md, daemon.log; the last stdout line is one JSON object):
    audio_hours, wall_hours      audio captured (ring write position) and wall time, start-up
                                 and shutdown included
    rss_slope_upper_mb_per_audio_h   the worst daemon process's slope + 2 standard errors, from
                                 its comparable samples (asr workers: idle right after a
                                 request, else the lowest RSS per 15 s window, see
                                 soak_parts/memory.py; others: every sample);
                                 ``rss_slope_upper_role`` names it. Target ≤ 1 (24 h), ≤ 5 for a
                                 15-minute run.
    rss_slope_mb_per_audio_h     worst daemon process: RSS growth per hour of AUDIO after the
                                 warm-up (``--warmup-audio-min``, default 20 % of the audio, at
                                 most 30 min), with ``rss_slope_stderr``; ``per_process`` has every
                                 role's RSS (and MLX active / cache) slope ± stderr. Restarted
                                 roles: one slope with a level per pid, the first
                                 ``--restart-settle-s`` of each replacement left out (see
                                 soak_parts/memory.py). Target ≤ 1 MB per audio hour.
    lost                         expected segments (in-process VAD over the looped file, see
                                 soak_parts/expected.py) that ended before the last speech end
                                 announced before the stop, with no final. Target 0.
    duplicated                   expected segments with more than one final, plus repeated
                                 segment ids. Target 0.
    out_of_order                 finals whose seq or start_s goes backwards (journal order).
    restarts                     sum of every process's restarts in the last status before the
                                 stop; should be ≥ faults_injected (each fault costs one).
    latency_p50_ms, _p95_ms      end of speech (VAD decision) to final, over the finals after
                                 the warm-up; in pace fast this includes queueing behind the
                                 ring's backlog.
    latency_p95_drift            p95 of the last interval / p95 of the first interval after the
                                 warm-up − 1 (``--interval-s``). Target ≤ 0.10.
    faults_injected              kills and hangs (see soak_parts/faults.py), with outcomes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.soak_parts.expected import (  # noqa: E402
    DEFAULT_TOLERANCE_S,
    TEMPLATE_PASSES,
    ReferenceSpeech,
    compute_template,
)
from bench.soak_parts.faults import DEFAULT_KINDS, FaultInjector  # noqa: E402
from bench.soak_parts.ledger import LiveLedger  # noqa: E402
from bench.soak_parts.memory import MemorySeries  # noqa: E402
from bench.soak_parts.results import headline, print_summary, restarts_of, summarize  # noqa: E402
from bench.soak_parts.silence import SILENCE_KINDS, build_looped_audio  # noqa: E402
from pipeline.audio_format import SAMPLE_RATE_HZ  # noqa: E402

DATA_DIR = REPO_ROOT.parent / "shared" / "data"
DEFAULT_AUDIO = DATA_DIR / "dictation_dev.wav"
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "soak"
STATUS_POLL_S = 1.0  # status requests (fault schedule, restarts, audio position)
STARTUP_TIMEOUT_S = 180.0  # the daemon must answer status by then
DRAIN_GRACE_S = 30.0  # past the daemon's shutdown timeout: it is hung, kill it


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--audio", type=Path, default=DEFAULT_AUDIO, help="file to loop")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--hours", type=float, help="stop after this much AUDIO")
    length.add_argument("--minutes", type=float, help="stop after this much wall time")
    parser.add_argument("--realtime", action="store_true", help="pace realtime (default fast)")
    parser.add_argument("--workers", type=int, default=2, help="asr workers (default 2)")
    parser.add_argument("--profile", help="daemon profile (the expected segments follow it)")
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="passed to the daemon (repeatable)",
    )
    parser.add_argument("--faults", action="store_true", help="inject kills and hangs")
    parser.add_argument("--seed", type=int, default=1, help="fault schedule seed")
    parser.add_argument(
        "--fault-kinds",
        default=",".join(DEFAULT_KINDS),
        help=f"comma-separated (default {','.join(DEFAULT_KINDS)})",
    )
    parser.add_argument(
        "--fault-gap-s",
        type=float,
        nargs=2,
        default=(12.0, 30.0),
        metavar=("MIN", "MAX"),
        help="seconds between faults (uniform)",
    )
    parser.add_argument(
        "--silence-hours",
        type=float,
        default=0.0,
        help="hours of silence inserted after every --silence-every passes (a night; default 0)",
    )
    parser.add_argument(
        "--silence-every",
        type=int,
        default=10,
        metavar="PASSES",
        help="passes of the audio between silent stretches (default 10)",
    )
    parser.add_argument(
        "--silence-kind", choices=SILENCE_KINDS, default="digital", help="zeros or -60 dBFS noise"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results directory")
    parser.add_argument("--sample-s", type=float, help="memory sampling interval (auto)")
    parser.add_argument("--interval-s", type=float, help="latency interval (auto)")
    parser.add_argument("--warmup-audio-min", type=float, help="warm-up in audio minutes (auto)")
    parser.add_argument(
        "--restart-settle-s",
        type=float,
        default=60.0,
        help="wall seconds of a replacement process left out of the slope fit",
    )
    parser.add_argument(
        "--tolerance-s",
        type=float,
        default=DEFAULT_TOLERANCE_S,
        help="start-time tolerance matching a final to an expected segment",
    )
    parser.add_argument(
        "--keep-runtime", action="store_true", help="keep the daemon's runtime dir (journal, log)"
    )
    parser.add_argument("--quiet", action="store_true", help="only the final JSON line")
    return parser


def daemon_settings(args: argparse.Namespace) -> list[str]:
    """``--set`` assignments for the daemon: the soak's defaults, then the user's (which win)."""
    keys = {a.split("=", 1)[0].strip() for a in args.assignments}
    defaults = {"supervisor.shutdown_timeout_s": "60", "outputs.journal_keep": "100"}
    if args.faults:
        defaults["supervisor.heartbeat_timeout_s"] = "3"
    return [f"{k}={v}" for k, v in defaults.items() if k not in keys] + list(args.assignments)


def effective_config(args: argparse.Namespace, assignments: list[str]) -> Any:
    from config.loader import load_config, parse_assignments

    overrides: dict[str, Any] = parse_assignments(assignments)
    if args.profile:
        overrides["profile"] = args.profile
    overrides.update(
        {
            "capture.loop": True,
            "capture.pace": "realtime" if args.realtime else "fast",
            "asr.workers": args.workers,
            "capture.source": f"file:{args.audio}",
        }
    )
    return load_config(None, cli_overrides=overrides).config


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.pace = "realtime" if args.realtime else "fast"
        self.assignments = daemon_settings(args)
        self.config = effective_config(args, self.assignments)
        planned_s = args.minutes * 60 if args.minutes else None
        if planned_s is None and args.hours and args.realtime:
            planned_s = args.hours * 3600
        self.planned_wall_s = planned_s
        span = planned_s or 3600.0
        self.sample_s = args.sample_s or min(30.0, max(2.0, span / 200))
        self.interval_s = args.interval_s or min(300.0, max(10.0, span / 20))
        self.memory = MemorySeries()
        self.ledger = LiveLedger(self.interval_s)
        self.last_ended_s = 0.0
        self.first_final_s: float | None = None
        self.problems: list[str] = []
        self.status_timeouts = 0
        supervisor = self.config.supervisor
        self.faults = (
            FaultInjector(
                args.seed,
                tuple(k.strip() for k in args.fault_kinds.split(",") if k.strip()),
                args.fault_gap_s[0],
                args.fault_gap_s[1],
                heartbeat_timeout_s=supervisor.heartbeat_timeout_s,
                restart_window_s=supervisor.restart_window_s,
            )
            if args.faults
            else None
        )

    def say(self, text: str) -> None:
        if not self.args.quiet:
            print(text, flush=True)

    # ---- the run ------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        from pipeline.messages import ShutdownRequest
        from pipeline.subscriber import TranscriptSubscriber
        from tests.daemon_harness import DaemonRun

        args = self.args
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.say(f"expected segments: in-process VAD over {args.audio.name} ...")
        passes = 3 if args.silence_hours > 0 else TEMPLATE_PASSES  # an hour a pass: keep it short
        template = compute_template(args.audio, self.config, passes)
        layout = args.silence_layout
        speech = ReferenceSpeech.from_reference(
            args.speech_audio,
            layout.every_passes if layout else 1,
            layout.speech_samples / SAMPLE_RATE_HZ if layout else template.loop_s,
        )
        self.template = dataclasses.replace(template, speech=speech)
        self.say(
            f"  {self.template.per_loop} segments per {self.template.loop_s:.2f} s loop "
            f"(jitter {self.template.template_jitter_s * 1000:.0f} ms)"
        )
        arguments = [
            "--source",
            f"file:{args.audio}",
            "--loop",
            "--pace",
            self.pace,
            "--workers",
            str(args.workers),
        ]
        if args.profile:
            arguments += ["--profile", args.profile]
        for assignment in self.assignments:
            arguments += ["--set", assignment]
        daemon = DaemonRun(*arguments, instance="soak")
        self.command = "run.py --log-level INFO daemon --instance soak " + " ".join(arguments)
        self.t0 = time.monotonic()
        daemon.start()
        subscriber = None
        status: dict[str, Any] | None = None
        exit_code: int | None = None
        try:
            status = self._await_start(daemon)
            subscriber = TranscriptSubscriber(
                daemon.endpoint("transcript"),
                daemon.endpoint("control"),
                speech_events=True,
                from_seq=0,
            )
            status = self._loop(daemon, subscriber, status)
            self.stop_wall_s = self.wall()
            self.stop_audio_s = float(status["ring"]["write_s"])
            self.cutoff_s = self.last_ended_s
            self.final_status = status
            if self.faults:
                self.faults.release_all()
            self.ledger.tick(self.stop_wall_s, self.stop_audio_s, force=True)
            self.live_before_stop = len(self.ledger)
            self.say(f"stopping at {self.stop_wall_s:.0f} s wall, {self.stop_audio_s:.0f} s audio")
            if daemon.process.poll() is None:
                daemon.request(ShutdownRequest(reason="soak finished"), timeout_s=10.0)
            exit_code = self._drain(daemon, subscriber)
        finally:
            if self.faults:
                self.faults.release_all()
            if subscriber is not None:
                subscriber.close()
            daemon.close()
        self.wall_end_s = self.wall()
        return summarize(self, daemon, exit_code)

    def wall(self) -> float:
        return time.monotonic() - self.t0

    def _await_start(self, daemon: Any) -> dict[str, Any]:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            status = daemon.status(timeout_s=2.0)
            if status is not None:
                return status
            if daemon.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"the daemon did not start; log:\n{daemon.log()[-3000:]}")

    def _loop(self, daemon: Any, subscriber: Any, status: dict[str, Any]) -> dict[str, Any]:
        next_poll_s = next_sample_s = 0.0
        next_say_s = 60.0
        while True:
            self._receive(subscriber, timeout_ms=100)
            now_s = self.wall()
            if now_s < next_poll_s:
                continue
            next_poll_s = now_s + STATUS_POLL_S
            fresh = daemon.status(timeout_s=5.0)
            if fresh is None:
                if daemon.process.poll() is not None:
                    self.problems.append(
                        f"the daemon exited ({daemon.process.returncode}) "
                        f"during the run at {now_s:.0f} s"
                    )
                    return status
                self.status_timeouts += 1
                continue
            status = fresh
            audio_s = float(status["ring"]["write_s"])
            for row in status["processes"]:
                if row.get("pid"):
                    self.memory.observe_pid(row["role"], row["pid"], now_s, audio_s)
                if row.get("state") == "failed":
                    problem = f"{row['role']} failed: {row.get('last_failure', '')}"
                    if problem not in self.problems:
                        self.problems.append(problem)
            self.memory.sample_after_requests(status, now_s)
            self.memory.observe_floor(status, now_s)
            if now_s >= next_sample_s:
                next_sample_s = now_s + self.sample_s
                self.memory.sample(status, daemon.pid, now_s)
            self.ledger.tick(now_s, audio_s)
            if self.faults:
                end_s = self.planned_wall_s or float("inf")
                fault = self.faults.step(status, now_s, end_s, self.first_final_s)
                if fault is not None:
                    self.say(
                        f"  {now_s:6.0f} s  fault: {fault.kind} {fault.role} (pid {fault.pid})"
                    )
            if now_s >= next_say_s:
                next_say_s = now_s + 60.0
                metrics = status["metrics"]
                self.say(
                    f"  {now_s:6.0f} s  audio {audio_s / 3600:.3f} h  finals "
                    f"{metrics['finals']}  p95 {metrics['latency_p95_ms']:.0f} ms  "
                    f"restarts {restarts_of(status)}"
                )
            if self._done(now_s, audio_s):
                return status

    def _done(self, wall_s: float, audio_s: float) -> bool:
        if self.args.minutes is not None:
            return wall_s >= self.args.minutes * 60
        return audio_s >= (self.args.hours or 0.0) * 3600

    def _receive(self, subscriber: Any, timeout_ms: int) -> None:
        message = subscriber.receive(timeout_ms=timeout_ms)
        while message is not None:
            if message.kind == "transcript.final":
                self.ledger.add(message)
                if self.first_final_s is None:
                    self.first_final_s = self.wall()
            elif message.kind == "event.speech" and message.event == "ended":
                self.last_ended_s = max(self.last_ended_s, message.time_s)
            message = subscriber.receive(timeout_ms=0)

    def _drain(self, daemon: Any, subscriber: Any) -> int | None:
        """Keep reading finals until the daemon exits (it publishes the backlog first)."""
        limit_s = self.config.supervisor.shutdown_timeout_s + DRAIN_GRACE_S
        deadline = time.monotonic() + limit_s
        while daemon.process.poll() is None and time.monotonic() < deadline:
            self._receive(subscriber, timeout_ms=100)
        if daemon.process.poll() is None:
            self.problems.append(
                f"daemon bug: still running {limit_s:.0f} s after the shutdown request "
                f"(children: {child_summary(daemon.pid)}); killed"
            )
            kill_tree(daemon.pid)
            daemon.kill()
        # what was published before the exit is queued on the SUB socket; replay is gone now
        logging.getLogger("pipeline.subscriber").setLevel(logging.ERROR)
        subscriber.replay_retries = 0
        subscriber.replay_timeout_ms = 50
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            self._receive(subscriber, timeout_ms=100)
        code = daemon.process.returncode
        if code != 0:
            self.problems.append(f"daemon exit code {code}")
        return code


def child_summary(pid: int) -> str:
    import psutil

    try:
        children = psutil.Process(pid).children(recursive=True)
        return ", ".join(f"{c.pid} {' '.join(c.cmdline()[-2:])}" for c in children) or "none"
    except psutil.Error:
        return "unknown"


def kill_tree(pid: int) -> None:
    """SIGKILL the daemon's children (the soak started them, through the daemon)."""
    import psutil

    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.minutes is None and args.hours is None:
        args.minutes = 10.0
    if not args.audio.exists():
        raise SystemExit(f"audio file {args.audio} not found")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.speech_audio = args.audio
    args.silence = None
    args.silence_layout = None
    if args.silence_hours > 0:
        args.out.mkdir(parents=True, exist_ok=True)
        composite = args.out / f"looped_{args.audio.stem}_silence.wav"
        layout = build_looped_audio(
            args.audio, composite, args.silence_hours, args.silence_every, args.silence_kind
        )
        args.silence = {
            "hours": args.silence_hours,
            "every_passes": args.silence_every,
            "kind": args.silence_kind,
            "fraction": round(layout.silence_fraction(), 4),
            "file": str(composite),
        }
        args.audio = composite
        args.silence_layout = layout
    result = Soak(args).run()
    if not args.quiet:
        print_summary(result)
        print(f"results in {args.out}")
    print(json.dumps(headline(result)), flush=True)
    return result


if __name__ == "__main__":
    main()
