"""What cross-stream batching saves: B windows in one encoder call against B calls.

Two measurements, CPU seconds of this process (``time.process_time``: every thread, so BLAS
threads spinning count too; the machine's load inflates wall time more than CPU time):

- encoder rows: ``engine.encode`` B times against one ``batch_encoder.encode_batch`` over the B
  windows (random mel input of ``--frames`` encoder frames: 500 = 10 s, the shortest shortened
  window; 1500 = a full 30 s window), median of ``--repeats``, per engine (``--engines``);
- request rows: ``WhisperBackend.transcribe`` of B real utterances one after another against
  ``batch_windows.transcribe_batch`` of the same B (encoder batched, decoding one by one, word
  timestamps on), numpy engine: the whole request's saving, which decoding dilutes.

``ratio`` = batched / separate (below 1: batching saves). BLAS threads: ``--blas-threads``
(default 1, as a decoding worker; the daemon's encoder uses cores / workers).

    .venv/bin/python bench/encoder_batch.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data"
# (file, start_s, end_s): utterances of different lengths from the dev recordings
UTTERANCES = (
    ("dictation_dev.wav", 0.0, 6.0),
    ("monologue_dev.wav", 0.0, 9.0),
    ("demo_pauses_16k.wav", 0.0, 12.0),
    ("lecture_60s_16k.wav", 0.0, 8.0),
)


def cpu_s(function, repeats: int) -> tuple[float, float]:
    """Median CPU seconds and median wall seconds of ``function`` over ``repeats`` calls."""
    cpu, wall = [], []
    for _ in range(repeats):
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        function()
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started_wall)
    return statistics.median(cpu), statistics.median(wall)


def encoder_rows(engine, name: str, args) -> list[dict]:
    from pipeline.backends.whisper.batch_encoder import encode_batch

    rng = np.random.default_rng(0)
    rows = []
    for frames in args.frames:
        mels = [
            rng.standard_normal((engine.dims.n_mels, 2 * frames)).astype(np.float32)
            for _ in range(max(args.batches))
        ]
        encode_batch(engine, mels[:2])  # warm-up (MLX: first trace)
        engine.encode(mels[0])
        for batch in args.batches:
            chosen = mels[:batch]
            separate = cpu_s(lambda c=chosen: [engine.encode(m) for m in c], args.repeats)
            batched = cpu_s(lambda c=chosen: encode_batch(engine, c), args.repeats)
            rows.append(_row("encoder", name, batch, separate, batched, frames=frames))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def request_rows(backend, args) -> list[dict]:
    import soundfile

    from pipeline.backends.whisper.batch_windows import transcribe_batch

    audios = []
    for file, start_s, end_s in UTTERANCES:
        audio, rate = soundfile.read(DATA / file, dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
        assert rate == 16_000, f"{file}: {rate} Hz"
        audios.append(np.ascontiguousarray(audio[int(start_s * 16_000) : int(end_s * 16_000)]))
    rows = []
    for batch in args.batches:
        chosen = [audios[i % len(audios)] for i in range(batch)]
        prompts = [None] * batch
        texts_single = [backend.transcribe(a).text for a in chosen]
        texts_batched = [r.text for r in transcribe_batch(backend, chosen, prompts)]
        separate = cpu_s(lambda c=chosen: [backend.transcribe(a) for a in c], args.repeats)
        batched = cpu_s(lambda c=chosen, p=prompts: transcribe_batch(backend, c, p), args.repeats)
        row = _row("request", backend.engine_name, batch, separate, batched)
        row["same_text"] = texts_single == texts_batched
        row["audio_s"] = round(sum(len(a) for a in chosen) / 16_000, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def _row(what: str, engine: str, batch: int, separate, batched, **extra) -> dict:
    return {
        "what": what,
        "engine": engine,
        "batch": batch,
        **extra,
        "separate_cpu_s": round(separate[0], 3),
        "batched_cpu_s": round(batched[0], 3),
        "ratio_cpu": round(batched[0] / separate[0], 3) if separate[0] > 0 else None,
        "separate_wall_s": round(separate[1], 3),
        "batched_wall_s": round(batched[1], 3),
        "ratio_wall": round(batched[1] / separate[1], 3) if separate[1] > 0 else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, nargs="+", default=[500, 750, 1500])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--engines", nargs="+", default=["numpy"], choices=["numpy", "mlx"])
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument("--no-requests", action="store_true", help="encoder rows only")
    args = parser.parse_args()

    from pipeline.backends import mlx_runtime

    mlx_runtime.prepare_blas(args.blas_threads)
    mlx_runtime.limit_numpy_blas(args.blas_threads)
    from config.loader import load_config
    from pipeline.backends.factory import resolve_model_path
    from pipeline.backends.whisper.weights import load_numpy_weights, read_config

    config = load_config().config
    model_dir = Path(resolve_model_path(config.asr))
    dims, _ = read_config(model_dir)
    weights = load_numpy_weights(model_dir, "float32")
    weights.pop("alignment_heads", None)
    rows: list[dict] = []
    for name in args.engines:
        if name == "numpy":
            from pipeline.backends.whisper.cpu_engine import CpuWhisperEngine

            engine = CpuWhisperEngine(dims, weights)
        else:
            from pipeline.backends.whisper.mlx_engine import MlxWhisperEngine

            engine = MlxWhisperEngine(dims, weights)
        rows.extend(encoder_rows(engine, name, args))
    request_figures: list[dict] = []
    if not args.no_requests:
        from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

        options = WhisperOptions(
            engine="numpy", blas_threads=args.blas_threads, decoder_blas_threads=1
        )
        request_figures = request_rows(WhisperBackend("", options), args)
    encoder_ratio = {
        f"{r['engine']}_b{r['batch']}_f{r['frames']}": r["ratio_cpu"]
        for r in rows
        if r["batch"] > 1
    }
    print(
        json.dumps(
            {
                "encoder_ratio_cpu": encoder_ratio,
                "request_ratio_cpu": {
                    f"b{r['batch']}": r["ratio_cpu"] for r in request_figures if r["batch"] > 1
                },
                "same_text": all(r["same_text"] for r in request_figures)
                if request_figures
                else None,
                "rows": rows + request_figures,
                "model": model_dir.name,
                "blas_threads": args.blas_threads,
                "load_avg_1m": round(os.getloadavg()[0], 2),
                "note": "ratio = batched / separate CPU seconds (below 1 saves); encoder rows: "
                "random mels; request rows: real utterances, decoding one by one",
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
