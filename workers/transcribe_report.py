"""The performance figures of ``run.py transcribe``: a JSON-ready dict and its summary lines.

Built from the ``PassReport``s that ``workers/transcribe_file.py`` returns (the parallel pass
and, with ``--compare``, the sequential reference).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.text_metrics import word_error_rate

if TYPE_CHECKING:
    from workers.transcribe_file import PassReport


def pass_metrics(report: PassReport, audio_s: float) -> dict[str, Any]:
    engine_ms = sorted(c.engine_ms for c in report.chunks)
    return {
        "workers": report.workers,
        "wall_s": round(report.wall_s, 3),
        "load_s": round(report.load_s, 3),
        "real_time_factor": round(report.wall_s / audio_s, 4),
        "chunks": [
            {
                "index": c.index,
                "start_s": round(c.start_s, 3),
                "end_s": round(c.end_s, 3),
                "engine_ms": round(c.engine_ms, 1),
                "worker": c.worker,
                "batch_size": c.batch_size,
            }
            for c in report.chunks
        ],
        "engine_ms_p50": engine_ms[len(engine_ms) // 2] if engine_ms else 0.0,
        "peak_rss_mb": {role: round(mb, 1) for role, mb in report.peak_rss_mb.items()},
        "restarts": report.restarts,
        "cpu_s": report.cpu_s,
        "text": report.text,
    }


def transcribe_metrics(
    audio_s: float, parallel: PassReport, sequential: PassReport | None
) -> dict[str, Any]:
    """Both passes' figures, and the speed-up and word difference between them."""
    metrics: dict[str, Any] = {
        "audio_s": round(audio_s, 3),
        "parallel": pass_metrics(parallel, audio_s),
    }
    if sequential is not None:
        metrics["sequential"] = pass_metrics(sequential, audio_s)
        metrics["speedup"] = round(sequential.wall_s / max(parallel.wall_s, 1e-9), 3)
        metrics["word_difference"] = round(word_error_rate(sequential.text, parallel.text), 4)
    return metrics


def render_metrics(metrics: dict[str, Any]) -> str:
    """One line per pass, and one comparing them (what ``transcribe`` prints on stderr)."""
    lines = []
    for name in ("parallel", "sequential"):
        report = metrics.get(name)
        if not report:
            continue
        rss = ", ".join(f"{role} {mb:.0f} MB" for role, mb in report["peak_rss_mb"].items())
        lines.append(
            f"{name}: {metrics['audio_s']:.1f} s of audio in {report['wall_s']:.2f} s "
            f"(real-time factor {report['real_time_factor']:.3f}, {report['workers']} worker(s), "
            f"{len(report['chunks'])} chunks, engine p50 {report['engine_ms_p50']:.0f} ms/chunk, "
            f"model load {report['load_s']:.2f} s; peak memory {rss})"
        )
    if "speedup" in metrics:
        lines.append(
            f"speed-up of parallel over sequential: {metrics['speedup']:.2f}x; "
            f"word difference between them: {metrics['word_difference']:.3f}"
        )
    return "\n".join(lines)
