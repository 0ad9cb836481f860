"""The bench suite: every bench as a subprocess, its figures against their targets in one report.

Runs ring_ipc, engine, parallel, vad, daemon_e2e and soak one after the other (never two at a
time: they share the cores they measure), each as its own process from the project root. For
each it keeps the output, parses the last JSON line and writes

    bench/results/<bench>.json   {"bench", "command", "status", "exit_code", "wall_s", "figures"}
    bench/results/<bench>.log    its stdout and stderr

and at the end ``bench/results/REPORT.md``: the machine (cores, CPU model, Python, mlx), the
date, one markdown table of every figure against its target (pass/fail), the plots (the soak
writes its own into bench/results/soak/; PNGs other benches leave in bench/results/<bench>/ are
listed too) and the commands. A bench that exits non-zero, times out, or prints no JSON line is
reported as failed and the suite goes on; a bench whose script is missing is "not available".

    .venv/bin/python bench/run_all.py [--soak-minutes 10] [--quick] [--only NAME,...]

``--quick``: every bench with its smallest settings (a smoke run of the plumbing, minutes).
Exit status: 0 when every bench ran and met its targets, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from report_parts.machine import machine_info  # noqa: E402
from report_parts.markdown import STATUS_OK, BenchOutcome, render_report  # noqa: E402

RESULTS_DIR = BENCH_DIR / "results"
OUTPUT_TAIL_CHARS = 3000  # of a failed bench's output, in the report
QUICK_TIMEOUT_S = 900  # per bench with --quick
FULL_TIMEOUT_S = 3600  # per bench otherwise (the soak gets its minutes on top)


@dataclass(frozen=True)
class BenchSpec:
    name: str
    script: Path  # must exist, else the bench is "not available"
    arguments: Callable[[argparse.Namespace], list[str]]  # after the interpreter
    timeout_s: Callable[[argparse.Namespace], float]


def default_timeout(args: argparse.Namespace) -> float:
    return QUICK_TIMEOUT_S if args.quick else FULL_TIMEOUT_S


def daemon_e2e_timeout(args: argparse.Namespace) -> float:
    """The full run plays the 21-minute dev set at speaking speed once per profile (two)."""
    return default_timeout(args) * (1 if args.quick else 2)


def soak_timeout(args: argparse.Namespace) -> float:
    return default_timeout(args) + soak_minutes(args) * 60 * 1.5


def soak_minutes(args: argparse.Namespace) -> float:
    return 1 if args.quick else args.soak_minutes


def _minutes(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


SPECS = (
    BenchSpec(
        "ring_ipc",
        BENCH_DIR / "ring_ipc.py",
        lambda a: ["bench/ring_ipc.py", *(["--ticks", "300", "--ring-seconds", "0.1"] * a.quick)],
        default_timeout,
    ),
    BenchSpec(
        "engine",
        BENCH_DIR / "engine.py",
        lambda a: ["-m", "bench.engine", *(["--rounds", "1", "--variants", "float32"] * a.quick)],
        default_timeout,
    ),
    BenchSpec(
        "parallel",
        BENCH_DIR / "parallel.py",
        lambda a: ["bench/parallel.py", *(["--repeat", "1"] * a.quick)],
        default_timeout,
    ),
    BenchSpec(
        "vad",
        BENCH_DIR / "vad.py",
        lambda a: ["bench/vad.py", *(["--repeat", "1", "--no-process"] * a.quick)],
        default_timeout,
    ),
    BenchSpec(
        "daemon_e2e",
        BENCH_DIR / "daemon_e2e.py",
        lambda a: [
            "bench/daemon_e2e.py",
            "--keep-logs",
            str(RESULTS_DIR / "daemon_e2e"),
            *(["--quick"] * a.quick),
        ],
        daemon_e2e_timeout,
    ),
    BenchSpec(
        "soak",
        BENCH_DIR / "soak.py",
        lambda a: [
            "bench/soak.py",
            "--minutes",
            _minutes(soak_minutes(a)),
            "--faults",
            "--out",
            str(RESULTS_DIR / "soak"),
        ],
        soak_timeout,
    ),
)


def last_json_object(output: str) -> dict | None:
    """The last line of ``output`` that is one JSON object (benches print it last)."""
    for line in reversed(output.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def run_bench(spec: BenchSpec, args: argparse.Namespace) -> BenchOutcome:
    command = [sys.executable, *spec.arguments(args)]
    outcome = BenchOutcome(spec.name, command)
    if not spec.script.exists():
        outcome.status = "not available"
        outcome.error = f"{spec.script.relative_to(ROOT)} does not exist"
        return outcome
    plot_dir = RESULTS_DIR / spec.name
    started_at = time.time()
    started_s = time.monotonic()
    # its own session, so a timeout takes the bench's children (daemons, workers) down with it
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    timed_out = False
    try:
        stdout, stderr = process.communicate(timeout=spec.timeout_s(args))
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
    outcome.wall_s = round(time.monotonic() - started_s, 1)
    outcome.exit_code = process.returncode
    (RESULTS_DIR / f"{spec.name}.log").write_text(
        f"$ {' '.join(command)}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    )
    outcome.figures = last_json_object(stdout)
    tail = (stdout[-OUTPUT_TAIL_CHARS // 2 :] + "\n" + stderr[-OUTPUT_TAIL_CHARS // 2 :]).strip()
    if timed_out:
        outcome.status, outcome.error = "timed out", f"killed after {spec.timeout_s(args):.0f} s"
    elif process.returncode != 0:
        outcome.status, outcome.error = "failed", f"exit status {process.returncode}"
    elif outcome.figures is None:
        outcome.status, outcome.error = "failed", "its output has no JSON line"
    if outcome.status != STATUS_OK:
        outcome.output_tail = tail
    outcome.plots = collect_plots(plot_dir, started_at)
    return outcome


def collect_plots(plot_dir: Path, since_unix_s: float) -> list[str]:
    """PNGs under ``plot_dir`` written by this run, relative to the results directory; PNGs a
    bench left in the project root or bench/ are moved there first."""
    for stray in (*ROOT.glob("*.png"), *BENCH_DIR.glob("*.png")):
        if stray.stat().st_mtime >= since_unix_s:
            plot_dir.mkdir(parents=True, exist_ok=True)
            shutil.move(str(stray), plot_dir / stray.name)
    if not plot_dir.is_dir():
        return []
    return sorted(
        str(p.relative_to(RESULTS_DIR))
        for p in plot_dir.rglob("*.png")
        if p.stat().st_mtime >= since_unix_s
    )


def write_result(outcome: BenchOutcome) -> None:
    record = {
        "bench": outcome.name,
        "command": outcome.command,
        "status": outcome.status,
        "error": outcome.error,
        "exit_code": outcome.exit_code,
        "wall_s": outcome.wall_s,
        "plots": outcome.plots,
        "figures": outcome.figures,
    }
    (RESULTS_DIR / f"{outcome.name}.json").write_text(json.dumps(record, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak-minutes", type=float, default=10, help="soak length (default 10)")
    parser.add_argument("--quick", action="store_true", help="smallest settings: a smoke run")
    parser.add_argument("--only", help="comma-separated bench names (default: all)")
    args = parser.parse_args(argv)
    specs = SPECS
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        unknown = wanted - {s.name for s in SPECS}
        if unknown:
            parser.error(f"unknown bench(es) {sorted(unknown)}; known: {[s.name for s in SPECS]}")
        specs = tuple(s for s in SPECS if s.name in wanted)

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for number, spec in enumerate(specs, start=1):
        print(f"[{number}/{len(specs)}] {spec.name}: {' '.join(spec.arguments(args))}", flush=True)
        outcome = run_bench(spec, args)
        write_result(outcome)
        outcomes.append(outcome)
        met, total = outcome.targets_met
        verdict = outcome.status if outcome.status != STATUS_OK else f"targets {met}/{total}"
        print(f"    {verdict} ({outcome.wall_s:.1f} s) {outcome.error}".rstrip(), flush=True)

    suite_command = [sys.executable, *sys.argv] if argv is None else ["bench/run_all.py", *argv]
    report = render_report(outcomes, machine_info(), suite_command)
    (RESULTS_DIR / "REPORT.md").write_text(report)
    print(f"report: {(RESULTS_DIR / 'REPORT.md').relative_to(ROOT)}")
    all_met = all(o.status == STATUS_OK and o.targets_met[0] == o.targets_met[1] for o in outcomes)
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
