"""The figures of a finished soak (see ``bench/soak.py`` for what each one means)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bench.soak_parts.expected import account
from bench.soak_parts.ledger import cross_check, percentile, read_journal
from bench.soak_parts.memory import SOAK_ROLE, SUPERVISOR_ROLE, fit_all, worst_upper
from bench.soak_parts.report import markdown, plot_latency, plot_memory

MIN_INTERVAL_FINALS = 5  # a latency interval with fewer finals does not count for the drift
WARMUP_FRACTION = 0.2  # default warm-up: this fraction of the audio ...
WARMUP_MAX_AUDIO_S = 1800.0  # ... at most this much
LOG_COPY_MAX_BYTES = 50_000_000  # the daemon log copied into the results (its tail if longer)


def summarize(soak: Any, daemon: Any, exit_code: int | None) -> dict[str, Any]:
    """Every figure of a finished soak; writes results.json, the plots and summary.md."""
    args = soak.args
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    journal_rows, _latencies, journal_stats = read_journal(daemon.runtime_dir, daemon.instance)
    log_notes = shutdown_log_notes(daemon.log())
    copy_log(daemon.log_path, out / "daemon.log")
    if not args.keep_runtime:
        shutil.rmtree(daemon.runtime_dir, ignore_errors=True)
    expected = soak.template.segments_until(soak.stop_audio_s + soak.template.loop_s)
    acc = account(expected, journal_rows, soak.cutoff_s, args.tolerance_s)
    check = cross_check(soak.ledger.rows(), journal_rows)

    audio_s = soak.stop_audio_s
    warmup_s = (
        args.warmup_audio_min * 60
        if args.warmup_audio_min is not None
        else min(WARMUP_FRACTION * audio_s, WARMUP_MAX_AUDIO_S)
    )
    fits = fit_all(soak.memory, warmup_s, args.restart_settle_s)
    daemon_fits = {
        r: f["rss"]
        for r, f in fits.items()
        if r != SOAK_ROLE and f["rss"]["slope_mb_per_audio_h"] is not None
    }
    worst_role = max(
        daemon_fits, key=lambda r: daemon_fits[r]["slope_mb_per_audio_h"], default=None
    )
    upper = worst_upper(fits)

    intervals = [vars(i) for i in soak.ledger.intervals]
    valid = [
        i for i in intervals if i["finals"] >= MIN_INTERVAL_FINALS and i["end_audio_s"] >= warmup_s
    ]
    drift = (
        valid[-1]["p95_ms"] / valid[0]["p95_ms"] - 1.0
        if len(valid) >= 2 and valid[0]["p95_ms"] > 0
        else None
    )
    latencies = warm_latencies(soak, warmup_s)

    restarts = restarts_of(soak.final_status)
    fault_summary = (
        soak.faults.summary()
        if soak.faults
        else {"injected": 0, "kills": 0, "hangs": 0, "events": []}
    )
    restart_marks = [
        r for r in soak.memory.restarts if r["role"] not in (SOAK_ROLE, SUPERVISOR_ROLE)
    ]
    problems = list(soak.problems)
    for key in ("lost", "duplicated", "out_of_order", "seq_gaps"):
        if acc[key]:
            problems.append(f"{key}: {acc[key]}")
    if restarts < fault_summary["injected"]:
        problems.append(f"restarts {restarts} < faults injected {fault_summary['injected']}")
    for fault in fault_summary.get("not_recovered", []):
        problems.append(f"fault not recovered: {fault}")
    if check["only_in_subscriber"] or check["differing"]:
        problems.append(f"subscriber and journal disagree: {check['examples']}")
    if check["only_in_journal_before_last_received"]:
        problems.append(f"subscriber missed finals: {check['examples']['only_in_journal']}")
    problems += log_notes["problems"]

    metrics = soak.final_status["metrics"]
    result: dict[str, Any] = {
        "audio_hours": round(audio_s / 3600, 4),
        "wall_hours": round(soak.wall_end_s / 3600, 4),
        "rss_slope_mb_per_audio_h": daemon_fits[worst_role]["slope_mb_per_audio_h"]
        if worst_role
        else None,
        "rss_slope_stderr": daemon_fits[worst_role]["stderr_mb_per_audio_h"]
        if worst_role
        else None,
        "rss_slope_worst_role": worst_role,
        "rss_slope_upper_mb_per_audio_h": upper["upper"],
        "rss_slope_upper_role": upper["role"],
        "rss_slope_upper_fit": upper["fit"],
        "rss_slope_upper_reason": upper.get("reason"),
        "per_process": fits,
        "silence": getattr(args, "silence", None),
        "lost": acc["lost"],
        "lost_wordless": acc["lost_wordless"],
        "duplicated": acc["duplicated"],
        "out_of_order": acc["out_of_order"],
        "restarts": restarts,
        "latency_p50_ms": round(percentile(latencies, 0.5), 1),
        "latency_p95_ms": round(percentile(latencies, 0.95), 1),
        "latency_p95_drift": round(drift, 4) if drift is not None else None,
        "faults_injected": fault_summary["injected"],
        "faults_killing": fault_summary["kills"] + fault_summary["hangs"],
        "pace": soak.pace,
        "workers": args.workers,
        "seed": args.seed,
        "started": soak.started,
        "command": soak.command,
        "soak_command": " ".join(["bench/soak.py", *args.argv]),
        "status_timeouts": soak.status_timeouts,
        "warmup_audio_s": round(warmup_s, 1),
        "stop": {
            "wall_s": round(soak.stop_wall_s, 1),
            "audio_s": round(audio_s, 2),
            "shutdown_s": round(soak.wall_end_s - soak.stop_wall_s, 1),
            "exit_code": exit_code,
        },
        "accounting": acc,
        "cross_check": check,
        "journal": journal_stats,
        "template": soak.template.as_dict(),
        "latency_intervals": intervals,
        "faults": fault_summary,
        "restart_events": restart_marks,
        "daemon_metrics": {
            k: metrics.get(k)
            for k in (
                "finals",
                "last_seq",
                "worker_restarts",
                "worker_recycles",
                "child_restarts",
                "ring_overruns",
                "latency_p50_ms",
                "latency_p95_ms",
            )
        },
        "scheduler": soak.final_status.get("scheduler", {}),
        "shutdown_log": log_notes["counts"],
        "problems": problems,
        "passed": not problems,
    }
    (out / "results.json").write_text(json.dumps(result, indent=2, default=str))
    plot_memory(soak.memory, restart_marks, warmup_s, out / "memory.png")
    plot_latency(intervals, restart_marks, soak.pace, out / "latency.png")
    (out / "summary.md").write_text(markdown(result))
    return result


def warm_latencies(soak: Any, warmup_s: float) -> list[float]:
    """Latencies of the finals received before the stop whose segment starts after warm-up."""
    rows = soak.ledger.rows(soak.live_before_stop)
    return [
        lat
        for row, lat in zip(rows, soak.ledger.latencies_ms, strict=False)
        if row.start_s >= warmup_s
    ]


def restarts_of(status: dict[str, Any]) -> int:
    return sum(int(row.get("restarts") or 0) for row in status["processes"])


def shutdown_log_notes(log: str) -> dict[str, Any]:
    """What the daemon logged after the stop request that a clean shutdown should not show."""
    _, _, after = log.partition("stopping: shutdown requested")
    counts = {
        "children_restarted_during_shutdown": after.count("restarting it"),
        "chunks_given_up_during_shutdown": after.count("given up"),
        "unfinished_at_shutdown_timeout": after.count("shutdown timeout"),
        "tracebacks": log.count("Traceback"),
    }
    problems = []
    if counts["children_restarted_during_shutdown"]:
        problems.append(
            f"daemon bug: {counts['children_restarted_during_shutdown']} child restart(s) during "
            f"a graceful shutdown, {counts['chunks_given_up_during_shutdown']} chunk(s) given up "
            "(ring overrun: finals published without their words); see daemon.log"
        )
    if counts["unfinished_at_shutdown_timeout"]:
        problems.append("shutdown timeout: requests unfinished (see daemon.log)")
    return {"counts": counts, "problems": problems}


def copy_log(source: Path, target: Path) -> None:
    if not source.exists():
        return
    size = source.stat().st_size
    with source.open("rb") as reader, target.open("wb") as writer:
        if size > LOG_COPY_MAX_BYTES:
            reader.seek(size - LOG_COPY_MAX_BYTES)
        shutil.copyfileobj(reader, writer)


def print_summary(result: dict[str, Any]) -> None:
    acc = result["accounting"]
    print(
        f"audio {result['audio_hours']:.3f} h in {result['wall_hours']:.3f} h wall "
        f"(pace {result['pace']}, {result['workers']} workers)"
    )
    print(
        f"rss slope (worst, {result['rss_slope_worst_role']}): "
        f"{result['rss_slope_mb_per_audio_h']} ± {result['rss_slope_stderr']} MB/audio-h "
        "(target <= 1)"
    )
    for role, fits in result["per_process"].items():
        rss = fits["rss"]
        print(
            f"  {role:10s} {rss['slope_mb_per_audio_h']} ± {rss['stderr_mb_per_audio_h']} "
            f"MB/audio-h  (last {rss['last_mb']} MB, max {rss['max_mb']} MB)"
        )
    print(
        f"segments: {acc['expected_due']} due, lost {result['lost']} (target 0), duplicated "
        f"{result['duplicated']} (target 0), out of order {result['out_of_order']} (target 0), "
        f"by overlap {acc['matched_by_overlap']}, unexpected {acc['unexpected_finals']}"
    )
    note = " (pace fast: includes queueing)" if result["pace"] == "fast" else ""
    print(
        f"latency p50 {result['latency_p50_ms']} ms, p95 {result['latency_p95_ms']} ms{note}; "
        f"p95 drift {result['latency_p95_drift']} (target <= 0.10)"
    )
    print(
        f"faults {result['faults_injected']}, restarts {result['restarts']} "
        f"(target restarts >= faults)"
    )
    for problem in result["problems"]:
        print(f"PROBLEM: {problem}")


def headline(result: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "audio_hours",
        "wall_hours",
        "rss_slope_mb_per_audio_h",
        "rss_slope_stderr",
        "rss_slope_worst_role",
        "rss_slope_upper_mb_per_audio_h",
        "rss_slope_upper_role",
        "lost",
        "duplicated",
        "out_of_order",
        "restarts",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p95_drift",
        "faults_injected",
        "pace",
        "passed",
    )
    line = {k: result[k] for k in keys}
    line["per_process_rss_slope_mb_per_audio_h"] = {
        role: [f["rss"]["slope_mb_per_audio_h"], f["rss"]["stderr_mb_per_audio_h"]]
        for role, f in result["per_process"].items()
    }
    line["per_process_upper_mb_per_audio_h"] = {
        role: {name: fit.get("upper_mb_per_audio_h") for name, fit in fits.items()}
        for role, fits in result["per_process"].items()
    }
    if result.get("rss_slope_upper_reason"):
        line["rss_slope_upper_reason"] = result["rss_slope_upper_reason"]
    return line
