"""The soak's outputs beside the JSON: PNG plots (matplotlib, Agg) and a markdown summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.soak_parts.memory import SOAK_ROLE, MemorySeries

TARGET_SLOPE_MB_PER_AUDIO_H = 1.0  # every daemon process, after the warm-up
TARGET_P95_DRIFT = 0.10  # last interval's p95 within 10 % of the first's


def plot_memory(
    memory: MemorySeries, restarts: list[dict[str, Any]], warmup_audio_s: float, path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workers = [r for r in memory.samples if r.startswith("asr")]
    figure, (rss_axis, mlx_axis) = plt.subplots(
        2, 1, figsize=(11, 8), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    for role, series in sorted(memory.samples.items()):
        style = ":" if role == SOAK_ROLE else "-"
        rss_axis.plot(
            [s.audio_s / 3600 for s in series],
            [s.rss_mb for s in series],
            style,
            label=role,
            linewidth=1,
        )
    for role in workers:
        series = memory.samples[role]
        hours = [s.audio_s / 3600 for s in series]
        mlx_axis.plot(hours, [s.mlx_active_mb or 0.0 for s in series], label=f"{role} active")
        mlx_axis.plot(hours, [s.mlx_cache_mb or 0.0 for s in series], "--", label=f"{role} cache")
    for axis in (rss_axis, mlx_axis):
        _mark(axis, [r["audio_s"] / 3600 for r in restarts])
        axis.axvline(warmup_audio_s / 3600, color="grey", linewidth=1, linestyle="-.")
        axis.grid(alpha=0.3)
    rss_axis.set_ylabel("RSS (MB)")
    rss_axis.set_title("memory per process (red: restarts; grey: end of warm-up)")
    rss_axis.legend(fontsize=7, ncol=3)
    mlx_axis.set_ylabel("MLX memory (MB)")
    mlx_axis.set_xlabel("audio time (hours)")
    if workers:
        mlx_axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_latency(
    intervals: list[dict[str, Any]], restarts: list[dict[str, Any]], pace: str, path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(11, 5))
    minutes = [i["end_wall_s"] / 60 for i in intervals]
    axis.plot(minutes, [i["p50_ms"] for i in intervals], "o-", label="p50", markersize=3)
    axis.plot(minutes, [i["p95_ms"] for i in intervals], "s-", label="p95", markersize=3)
    _mark(axis, [r["wall_s"] / 60 for r in restarts])
    note = " (pace fast: includes queueing behind the ring backlog)" if pace == "fast" else ""
    axis.set_title(f"end of speech -> final latency per interval{note}")
    axis.set_xlabel("wall time (minutes)")
    axis.set_ylabel("latency (ms)")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _mark(axis: Any, positions: list[float]) -> None:
    for x in positions:
        axis.axvline(x, color="red", alpha=0.35, linewidth=1)


def markdown(result: dict[str, Any]) -> str:
    """A short summary: the headline figures next to their targets, then per-process slopes."""
    acc = result["accounting"]
    slope = result["rss_slope_mb_per_audio_h"]
    drift = result["latency_p95_drift"]
    faults = result["faults_injected"]

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("ok" if ok else "**MISSED**")

    lines = [
        f"# Soak {result['started']}",
        "",
        f"`{result['command']}`",
        "",
        f"{result['audio_hours']:.3f} h of audio in {result['wall_hours']:.3f} h wall "
        f"(pace {result['pace']}, {result['workers']} worker(s), "
        f"{faults} fault(s) injected, {result['restarts']} restart(s)).",
        "",
        "| figure | value | target | |",
        "| --- | --- | --- | --- |",
        f"| worst RSS slope after warm-up | {_fmt(slope)} ± {_fmt(result['rss_slope_stderr'])} "
        f"MB/audio-h ({result['rss_slope_worst_role']}) | ≤ {TARGET_SLOPE_MB_PER_AUDIO_H} | "
        f"{verdict(None if slope is None else slope <= TARGET_SLOPE_MB_PER_AUDIO_H)} |",
        f"| lost | {result['lost']} of {acc['expected_due']} due | 0 | {verdict(result['lost'] == 0)} |",
        f"| duplicated | {result['duplicated']} | 0 | {verdict(result['duplicated'] == 0)} |",
        f"| out of order | {result['out_of_order']} | 0 | {verdict(result['out_of_order'] == 0)} |",
        f"| latency p50 / p95 | {result['latency_p50_ms']:.0f} / {result['latency_p95_ms']:.0f} ms"
        f" | | |",
        f"| latency p95 drift (last/first interval − 1) | {_fmt(drift)} | ≤ {TARGET_P95_DRIFT} | "
        f"{verdict(None if drift is None else drift <= TARGET_P95_DRIFT)} |",
        f"| restarts ≥ faults | {result['restarts']} ≥ {faults} | | "
        f"{verdict(result['restarts'] >= faults)} |",
        "",
    ]
    if result["pace"] == "fast":
        lines += [
            "Pace fast: latency is end of speech to final *including the queue* behind the "
            "ring's backlog (capture runs up to the ring capacity ahead of transcription), "
            "so it measures throughput more than responsiveness.",
            "",
        ]
    lines += [
        "## Memory slopes after warm-up (MB per audio hour ± stderr)",
        "",
        "| process | RSS | MLX active | MLX cache | samples | pid segments | RSS last / max MB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for role, fits in result["per_process"].items():
        rss = fits["rss"]
        lines.append(
            f"| {role} | {_pm(rss)} | {_pm(fits.get('mlx_active'))} | {_pm(fits.get('mlx_cache'))}"
            f" | {rss['samples_fitted']} | {rss['pid_segments']} | {rss['last_mb']} / {rss['max_mb']} |"
        )
    lines += [
        "",
        "## Segments",
        "",
        f"expected due {acc['expected_due']}, matched by start {acc['matched_by_start']}, "
        f"by overlap {acc['matched_by_overlap']}, lost {acc['lost']} (plus "
        f"{acc.get('lost_wordless', 0)} wordless: no reference words in them), unexpected finals "
        f"{acc['unexpected_finals']}, empty finals on due segments {acc['empty_finals_due']}, "
        f"seq gaps {acc['seq_gaps']}; cutoff {acc['cutoff_s']} s.",
        f"Subscriber vs journal: {result['cross_check']}".replace("'", ""),
        "",
    ]
    if result.get("problems"):
        lines += ["## Problems", ""] + [f"- {p}" for p in result["problems"]] + [""]
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _pm(fit: dict[str, Any] | None) -> str:
    if not fit or fit.get("slope_mb_per_audio_h") is None:
        return "—"
    return f"{_fmt(fit['slope_mb_per_audio_h'])} ± {_fmt(fit['stderr_mb_per_audio_h'])}"
