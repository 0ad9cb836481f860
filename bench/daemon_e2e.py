"""End-to-end daemon bench: the real ``run.py daemon`` on the dev set, against an offline pass.

Dev set: ``bench/devset`` (espeak-ng dictation with pauses of 0.2-4 s, continuous stretches
with pauses <= 0.15 s, several voices and speeds, numbers, one-word answers; plus the shared
recordings), built once per seed into ``.cache/devset/``. ``--quick`` uses its small scale
(~45 s of dictation, one ~45 s stretch) and the balanced profile only.

Runs, each a fresh daemon (one asr worker, private runtime directory, a live subscriber thread
stamping every message's arrival, status polls):

1. every dev-set file at pace realtime, once per profile (``--profiles``);
2. a fault run: the dictation file (``dictation_dev.wav`` when in the set) at realtime,
   balanced, in which the asr worker is SIGKILLed while a final request is in flight
   (``bench/e2e_parts/faults.py`` says how that is decided and proved); tried again in a fresh
   run when no kill hit a final. A run whose claimed fault did not happen (no kill, no final
   hit, or no restart seen with a new pid and a higher restart count) makes the bench exit 3;
3. without ``--quick``: dictation_dev.wav and monologue_dev.wav at pace fast (queueing figures);

then, in this process, one offline long-form pass over every file and the engine alone on the
fault file's segment spans (from its clean run).

Figures (the last output line is one JSON object; an unmeasured figure is null with a
``<name>_reason`` beside it):

    latency_user_p50_ms / _p95_ms     dictation files with reference times: per utterance, its
                                      last word spoken -> the final holding that word at the
                                      subscriber (hangover included), balanced
    latency_continuous_p50_ms / _p95  the same per sentence of the continuous files
    latency_p50_ms / _p95_ms          the VAD's end-of-speech decision -> the segment's
                                      closing final at the subscriber, on the dictation files,
                                      from wall clocks outside the daemon (IPC included; see
                                      ``latency.decision_latencies``); parts committed while
                                      speech went on have no decision and are left out
    latency_sched_p50_ms / _p95_ms    the same finals' own latency_ms (scheduler receipt of
                                      SpeechEnded -> publish; 0 when decoded before it), with
                                      decision_finals: how many were ready at the decision
                                      (early finals) and how many parts were left out
    latency_first_partial_p50_ms      a segment's speech start -> its first partial
    cpu_overhead_ratio                CPU of all daemon processes (getrusage of the reaped tree)
                                      / CPU of the offline pass on the same audio, realtime,
                                      partials on, balanced
    cpu_s_by_role, engine_by_kind     per profile (``bench/e2e_parts/cpu_breakdown.py``): CPU per
                                      process role (each asr worker apart), at start-up and after;
                                      the workers' engine CPU per request kind (partial, final,
                                      window, early final; full-window retries);
                                      cpu_overhead_ratio_after_start leaves start-up out
    wer_stream_minus_offline          per file (balanced), worst, mean, and pooled over the whole
                                      dev set, with ``words`` (reference words)
    finals_lost / finals_duplicated   fault run vs the clean balanced run of the same file, seq
                                      gaps and duplicates over every run
    restart_s                         SIGKILL -> the replacement's "ready" log line
    faults                            claimed, attempted, verified, and each kill's proof
    per_profile                       every figure above per profile
    latency_fast_*, engine_*, cpu_overhead_ratio_fast, ...  as before

Usage: .venv/bin/python bench/daemon_e2e.py [--quick] [--profiles balanced,low-latency]
       [--seed 7] [--workers 1] [--keep-logs DIR] [--files dictation_dev.wav,...] [--no-fault]

Wall time: the full dev set is 21 minutes of audio played at speaking speed once per profile,
so the default run takes about 50 minutes; ``--quick`` about 4. ``--files`` runs part of the dev
set; ``--excerpt-s`` cuts each file to its sentences that end by then; ``--no-fault`` skips
the fault run (nothing is claimed; the loss figures are null).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.devset.build import DEFAULT_SEED, devset_dir, ensure_devset, file_paths  # noqa: E402
from bench.e2e_parts.excerpt import excerpt  # noqa: E402
from bench.e2e_parts.figures import (  # noqa: E402
    FileSpec,
    duplicates,
    lost_against,
    profile_figures,
    put,
    rounded,
    seq_gaps,
    wer_counts,
)
from bench.e2e_parts.latency import decision_latencies  # noqa: E402
from bench.e2e_parts.offline import OfflineEngine, load_audio  # noqa: E402
from bench.e2e_parts.runner import RunResult, run_daemon  # noqa: E402
from bench.report_parts.targets import SUITE_TARGETS  # noqa: E402

PROFILES = ("balanced", "low-latency")
FAULT_FILE = "dictation_dev.wav"  # preferred file of the fault run
FAST_FILES = ("dictation_dev.wav", "monologue_dev.wav")  # pace-fast runs (not with --quick)
MAX_KILLS_PER_RUN = 3
FAULT_RUNS = 2  # fresh runs tried until a kill hits a final
EXIT_FAULT_MISSING = 3
TARGETS = SUITE_TARGETS["daemon_e2e"]  # issue 10's targets, one table for the suite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small dev set, balanced only")
    parser.add_argument("--profiles", help=f"comma-separated (default: {','.join(PROFILES)}; "
                        "--quick: balanced)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="dev set seed")
    parser.add_argument("--workers", type=int, default=1, help="asr workers (default 1)")
    parser.add_argument("--keep-logs", type=Path,
                        help="write every daemon log and the offline/streamed texts into DIR")  # fmt: skip
    parser.add_argument("--files", help="comma-separated dev-set file names (default: all)")
    parser.add_argument(
        "--excerpt-s",
        type=float,
        metavar="SECONDS",
        help="each file cut to its reference sentences that end by SECONDS "
        "(bench/e2e_parts/excerpt.py), e.g. 150 for 2.5 minutes of continuous.wav",
    )
    parser.add_argument("--no-fault", action="store_true",
                        help="no fault run: latency and WER only (finals_lost is then null)")  # fmt: skip
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for every daemon run (asr.* ones reach the "
                        "offline pass too, e.g. asr.blas_threads=1)")  # fmt: skip
    args = parser.parse_args(argv)
    settings = tuple(args.set)
    profiles = (
        args.profiles.split(",") if args.profiles else ["balanced"] if args.quick else PROFILES
    )
    if args.keep_logs:
        args.keep_logs.mkdir(parents=True, exist_ok=True)
    main_profile = "balanced" if "balanced" in profiles else profiles[0]
    load_start = os.getloadavg()
    scale = "quick" if args.quick else "full"
    manifest = ensure_devset(args.seed, scale)
    directory = devset_dir(args.seed, scale)
    files = [
        FileSpec.from_entry(entry, *file_paths(entry, directory)) for entry in manifest["files"]
    ]
    if args.files:
        wanted = args.files.split(",")
        unknown = set(wanted) - {s.name for s in files}
        if unknown:
            parser.error(f"--files: {sorted(unknown)} not in the dev set {[s.name for s in files]}")
        files = [s for s in files if s.name in wanted]
    if args.excerpt_s:
        cut_dir = directory / "excerpts"
        files = [excerpt(spec, args.excerpt_s, cut_dir) for spec in files]
    print(
        f"dev set {directory}: {manifest['words']} words, {manifest['audio_s']:.0f} s, "
        f"{len(files)} files; profiles {profiles}; load {load_start}"
    )

    realtime: dict[str, dict[str, RunResult]] = {}
    for profile in profiles:
        realtime[profile] = {}
        for spec in files:
            result = run_daemon(
                f"{spec.stem}-{profile}", spec.audio, spec.audio_s, pace="realtime",
                profile=profile, workers=args.workers, log_dir=args.keep_logs, settings=settings,
            )  # fmt: skip
            realtime[profile][spec.name] = result
            print(
                f"{profile} {spec.stem}: {len(result.finals)} finals in {result.wall_s:.1f} s, "
                f"exit {result.exit_code}, CPU {result.cpu_s:.1f} s {result.cpu_s_by_role}"
            )

    fault_spec = next((s for s in files if s.name == FAULT_FILE), None) or next(
        (s for s in files if s.kind == "dictation" and s.times), None
    )
    if fault_spec is None and not args.no_fault:
        parser.error("the fault run needs a dictation file with reference times in --files")
    fault_runs = [] if args.no_fault else fault_run(fault_spec, main_profile, args)
    fast: dict[str, RunResult] = {}
    for spec in [] if args.quick else [s for s in files if s.name in FAST_FILES]:
        fast[spec.name] = run_daemon(
            f"{spec.stem}-fast", spec.audio, 0.0, pace="fast", profile=main_profile,
            workers=args.workers, log_dir=args.keep_logs, settings=settings,
        )  # fmt: skip

    engine = OfflineEngine(args.workers, settings)
    offline: dict[str, dict[str, Any]] = {}
    for spec in files:
        audio = load_audio(spec.audio)
        text, wall_s, cpu_s = engine.long_form(audio)
        errors, words = wer_counts(spec.reference_text, text)
        offline[spec.name] = {"text": text, "wall_s": wall_s, "cpu_s": cpu_s,
                              "errors": errors, "words": words}  # fmt: skip
        if args.keep_logs:  # the texts behind the WER figures, for a look at what differs
            (args.keep_logs / f"{spec.stem}.offline.txt").write_text(text + "\n")
            for profile in profiles:
                (args.keep_logs / f"{spec.stem}-{profile}.stream.txt").write_text(
                    realtime[profile][spec.name].text + "\n"
                )
        print(f"offline {spec.stem}: WER {errors / max(words, 1):.4f} of {words} words, "
              f"{cpu_s:.1f} s CPU")  # fmt: skip

    per_profile = {
        profile: profile_figures(files, realtime[profile], offline) for profile in profiles
    }
    for profile in profiles:
        print_cpu_breakdown(profile, per_profile[profile])
    for profile in PROFILES:
        if profile not in per_profile:  # its targets read as not measured, with the reason
            per_profile[profile] = {}
            put(per_profile[profile], "latency_user_p50_ms", None,
                f"profile {profile} not run (--profiles {','.join(profiles)})")  # fmt: skip
    summary: dict[str, Any] = {}
    headline = per_profile[main_profile]
    for key in ("latency_user_p50_ms", "latency_user_p95_ms", "latency_continuous_p50_ms",
                "latency_continuous_p95_ms", "latency_p50_ms", "latency_p95_ms",
                "latency_sched_p50_ms", "latency_sched_p95_ms",
                "latency_first_partial_p50_ms", "cpu_overhead_ratio",
                "cpu_overhead_ratio_sampled"):  # fmt: skip
        put(summary, key, headline[key], headline.get(f"{key}_reason"))
    summary["wer_stream_minus_offline"] = headline["wer_stream_minus_offline"]
    summary["utterances"] = headline["utterances"]
    summary["decision_finals"] = headline.get("decision_finals")

    if fault_runs:
        fault_figures(
            summary,
            fault_spec,
            realtime[main_profile].get(fault_spec.name),
            fault_runs,
            offline[fault_spec.name]["errors"],
        )
    else:
        no_fault_figures(summary)
    all_runs = [r for runs in realtime.values() for r in runs.values()] + fault_runs
    all_runs += list(fast.values())
    summary["finals_duplicated"] = sum(duplicates(run) for run in all_runs)
    summary["finals_not_received"] = sum(len(run.not_received) for run in all_runs)
    summary["seq_gaps"] = sum(seq_gaps(run) for run in all_runs)

    engine_spec = fault_spec or next((s for s in files if s.kind == "dictation"), None)
    engine_figures(summary, engine, engine_spec, realtime[main_profile])
    if fast:
        fast_latency = rounded([ms for run in fast.values() for ms in run.latencies_ms])
        fast_offline_cpu = sum(offline[name]["cpu_s"] for name in fast)
        put(summary, "latency_fast_p50_ms", fast_latency["p50"], "no finals in the fast runs")
        put(summary, "latency_fast_p95_ms", fast_latency["p95"], "no finals in the fast runs")
        ratio = sum(r.cpu_s for r in fast.values()) / fast_offline_cpu if fast_offline_cpu else None
        put(summary, "cpu_overhead_ratio_fast", None if ratio is None else round(ratio, 3),
            "the offline pass used no CPU time")  # fmt: skip
        engine_fast = [
            ms
            for spec in files
            if spec.name in fast
            for ms in engine.segment_ms(load_audio(spec.audio), fast[spec.name].finals)
        ]
        put(
            summary, "engine_fast_p50_ms", rounded(engine_fast)["p50"], "no finals in the fast runs"
        )
    else:
        reason = (
            "not measured: --quick runs no pace-fast runs"
            if args.quick
            else f"not measured: none of {list(FAST_FILES)} in --files"
        )
        for key in ("latency_fast_p50_ms", "latency_fast_p95_ms", "cpu_overhead_ratio_fast",
                    "engine_fast_p50_ms"):  # fmt: skip
            put(summary, key, None, reason)
    summary["cpu_realtime_run_s"] = round(sum(r.cpu_s for r in realtime[main_profile].values()), 2)

    summary.update(
        {
            "per_profile": per_profile,
            "per_file": per_file_figures(files, realtime, offline),
            "devset": {
                "directory": str(directory),
                "seed": args.seed,
                "scale": scale,
                "words": manifest["words"],
                "audio_s": manifest["audio_s"],
                "files": [s.name for s in files],
                "all_files": len(files) == len(manifest["files"]),
            },
            "profiles": profiles,
            "realtime_audio_s": round(sum(s.audio_s for s in files), 1),
            "workers": args.workers,
            "settings": list(settings),
            "blas_threads": engine.blas_threads,
            "quick": args.quick,
            "load_avg_1m": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
            "cpu_count": os.cpu_count(),
            "exit_codes_ok": all(run.exit_code == 0 for run in all_runs),
            "latency_note": (
                "latency_user/continuous: realtime pace, last word of each reference utterance "
                "(sentence, in continuous files) -> the final holding it at a subscriber; "
                "latency_p50/p95: VAD end-of-speech decision (its audio written, realtime) -> "
                "the segment's closing final at the subscriber, IPC included, parts left out; "
                "latency_sched_p50/p95: the same finals' journal latency_ms (scheduler receipt "
                "-> publish); latency_fast_*: pace fast (queueing); engine_*: engine alone on the "
                "fault file's segment spans"
            ),
            "targets": TARGETS,
        }
    )
    problems = summary["faults"]["problems"]
    print(json.dumps(summary))
    if problems:
        print(f"FAULT CLAIMED BUT NOT SHOWN TO HAPPEN: {'; '.join(problems)}", file=sys.stderr)
        return EXIT_FAULT_MISSING
    return 0


def fault_run(spec: FileSpec, profile: str, args: argparse.Namespace) -> list[RunResult]:
    """Fresh realtime runs of ``spec`` until a kill hit a final (at most ``FAULT_RUNS``)."""
    runs = []
    for attempt in range(1, FAULT_RUNS + 1):
        result = run_daemon(
            f"{spec.stem}-kill{attempt}", spec.audio, spec.audio_s, pace="realtime",
            profile=profile, workers=args.workers, max_kills=MAX_KILLS_PER_RUN,
            log_dir=args.keep_logs, settings=tuple(args.set),
        )  # fmt: skip
        runs.append(result)
        assert result.kills is not None
        problems = result.kills.verify()
        print(
            f"fault run {attempt}: {len(result.kills.kills)} kill(s) "
            f"{[k.figures()['killed_request'] for k in result.kills.kills]}; "
            f"{'; '.join(problems) or 'verified'}"
        )
        if not problems:
            break
    return runs


def fault_figures(
    summary: dict[str, Any],
    spec: FileSpec,
    clean: RunResult | None,
    runs: list[RunResult],
    offline_errors: int,
) -> None:
    """finals_lost, restart figures and the proof of the kills, from the last fault run."""
    last = runs[-1]
    assert last.kills is not None
    problems = last.kills.verify()
    if clean is None:
        problems = [*problems, f"no clean run (same profile) of {spec.name} to compare with"]
    kills = [k.figures() for run in runs if run.kills for k in run.kills.kills]
    summary["faults"] = {
        "claimed": f"SIGKILL of the asr worker while a final is in flight ({spec.name}, "
        f"{last.profile})",
        "attempted": len(kills),
        "runs": len(runs),
        "verified": not problems,
        "problems": problems,
    }
    summary["kills"] = kills
    summary["kills_hit_final"] = [k["killed_request"].startswith("final") for k in kills]
    verified = [k for k in last.kills.kills if k.restarted]
    restart = [k.figures()["restart_s"] for k in verified]
    restart = [r for r in restart if r is not None]
    reason = "; ".join(problems) or "no replacement 'ready' line in the log"
    put(summary, "restart_s", max(restart) if restart else None, reason)
    polled = [k.figures()["restart_polled_s"] for k in verified]
    polled = [p for p in polled if p is not None]
    put(summary, "restart_polled_s", max(polled) if polled else None, reason)
    detection = [k.figures()["detection_s"] for k in verified if k.replacing_logged_unix_s]
    put(summary, "restart_detection_s", max(detection) if detection else None, reason)
    loads = [k.load_s for k in verified if k.load_s is not None]
    put(summary, "restart_load_s", max(loads) if loads else None, reason)
    if problems or clean is None:
        for key in ("finals_lost", "wer_killed_minus_clean", "wer_killed_minus_offline"):
            put(summary, key, None, f"the fault did not happen: {'; '.join(problems)}")
        return
    lost = lost_against(clean, last)
    summary["finals_lost"] = len(lost) + seq_gaps(last)
    summary["lost_segments"] = lost
    errors_clean, words = wer_counts(spec.reference_text, clean.text)
    errors_killed, _ = wer_counts(spec.reference_text, last.text)
    summary["wer_killed_minus_clean"] = round((errors_killed - errors_clean) / max(words, 1), 4)
    summary["wer_killed_minus_offline"] = {
        spec.stem: round((errors_killed - offline_errors) / max(words, 1), 4)
    }


def no_fault_figures(summary: dict[str, Any]) -> None:
    """--no-fault: nothing is claimed, so nothing about loss under a fault is reported."""
    reason = "no fault run (--no-fault)"
    summary["faults"] = {"claimed": None, "attempted": 0, "runs": 0, "problems": []}
    put(summary["faults"], "verified", None, reason)
    summary["kills"] = []
    summary["kills_hit_final"] = []
    for key in ("finals_lost", "restart_s", "restart_polled_s", "restart_detection_s",
                "restart_load_s", "wer_killed_minus_clean", "wer_killed_minus_offline"):  # fmt: skip
        put(summary, key, None, reason)


def engine_figures(
    summary: dict[str, Any],
    engine: OfflineEngine,
    spec: FileSpec | None,
    runs: dict[str, RunResult],
) -> None:
    """The engine alone on the segment spans of one dictation run, and what the pipeline adds."""
    run = runs.get(spec.name) if spec is not None else None
    reason = "no dictation file in the run" if run is None else "no finals in its run"
    engine_ms = engine.segment_ms(load_audio(spec.audio), run.finals) if run else []
    stats = rounded(engine_ms)
    put(summary, "engine_p50_ms", stats["p50"], reason)
    put(summary, "engine_p95_ms", stats["p95"], reason)
    decided = (
        decision_latencies(run.finals, run.received_unix_s, run.origin_unix_s).values_ms
        if run is not None and run.origin_unix_s is not None
        else []
    )
    own = rounded(decided)
    overhead = None if None in (own["p50"], stats["p50"]) else round(own["p50"] - stats["p50"], 1)
    put(summary, "pipeline_overhead_p50_ms", overhead, reason)


def print_cpu_breakdown(profile: str, figures: dict[str, Any]) -> None:
    """Where the CPU went in one profile's realtime runs, next to the offline pass's CPU."""
    offline_s = figures["offline_cpu_s"]
    print(
        f"CPU {profile}: daemon {figures['daemon_cpu_s']:.1f} s (after start-up "
        f"{figures['cpu_s_after_start']:.1f} s) vs offline {offline_s:.1f} s: ratio "
        f"{figures['cpu_overhead_ratio']} (after start-up "
        f"{figures['cpu_overhead_ratio_after_start']}); by role after start-up "
        f"{figures['cpu_s_after_start_by_role']}, unattributed {figures['cpu_s_unattributed']} s"
    )
    for kind, totals in figures["engine_by_kind"].items():
        print(
            f"  engine {kind}: {totals['requests']} requests, CPU {totals['cpu_s']:.2f} s "
            f"(wall {totals['engine_s']:.2f} s, audio {totals['audio_s']:.1f} s, encoder frames "
            f"{totals['encoder_frames']}, full-window retries {totals['full_window_retries']}, "
            f"dropped as suspect {totals.get('suspect_dropped', 0)})"
        )
    print(f"  worker CPU outside engine calls after start-up: {figures['worker_idle_cpu_s']} s")


def per_file_figures(
    files: list[FileSpec],
    realtime: dict[str, dict[str, RunResult]],
    offline: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    table = {}
    for spec in files:
        row: dict[str, Any] = {
            "kind": spec.kind, "audio_s": spec.audio_s, "words": offline[spec.name]["words"],
            "latency_times": spec.times,
            "wer_offline": round(offline[spec.name]["errors"] / max(spec.words, 1), 4),
            "offline_cpu_s": round(offline[spec.name]["cpu_s"], 2),
        }  # fmt: skip
        for profile, runs in realtime.items():
            run = runs[spec.name]
            errors, words = wer_counts(spec.reference_text, run.text)
            row[profile] = {
                "wer_stream": round(errors / max(words, 1), 4),
                "finals": len(run.finals),
                "daemon_cpu_s": run.cpu_s,
                "cpu_s_by_role": run.cpu_s_by_role,
                "cpu_s_start_by_role": run.cpu_s_start_by_role,
                "engine_by_kind": run.engine_by_kind,
                "exit_code": run.exit_code,
                "scheduler": (run.last_status or {}).get("scheduler"),
            }
        table[spec.stem] = row
    return table


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"daemon_e2e: {time.monotonic() - started:.0f} s", file=sys.stderr)
    sys.exit(code)
