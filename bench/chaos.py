#!/usr/bin/env python3
"""Chaos: the real daemon on looped speech with random seeded faults, every final checked.

Usage:
    .venv/bin/python bench/chaos.py --minutes 5 --seed 1
    .venv/bin/python bench/chaos.py --minutes 30 --seed 2 --pace realtime --kinds kill:child,term:supervisor

The daemon runs with its normal command (``run.py daemon --source file:AUDIO --loop --pace
fast|realtime``, through ``tests/daemon_harness.DaemonRun``) in one private runtime directory that
every restart reuses (the journal and its numbering go on). A ``TranscriptSubscriber`` (the
reference client) reads finals and speech events the whole time, across restarts. Faults (see
``bench/soak_parts/chaos_faults.py``), one at a time, a uniform ``--gap-s`` apart, drawn from
``--kinds``: SIGKILL / SIGSTOP of a child (capture, vad, asr-N; pids from ``status``), SIGKILL of
the supervisor then a restart, SIGTERM mid-utterance then a restart, replay floods, malformed
frames, a subscriber and a control client that stop reading, the journal's file system full for a
while (a tmpfs; needs root, else skipped with the reason). Each fault is shown to have happened.

Accounting, per daemon run (each run starts the looped file from its beginning; finals are told
apart by their ``run_id``): the expected segments of the loop (``soak_parts/expected.py``, the
in-process VAD with the daemon's configuration) that ended before the run's last announced speech
end must each have a final, in the journal and at the subscriber (``expected.account``). A run
ended by SIGKILL of the supervisor loses what was not yet final (its audio was only in shared
memory): segments ended after its last published final are counted in
``segments_cut_by_supervisor_kill``, not in ``finals_lost``. At a SIGTERM (and the final
shutdown) the utterance open at the signal must get a final with the words the VAD had read:
``words_lost_at_shutdown`` counts the words other loops' finals of the same segment have before
the VAD's read position at the signal (the daemon logs it with the stop) that the run's finals
lack (``chaos_accounting.words_lost_at``).

Last stdout line, one JSON object: finals_lost, finals_duplicated, words_lost_at_shutdown,
unexpected_exits (daemon exits nobody asked for, non-zero exits after SIGTERM/shutdown),
orphans (processes of a run alive 3 s after its supervisor stopped), stale_shm (/dev/shm
segments of the runs left at the end), control_p99_ms (``status`` round trips while the daemon
was up), loop_p99_ms (the supervisor's step latency p99 from status, when it reports it), faults
(proven counts per kind), faults_unproven, and more. Exit status 1 when a fault was claimed but
not shown to have happened, or a target was missed (loss/orphan/exit counts 0,
control_p99_ms <= 50, loop_p99_ms <= 20).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.soak_parts import chaos_faults  # noqa: E402
from bench.soak_parts.chaos_accounting import account_runs, loop_p99_of  # noqa: E402
from bench.soak_parts.expected import compute_template  # noqa: E402
from bench.soak_parts.ledger import LiveLedger, percentile, read_journal  # noqa: E402
from pipeline.ring.cursors import process_start_ms  # noqa: E402

DATA_DIR = REPO_ROOT.parent / "shared" / "data"
DEFAULT_AUDIO = DATA_DIR / "dictation_dev.wav"
INSTANCE = "chaos"
STATUS_POLL_S = 0.5
STARTUP_TIMEOUT_S = 180.0
ORPHAN_WAIT_S = 3.0  # children must be gone this long after their supervisor (target 2 s)
TMPFS_SIZE = "64m"
TARGETS = {"control_p99_ms": 50.0, "loop_p99_ms": 20.0}

logger = logging.getLogger("chaos")


@dataclass
class RunRecord:
    """One daemon run (one supervisor process) of the chaos."""

    index: int
    pid: int
    started_wall_s: float
    log_offset: int
    run_id: str = ""  # from the journal's "open" mark of this run
    first_seq: int | None = None  # the seq its first final gets (that mark's next_seq)
    end_reason: str = ""  # kill:supervisor | term:supervisor | unexpected | final
    exit_code: int | None = None
    exit_wall_s: float | None = None
    exit_after_s: float | None = None
    last_ended_s: float = 0.0  # stream seconds: the last speech end announced by this run
    open_start_s: float | None = None  # an utterance open now (speech started, not ended)
    open_at_term_s: float | None = None  # the one open when SIGTERM / shutdown was sent
    audio_at_term_s: float | None = None  # capture position then
    vad_read_at_term_s: float | None = None  # the VAD's read position then (the daemon's log)
    shutdown_timeout_logged: bool = False
    orphans: list[dict[str, Any]] = field(default_factory=list)
    children: dict[int, int | None] = field(default_factory=dict)  # pid -> start ms (cursors)


def vad_read_at_stop(log: str, stream_id: str = "main") -> float | None:
    """Where the VAD of ``stream_id`` had read when the daemon was asked to stop (its log line
    "stopping: ... (VAD read at the stop: main 12.345 s)"), None without one."""
    found = re.search(
        rf"VAD read at the stop: (?:[^)]*, )?{re.escape(stream_id)} (\d+\.\d+) s", log
    )
    return float(found.group(1)) if found else None


class Chaos:
    def __init__(self, args: argparse.Namespace) -> None:
        import zmq

        self.args = args
        self.rng = random.Random(args.seed)
        self.context = zmq.Context()
        self.t0 = time.monotonic()
        self.load_at_start = round(os.getloadavg()[0], 2)
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="sschaos", dir="/tmp"))
        os.chmod(self.runtime_dir, 0o700)
        self.fs, self.fs_reason = self._mount_tmpfs() if "disk_full" in args.kinds else (None, "")
        journal_dir = self.fs or self.runtime_dir
        self.journal_dir = journal_dir
        self.assignments = [
            "supervisor.heartbeat_timeout_s=3",
            "supervisor.shutdown_timeout_s=60",
            "outputs.journal_keep=100",
            f"outputs.journal_path={journal_dir / f'{INSTANCE}.finals.jsonl'}",
            *args.assignments,
        ]
        self.runs: list[RunRecord] = []
        self.daemon: Any = None
        self.subscriber: Any = None
        self.ledger = LiveLedger(60.0)
        self.live_run_ids: dict[int, str] = {}
        self.words: dict[int, tuple[float, list[float]]] = {}  # seq -> (start_s, word ends)
        self.control_ms: list[float] = []
        self.status_timeouts = 0
        self.loop_p99: dict[int, float] = {}  # run -> its latest whole-life step p99
        self.loop_max: dict[int, float] = {}  # run -> its slowest step (ms), when reported
        self.slow_status: list[tuple[float, float]] = []  # (wall s, ms) of answers over 50 ms
        self.loop_p99_reason = "status reports no supervisor step latency"
        self.last_status: dict[str, Any] | None = None
        self._next_status_s = 0.0
        self._expecting_exit = False
        self.faults: list[chaos_faults.FaultRecord] = []
        self.unexpected: list[str] = []

    # ---- daemon runs ----------------------------------------------------------------------

    def arguments(self) -> list[str]:
        out = ["--source", f"file:{self.args.audio}", "--loop", "--pace", self.args.pace]
        out += ["--workers", str(self.args.workers)]
        for assignment in self.assignments:
            out += ["--set", assignment]
        return out

    def start_run(self) -> None:
        from tests.daemon_harness import DaemonRun

        daemon = DaemonRun(*self.arguments(), instance=INSTANCE, runtime_dir=self.runtime_dir)
        offset = daemon.log_path.stat().st_size if daemon.log_path.exists() else 0
        daemon.start()
        self.daemon = daemon
        self.runs.append(RunRecord(len(self.runs), daemon.pid, self.wall(), offset))
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if daemon.status(timeout_s=2.0) is not None:
                for _ in range(10):
                    self._read_open_mark(self.runs[-1])
                    if self.runs[-1].run_id:
                        break
                    time.sleep(0.2)
                return
            if daemon.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"the daemon did not start; log:\n{daemon.log()[-3000:]}")

    def _read_open_mark(self, run: RunRecord) -> None:
        """This run's id and first seq, from the "open" mark it wrote into the journal (a final
        replayed after a restart carries an older run's id, so live finals cannot tell)."""
        path = self.journal_dir / f"{INSTANCE}.finals.jsonl"
        try:
            lines = path.read_bytes().splitlines()
        except OSError:
            return
        for line in reversed(lines):
            if b'"journal.mark"' in line and b'"open"' in line:
                with contextlib.suppress(ValueError):
                    mark = json.loads(line)
                    if mark.get("run_id") and mark["run_id"] not in self.known_run_ids():
                        run.run_id, run.first_seq = mark["run_id"], int(mark["next_seq"])
                return

    def restart(self) -> None:
        self.start_run()
        self.pump(0.5)

    def end_run(self, reason: str, sig: int | None) -> None:
        """Stop the current run (``sig``, or a ShutdownRequest when None), wait for its exit,
        drain the subscriber, check for orphans."""
        from pipeline.messages import ShutdownRequest

        run, daemon = self.runs[-1], self.daemon
        run.end_reason = reason
        self._snapshot_children(run)
        self._expecting_exit = True
        sent_s = time.monotonic()
        if daemon.process.poll() is not None:
            pass  # already gone (an exit nobody asked for)
        elif sig is None:
            daemon.request(ShutdownRequest(reason="chaos finished"), timeout_s=10.0)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(daemon.pid, sig)
        limit_s = 10.0 if sig == signal.SIGKILL else 60.0 + 30.0
        while daemon.process.poll() is None and time.monotonic() - sent_s < limit_s:
            self._receive(0.05)
        if daemon.process.poll() is None:
            self.unexpected.append(f"run {run.index}: still running {limit_s:.0f} s after {reason}")
            daemon.kill()
        run.exit_code = daemon.process.returncode
        run.exit_wall_s = self.wall()
        run.exit_after_s = round(time.monotonic() - sent_s, 2)
        if sig != signal.SIGKILL and run.exit_code != 0:
            self.unexpected.append(f"run {run.index}: exit code {run.exit_code} after {reason}")
        self._receive(1.0)  # what it published before the exit is queued on the SUB socket
        run.orphans = self._orphans(run)
        log = daemon.log_path.read_bytes()[run.log_offset :].decode(errors="replace")
        run.shutdown_timeout_logged = "shutdown timeout" in log
        if reason != "kill:supervisor":
            run.vad_read_at_term_s = vad_read_at_stop(log)
        daemon.close()
        self._expecting_exit = False

    def _snapshot_children(self, run: RunRecord) -> None:
        import psutil

        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.daemon.pid).children(recursive=True):
                run.children[child.pid] = process_start_ms(child.pid)

    def _orphans(self, run: RunRecord) -> list[dict[str, Any]]:
        """Children of ``run`` alive ``ORPHAN_WAIT_S`` after it ended (then killed: ours)."""
        import psutil

        deadline = time.monotonic() + ORPHAN_WAIT_S
        alive: list[psutil.Process] = []
        while True:
            alive = []
            for pid, created in run.children.items():
                # the same process (pid and start time on a clock no wall-clock step moves), not
                # exited (a zombie counts as gone)
                if created is not None and process_start_ms(pid) == created:
                    with contextlib.suppress(psutil.Error):
                        alive.append(psutil.Process(pid))
            if not alive or time.monotonic() >= deadline:
                break
            self._receive(0.1)
        out = []
        for process in alive:
            with contextlib.suppress(psutil.Error):
                out.append({"pid": process.pid, "cmdline": " ".join(process.cmdline()[-3:])})
                process.kill()
        return out

    # ---- reading and polling --------------------------------------------------------------

    def wall(self) -> float:
        return time.monotonic() - self.t0

    def pump(self, seconds: float) -> None:
        """Read the subscriber and poll status for ``seconds``; a daemon exit nobody asked for
        is recorded and the daemon started again."""
        deadline = time.monotonic() + seconds
        while True:
            self._receive(min(0.05, max(0.0, deadline - time.monotonic())))
            if time.monotonic() >= self._next_status_s:
                self.status()
            if self.daemon.process.poll() is not None and not self._expecting_exit:
                code = self.daemon.process.returncode
                self.unexpected.append(f"run {self.runs[-1].index}: exited by itself ({code})")
                self.end_run("unexpected", None)
                self.restart()
            if time.monotonic() >= deadline:
                return

    def status(self) -> dict[str, Any] | None:
        self._next_status_s = time.monotonic() + STATUS_POLL_S
        started = time.perf_counter()
        status = self.daemon.status(timeout_s=2.0)
        took_ms = (time.perf_counter() - started) * 1000
        if status is None:
            if self.daemon.process.poll() is None:
                self.status_timeouts += 1
                self.control_ms.append(took_ms)
            return None
        self.control_ms.append(took_ms)
        if took_ms > TARGETS["control_p99_ms"]:
            self.slow_status.append((round(self.wall(), 1), round(took_ms, 1)))
        self.last_status = status
        loop = status.get("metrics", {}).get("loop")
        if isinstance(loop, dict) and isinstance(loop.get("max_ms"), int | float):
            self.loop_max[self.runs[-1].index] = loop["max_ms"]
        found = loop_p99_of(status)
        if found is not None:
            self.loop_p99[self.runs[-1].index] = found
        return status

    def _receive(self, timeout_s: float) -> None:
        if self.subscriber is None:
            time.sleep(timeout_s)
            return
        message = self.subscriber.receive(timeout_ms=int(timeout_s * 1000))
        while message is not None:
            self._on_message(message)
            message = self.subscriber.receive(timeout_ms=0)

    def _on_message(self, message: Any) -> None:
        run = self.runs[-1]
        if message.kind == "transcript.final":
            self.ledger.add(message)
            self.live_run_ids[message.seq] = message.run_id
            fresh = run.first_seq is None or message.seq >= run.first_seq
            if (
                message.run_id
                and not run.run_id
                and fresh
                and message.run_id not in self.known_run_ids()
            ):
                run.run_id = message.run_id  # no open mark was read (a full disk at the start)
            self.words[message.seq] = (message.start_s, [w.end_s for w in message.words])
        elif message.kind == "event.speech":
            if message.event == "started":
                run.open_start_s = message.time_s
            else:
                run.open_start_s = None
                run.last_ended_s = max(run.last_ended_s, message.time_s)

    def known_run_ids(self) -> set[str]:
        return {r.run_id for r in self.runs if r.run_id}

    def open_segment_start_s(self) -> float | None:
        return self.runs[-1].open_start_s

    # ---- the chaos ------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        from pipeline.subscriber import TranscriptSubscriber

        args = self.args
        from bench.soak import effective_config

        config = effective_config(
            argparse.Namespace(
                profile=None,
                realtime=args.pace == "realtime",
                workers=args.workers,
                audio=args.audio,
            ),
            self.assignments,
        )
        self.template = compute_template(args.audio, config)
        self.say(f"{self.template.per_loop} segments per {self.template.loop_s:.1f} s loop")
        self.start_run()
        self.subscriber = TranscriptSubscriber(
            self.daemon.endpoint("transcript"),
            self.daemon.endpoint("control"),
            speech_events=True,
            from_seq=0,
            context=self.context,
        )
        end_s = args.minutes * 60
        while len(self.ledger) == 0 and self.wall() < end_s:
            self.pump(0.5)
        next_fault_s = self.wall() + self.rng.uniform(*args.gap_s)
        while self.wall() < end_s:
            self.pump(min(1.0, max(0.0, next_fault_s - self.wall())))
            if self.wall() >= next_fault_s and self.wall() < end_s - args.quiet_tail_s:
                record = self.inject(self.rng.choice(args.kinds))
                self.faults.append(record)
                self.say(
                    f"  {record.wall_s:6.0f} s  {record.kind} {record.target}: "
                    f"{'ok' if record.proven else 'NOT PROVEN'} ({record.proof})"
                )
                next_fault_s = self.wall() + self.rng.uniform(*args.gap_s)
        run = self.runs[-1]
        run.open_at_term_s = self.open_segment_start_s()
        run.audio_at_term_s = float((self.status() or {}).get("ring", {}).get("write_s", 0.0))
        self.end_run("final", None)
        self.subscriber.close()
        return self.summarize()

    def inject(self, kind: str) -> chaos_faults.FaultRecord:
        if kind in ("kill:child", "stop:child"):
            roles = chaos_faults.children_roles(self.status() or {})
            role = self.rng.choice(roles)
            return chaos_faults.do_child_signal(self, role, stop=kind == "stop:child")
        if kind == "kill:supervisor":
            return chaos_faults.do_kill_supervisor(self)
        if kind == "term:supervisor":
            return chaos_faults.do_term_supervisor(self)
        if kind == "replay_flood":
            return chaos_faults.do_replay_flood(self)
        if kind == "malformed":
            return chaos_faults.do_malformed(self)
        if kind == "slow_subscriber":
            return chaos_faults.do_slow_subscriber(self)
        return chaos_faults.do_disk_full(self, self.fs, self.fs_reason)

    def say(self, text: str) -> None:
        if not self.args.quiet:
            print(text, flush=True)

    # ---- results --------------------------------------------------------------------------

    def summarize(self) -> dict[str, Any]:
        from tests.daemon_harness import shm_segments_of

        journal_run_ids: dict[int, str] = {}
        journal_rows, _, journal_stats = read_journal(
            self.journal_dir, INSTANCE, run_ids=journal_run_ids
        )
        accounting = account_runs(
            self.runs,
            self.template,
            journal_rows,
            journal_run_ids,
            self.ledger.rows(),
            self.live_run_ids,
            self.words,
            self.args.tolerance_s,
        )
        stale = sorted({name for run in self.runs for name in shm_segments_of(run.pid)})
        counts: dict[str, int] = {}
        unproven = []
        skipped = []
        for record in self.faults:
            if record.proven:
                counts[record.kind] = counts.get(record.kind, 0) + 1
            elif record.proof.startswith("skipped"):
                skipped.append(record.proof)
            else:
                unproven.append(vars(record))
        control_p99 = percentile(self.control_ms, 0.99) if self.control_ms else None
        loop_p99 = max(self.loop_p99.values()) if self.loop_p99 else None
        orphans = [o for run in self.runs for o in run.orphans]
        result: dict[str, Any] = {
            "minutes": self.args.minutes,
            "seed": self.args.seed,
            "pace": self.args.pace,
            "runs": len(self.runs),
            **accounting["headline"],
            "unexpected_exits": len(self.unexpected),
            "unexpected_exit_details": self.unexpected,
            "orphans": len(orphans),
            "orphan_details": orphans,
            "stale_shm": len(stale),
            "stale_shm_names": stale,
            "control_p99_ms": round(control_p99, 1) if control_p99 is not None else None,
            "control_p50_ms": round(percentile(self.control_ms, 0.5), 1)
            if self.control_ms
            else None,
            "control_max_ms": round(max(self.control_ms), 1) if self.control_ms else None,
            "status_requests": len(self.control_ms),
            "status_timeouts": self.status_timeouts,
            "loop_p99_ms": loop_p99,
            "loop_p99_ms_per_run": self.loop_p99,
            "loop_max_ms_per_run": self.loop_max,
            "slow_status_answers": sorted(self.slow_status, key=lambda x: -x[1])[:20],
            # the machine's load (1-minute average) when the run started and ended: every
            # latency above is wall time, inflated on a busy machine
            "load_avg_1m": [self.load_at_start, round(os.getloadavg()[0], 2)],
            "cpu_count": os.cpu_count(),
            "faults": counts,
            "faults_unproven": unproven,
            "faults_skipped": sorted(set(skipped)),
            "fault_events": [
                {k: v for k, v in vars(r).items() if k != "details"} | r.details
                for r in self.faults
            ],
            "term_exits": [
                {
                    "run": r.index,
                    "exit_after_s": r.exit_after_s,
                    "exit_code": r.exit_code,
                    "mid_utterance": r.open_at_term_s is not None,
                    "shutdown_timeout_logged": r.shutdown_timeout_logged,
                    "vad_read_at_term_s": r.vad_read_at_term_s,
                }
                for r in self.runs
                if r.end_reason in ("term:supervisor", "final")
            ],
            "accounting": accounting["per_run"],
            "cross_check": accounting["cross_check"],
            "journal": journal_stats,
            "subscriber": vars(self.subscriber.counters),
            "runtime_dir": str(self.runtime_dir),
        }
        if loop_p99 is None:
            result["loop_p99_reason"] = self.loop_p99_reason
        problems = []
        for key in ("finals_lost", "finals_duplicated", "words_lost_at_shutdown"):
            if result[key]:
                problems.append(f"{key} {result[key]}")
        for key in ("unexpected_exits", "orphans", "stale_shm"):
            if result[key]:
                problems.append(f"{key} {result[key]}")
        for key, target in TARGETS.items():
            if result[key] is not None and result[key] > target:
                problems.append(f"{key} {result[key]} > {target}")
        if unproven:
            problems.append(f"{len(unproven)} fault(s) claimed but not shown to have happened")
        result["problems"] = problems
        result["passed"] = not problems
        return result

    def close(self) -> None:
        if self.daemon is not None and self.daemon.process.poll() is None:
            self.daemon.kill()
        if self.fs is not None:
            subprocess.run(["umount", "-l", str(self.fs)], check=False)
        self.context.term()
        if not self.args.keep_runtime:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def _mount_tmpfs(self) -> tuple[Path | None, str]:
        if os.geteuid() != 0:
            return None, "mounting a tmpfs for the journal needs root; not root here"
        where = self.runtime_dir / "journalfs"
        where.mkdir()
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs", str(where)],
            capture_output=True,
            text=True,
        )
        if mounted.returncode != 0:
            return None, f"cannot mount a tmpfs: {mounted.stderr.strip()}"
        return where, ""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="wall time (default 5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--audio", type=Path, default=DEFAULT_AUDIO, help="file to loop")
    parser.add_argument("--pace", choices=("fast", "realtime"), default="fast")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--kinds",
        default=",".join(chaos_faults.KINDS),
        help=f"comma-separated fault kinds (default all: {','.join(chaos_faults.KINDS)})",
    )
    parser.add_argument("--gap-s", type=float, nargs=2, default=(5.0, 15.0), metavar=("MIN", "MAX"))
    parser.add_argument(
        "--quiet-tail-s", type=float, default=20.0, help="no fault starts in the last seconds"
    )
    parser.add_argument("--tolerance-s", type=float, default=0.5)
    parser.add_argument(
        "--set", dest="assignments", action="append", default=[], metavar="SECTION.KEY=VALUE"
    )
    parser.add_argument("--out", type=Path, help="write the full results JSON here")
    parser.add_argument(
        "--keep-runtime", action="store_true", help="keep the runtime dir (journal, daemon log)"
    )
    parser.add_argument("--quiet", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in args.kinds if k not in chaos_faults.KINDS]
    if unknown:
        raise SystemExit(f"unknown fault kind(s) {unknown}; known: {', '.join(chaos_faults.KINDS)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.getLogger("pipeline.subscriber").setLevel(logging.ERROR)
    chaos = Chaos(args)
    try:
        result = chaos.run()
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=2, default=str))
            log = chaos.runtime_dir / f"{INSTANCE}.log"
            if log.exists():
                shutil.copyfile(log, args.out.with_suffix(".daemon.log"))
    finally:
        chaos.close()
    if not args.quiet:
        for problem in result["problems"]:
            print(f"PROBLEM: {problem}")
    print(json.dumps(result, default=str), flush=True)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
