"""Parallel chunked file transcription vs one sequential pass, side by side in one run.

Builds one recording of at least 90 s of speech from the shared files that have reference
transcripts (dictation_dev, monologue_dev, harvard_list72_8k, jfk), then runs the real command

    run.py transcribe FILE --workers 2 --compare --metrics-json ...

which transcribes the file in parallel chunks on 2 worker processes and then in one sequential
long-form pass on a single worker (model loading excluded from both times). Both use every core,
as a user runs them: each of the 2 workers has one BLAS thread (``asr.blas_threads`` 1, the
default; 0 would also give cores / workers = 1 on 2 cores), the sequential worker cores / 1.
Chunks meet in a pause near each seam where one lies (``--no-pause-cuts``: always overlapping).
A worker gets up to ``asr.file_max_batch`` chunks as one batch, decoded together (compare
``--configs '--set asr.file_max_batch=1;'`` for one request per chunk).

Prints: speed-up (sequential wall time / parallel wall time), WER of each against the references
and their difference. Last line: one JSON object with ``speedup`` and ``wer_merged_minus_single``
(of the first configuration) and ``configs``: the same figures for each configuration measured
side by side (``--configs 'A;B'``, e.g. the full encoder window against the shortened one).
Targets: speedup >= 1.7 on 2 cores; wer_merged_minus_single <= 0.005.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.text_metrics import word_error_rate  # noqa: E402
from workers.transcribe_file import load_file_audio  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
FILES = ("dictation_dev.wav", "monologue_dev.wav", "harvard_list72_8k.wav", "jfk.flac")
GAP_S = 1.0  # silence between the joined recordings


def reference_text(name: str) -> str:
    references = json.loads((DATA / "references.json").read_text())
    if name in references:
        return references[name]
    return json.loads((DATA / name.replace(".wav", ".json")).read_text())["text"]


def build_recording(path: Path) -> tuple[float, str]:
    """Join the files (16 kHz mono) with short gaps; returns (seconds, reference text)."""
    gap = np.zeros(int(GAP_S * 16_000), dtype=np.float32)
    pieces, texts = [], []
    for name in FILES:
        pieces += [load_file_audio(DATA / name), gap]
        texts.append(reference_text(name))
    audio = np.concatenate(pieces)
    soundfile.write(path, audio, 16_000, subtype="FLOAT")
    return len(audio) / 16_000, " ".join(texts)


def run_once(recording: Path, workers: int, extra: list[str]) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as metrics_file:
        command = [
            sys.executable,
            str(ROOT / "run.py"),
            "transcribe",
            str(recording),
            "--workers",
            str(workers),
            "--compare",
            "--no-progress",
            "--metrics-json",
            metrics_file.name,
            *extra,
        ]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        if completed.returncode != 0:
            raise SystemExit(f"transcribe failed ({completed.returncode}):\n{completed.stderr}")
        return json.loads(Path(metrics_file.name).read_text())


def measure(recording: Path, reference: str, workers: int, repeat: int, extra: list[str]) -> dict:
    """``repeat`` runs of one configuration; medians of the times, WER of the last run."""
    runs = []
    for number in range(1, repeat + 1):
        metrics = run_once(recording, workers, extra)
        parallel, sequential = metrics["parallel"], metrics["sequential"]
        wer_parallel = word_error_rate(reference, parallel["text"])
        wer_sequential = word_error_rate(reference, sequential["text"])
        engine_s = [
            sum(c["engine_ms"] for c in run["chunks"]) / 1000 for run in (parallel, sequential)
        ]
        chunks = sorted(parallel["chunks"], key=lambda c: c["start_s"])
        overlap_s = sum(max(0.0, a["end_s"] - b["start_s"]) for a, b in itertools.pairwise(chunks))
        cpu_s = [sum(run.get("cpu_s", {}).values()) for run in (parallel, sequential)]
        lengths = "/".join(f"{c['end_s'] - c['start_s']:.1f}" for c in chunks)
        batches = "/".join(str(c.get("batch_size", 1)) for c in chunks)
        runs.append((metrics["speedup"], parallel["wall_s"], sequential["wall_s"], wer_parallel,
                     wer_sequential, *engine_s, overlap_s, *cpu_s))  # fmt: skip
        print(
            f"[{' '.join(extra) or 'defaults'}] run {number}: parallel {parallel['wall_s']:.2f} s "
            f"({len(parallel['chunks'])} chunks of "
            f"{lengths} s on {workers} "
            f"workers, {overlap_s:.1f} s read twice, batch sizes {batches}), sequential "
            f"{sequential['wall_s']:.2f} s ({len(sequential['chunks'])} windows) -> speed-up "
            f"{metrics['speedup']:.2f}x; engine time summed over requests: parallel "
            f"{engine_s[0]:.1f} s, sequential {engine_s[1]:.1f} s; worker CPU: parallel "
            f"{cpu_s[0]:.1f} s, sequential {cpu_s[1]:.1f} s; WER parallel "
            f"{wer_parallel:.4f}, sequential {wer_sequential:.4f}",
            flush=True,
        )
    return {
        "args": " ".join(extra),
        "speedup": round(statistics.median(r[0] for r in runs), 3),
        "speedups": [round(r[0], 3) for r in runs],
        "parallel_wall_s": round(statistics.median(r[1] for r in runs), 3),
        "sequential_wall_s": round(statistics.median(r[2] for r in runs), 3),
        "chunks": len(metrics["parallel"]["chunks"]),
        "batch_sizes": [c.get("batch_size", 1) for c in metrics["parallel"]["chunks"]],
        "sequential_windows": len(metrics["sequential"]["chunks"]),
        "overlap_s": round(runs[-1][7], 2),
        "parallel_cpu_s": round(statistics.median(r[8] for r in runs), 2),
        "sequential_cpu_s": round(statistics.median(r[9] for r in runs), 2),
        "parallel_engine_s": round(statistics.median(r[5] for r in runs), 2),
        "sequential_engine_s": round(statistics.median(r[6] for r in runs), 2),
        "wer_merged": round(runs[-1][3], 4),
        "wer_single": round(runs[-1][4], 4),
        "wer_merged_minus_single": round(runs[-1][3] - runs[-1][4], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs; medians are reported")
    parser.add_argument(
        "--configs",
        default="",
        help="';'-separated run.py transcribe argument sets measured side by side in one run, "
        "e.g. '--set asr.audio_ctx=full;' (an empty set = the defaults); the first one gives "
        "the top-level figures",
    )
    parser.add_argument(
        "transcribe_args", nargs="*", help="extra run.py transcribe arguments (after --)"
    )
    args = parser.parse_args()
    configs = [c.split() for c in args.configs.split(";")] if args.configs else [[]]

    with tempfile.TemporaryDirectory() as tmp:
        recording = Path(tmp) / "speech.wav"
        audio_s, reference = build_recording(recording)
        print(f"recording: {audio_s:.1f} s from {', '.join(FILES)}")
        results = [
            measure(recording, reference, args.workers, args.repeat, [*args.transcribe_args, *c])
            for c in configs
        ]
    first = results[0]
    summary = {
        "audio_s": round(audio_s, 2),
        "workers": args.workers,
        **{k: v for k, v in first.items() if k != "args"},
        "configs": results,
        "targets": {"speedup": ">= 1.7", "wer_merged_minus_single": "<= 0.005"},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
