"""What cross-stream batching saves: B windows encoded in one call and decoded in one pass per
token, against B single requests.

Four measurements, CPU seconds of this process (``time.process_time``: every thread, so BLAS
threads spinning count too; the machine's load inflates wall time more than CPU time):

- encoder rows: ``engine.encode`` B times against one ``batch_encoder.encode_batch`` over the B
  windows (random mel input of ``--frames`` encoder frames: 500 = 10 s, the shortest shortened
  window; 1500 = a full 30 s window), median of ``--repeats``, per engine (``--engines``);
- decode rows: greedy decoding of B real windows (``WINDOWS``: 5, 10, 24, 24 s of the dev
  recordings, each at its shortened encoder length, already encoded) one by one
  (``TokenSearch.run``) against ``batch_decoder.greedy_batch``, per engine
  (``--decode-engines``), with the decoded tokens compared;
- request rows: ``WhisperBackend.transcribe`` of the same B windows one after another against
  ``batch_windows.transcribe_batch`` of the same B (encoder stacked where short, greedy decoding
  batched, word timestamps on), per engine (``--request-engines``), texts compared;
- flip rows: every dev recording cut into ``--flip-window-s`` windows, decoded greedily in
  groups of ``--flip-batch`` and alone (``--flip-engines``): items whose tokens differ.

Decode and request rows alternate separate and batched calls (``--repeats`` of each, medians).
``ratio`` = batched / separate (below 1: batching saves); ``per_item`` = CPU s / B. BLAS threads:
``--blas-threads`` (default 1, as a decoding worker; the daemon's encoder uses cores / workers).

    .venv/bin/python bench/encoder_batch.py --repeats 3
    .venv/bin/python bench/encoder_batch.py --no-encoder --batches 1 2 3 4 --decode-engines numpy mlx
    .venv/bin/python bench/encoder_batch.py --no-encoder --no-requests --decode-engines \
        --flip-engines numpy mlx   # items the batched pass decodes to other tokens
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
# (file, start_s, end_s): windows of different lengths from the dev recordings
WINDOWS = (
    ("dictation_dev.wav", 0.0, 5.0),
    ("monologue_dev.wav", 0.0, 10.0),
    ("monologue_dev.wav", 0.0, 24.0),
    ("dictation_dev.wav", 6.6, 30.6),
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


def paired_cpu_s(separate, batched, repeats: int) -> tuple[tuple[float, float], ...]:
    """``cpu_s`` of both, their calls alternated so a change of load hits both alike."""
    runs: tuple[list, list] = ([], [])
    for _ in range(repeats):
        for out, function in zip(runs, (separate, batched), strict=True):
            out.append(cpu_s(function, 1))
    return tuple(
        (statistics.median(c for c, _ in out), statistics.median(w for _, w in out)) for out in runs
    )


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


def chosen_windows(same_length_s: float | None) -> tuple[tuple[str, float, float], ...]:
    """``WINDOWS``, or the first ``same_length_s`` of four recordings (chunks of one length, as
    ``run.py transcribe`` cuts a file)."""
    if not same_length_s:
        return WINDOWS
    files = ("monologue_dev.wav", "dictation_dev.wav", "lecture_60s_16k.wav", "demo_pauses_16k.wav")
    return tuple((file, 0.0, same_length_s) for file in files)


def load_windows(windows: tuple[tuple[str, float, float], ...]) -> list[np.ndarray]:
    import soundfile

    audios = []
    for file, start_s, end_s in windows:
        audio, rate = soundfile.read(DATA / file, dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
        assert rate == 16_000, f"{file}: {rate} Hz"
        audios.append(np.ascontiguousarray(audio[int(start_s * 16_000) : int(end_s * 16_000)]))
    return audios


def decode_rows(backend, audios: list[np.ndarray], args) -> list[dict]:
    """Greedy decoding alone: B windows one by one against one batched pass."""
    import math

    from pipeline.backends.whisper.batch_decoder import GreedyItem, greedy_batch
    from pipeline.backends.whisper.decoding import SearchOptions
    from pipeline.backends.whisper.features import log_mel_spectrogram

    items = []
    for audio in audios:
        frames = backend._audio_ctx.frames(audio.size, backend.dims.n_audio_ctx)
        mel = log_mel_spectrogram(audio, backend.dims.n_mels, 2 * frames)
        initial, sot_index = backend._initial_tokens(None)
        cap = max(4, math.ceil(backend.options.max_tokens_per_s * max(audio.size / 16_000, 1.0)))
        items.append(GreedyItem(backend.engine.encode(mel), tuple(initial), sot_index, cap))
    search = backend._search

    def alone(chosen):
        return [
            search.run(
                i.audio, list(i.initial), i.sot_index, SearchOptions(max_tokens=i.max_tokens)
            )
            for i in chosen
        ]

    rows = []
    for batch in args.batches:
        chosen = [items[i % len(items)] for i in range(batch)]
        want = [h.tokens for h in alone(chosen)]
        got = [o.hypothesis.tokens for o in greedy_batch(search, chosen)]
        separate, batched = paired_cpu_s(
            lambda c=chosen: alone(c), lambda c=chosen: greedy_batch(search, c), args.repeats
        )
        row = _row("decode", backend.engine_name, batch, separate, batched)
        row["per_item_separate_cpu_s"] = round(separate[0] / batch, 3)
        row["per_item_batched_cpu_s"] = round(batched[0] / batch, 3)
        row["tokens"] = sum(len(t) for t in want)
        row["same_tokens"] = sum(a == b for a, b in zip(want, got, strict=True))
        row["items"] = batch
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


FLIP_FILES = (
    "monologue_dev.wav",
    "dictation_dev.wav",
    "demo_pauses_16k.wav",
    "lecture_60s_16k.wav",
    "harvard_list72_8k.wav",
)


def flip_rows(backend, args) -> dict:
    """How often the batched pass decodes other tokens than the single one: every dev recording
    cut into consecutive windows of ``--flip-window-s``, decoded in groups of ``--flip-batch``."""
    import math

    import soundfile
    import soxr

    from pipeline.backends.whisper.batch_decoder import GreedyItem, greedy_batch
    from pipeline.backends.whisper.decoding import SearchOptions
    from pipeline.backends.whisper.features import log_mel_spectrogram

    window = int(args.flip_window_s * 16_000)
    items = []
    for file in FLIP_FILES:
        audio, rate = soundfile.read(DATA / file, dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
        if rate != 16_000:
            audio = soxr.resample(audio, rate, 16_000).astype(np.float32)
        for start in range(0, audio.size - 16_000, window):  # pieces of at least 1 s
            piece = audio[start : start + window]
            frames = backend._audio_ctx.frames(piece.size, backend.dims.n_audio_ctx)
            mel = log_mel_spectrogram(piece, backend.dims.n_mels, 2 * frames)
            initial, sot_index = backend._initial_tokens(None)
            cap = max(4, math.ceil(backend.options.max_tokens_per_s * max(piece.size / 16_000, 1)))
            items.append(GreedyItem(backend.engine.encode(mel), tuple(initial), sot_index, cap))
    flipped, tokens, first_flip = 0, 0, []
    for start in range(0, len(items), args.flip_batch):
        group = items[start : start + args.flip_batch]
        got = [o.hypothesis.tokens for o in greedy_batch(backend._search, group)]
        for item, batched in zip(group, got, strict=True):
            options = SearchOptions(max_tokens=item.max_tokens)
            single = backend._search.run(item.audio, list(item.initial), item.sot_index, options)
            tokens += len(single.tokens)
            if single.tokens != batched:
                flipped += 1
                same = [a == b for a, b in zip(single.tokens, batched, strict=False)]
                first_flip.append(same.index(False) if False in same else len(same))
    row = {"what": "flips", "engine": backend.engine_name, "batch": args.flip_batch,
           "window_s": args.flip_window_s, "items": len(items), "tokens": tokens,
           "flipped_items": flipped, "first_flip_token": first_flip}  # fmt: skip
    print(json.dumps(row), flush=True)
    return row


def request_rows(backend, audios: list[np.ndarray], args) -> list[dict]:
    from pipeline.backends.whisper.batch_windows import transcribe_batch

    def reset() -> None:  # a temperature fallback samples: both paths draw the same numbers
        backend._search.rng = np.random.default_rng(backend.options.seed)

    def separate_run(chosen):
        reset()
        return [backend.transcribe(a) for a in chosen]

    def batched_run(chosen):
        reset()
        return transcribe_batch(backend, chosen, [None] * len(chosen))

    rows = []
    for batch in args.batches:
        chosen = [audios[i % len(audios)] for i in range(batch)]
        texts_single = [r.text for r in separate_run(chosen)]
        texts_batched = [r.text for r in batched_run(chosen)]
        separate, batched = paired_cpu_s(
            lambda c=chosen: separate_run(c), lambda c=chosen: batched_run(c), args.repeats
        )
        row = _row("request", backend.engine_name, batch, separate, batched)
        row["per_item_separate_cpu_s"] = round(separate[0] / batch, 3)
        row["per_item_batched_cpu_s"] = round(batched[0] / batch, 3)
        row["same_text"] = texts_single == texts_batched
        row["same_text_items"] = sum(
            a == b for a, b in zip(texts_single, texts_batched, strict=True)
        )
        row["items"] = batch
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
    parser.add_argument("--decode-engines", nargs="*", default=["numpy"], choices=["numpy", "mlx"])
    parser.add_argument("--request-engines", nargs="*", default=["numpy"], choices=["numpy", "mlx"])
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument("--no-encoder", action="store_true", help="no encoder rows")
    parser.add_argument("--no-requests", action="store_true", help="no request rows")
    parser.add_argument(
        "--same-length-s",
        type=float,
        default=None,
        help="decode/request rows over four windows of this length instead",
    )
    parser.add_argument(
        "--flip-engines",
        nargs="*",
        default=[],
        choices=["numpy", "mlx"],
        help="count items the batched pass decodes differently (dev recordings)",
    )
    parser.add_argument("--flip-window-s", type=float, default=10.0)
    parser.add_argument("--flip-batch", type=int, default=4)
    args = parser.parse_args()

    from pipeline.backends import mlx_runtime

    mlx_runtime.prepare_blas(args.blas_threads)
    mlx_runtime.limit_numpy_blas(args.blas_threads)
    from config.loader import load_config
    from pipeline.backends.factory import resolve_model_path
    from pipeline.backends.whisper.weights import load_numpy_weights, read_config

    config = load_config().config
    model_dir = Path(resolve_model_path(config.asr))
    rows: list[dict] = []
    if not args.no_encoder:
        dims, _ = read_config(model_dir)
        weights = load_numpy_weights(model_dir, "float32")
        weights.pop("alignment_heads", None)
        for name in args.engines:
            if name == "numpy":
                from pipeline.backends.whisper.cpu_engine import CpuWhisperEngine

                engine = CpuWhisperEngine(dims, weights)
            else:
                from pipeline.backends.whisper.mlx_engine import MlxWhisperEngine

                engine = MlxWhisperEngine(dims, weights)
            rows.extend(encoder_rows(engine, name, args))
    decode_figures: list[dict] = []
    request_figures: list[dict] = []
    flip_figures: list[dict] = []
    wanted = [*args.decode_engines, *args.flip_engines]
    if wanted or (args.request_engines and not args.no_requests):
        from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

        audios = load_windows(chosen_windows(args.same_length_s))
        for name in dict.fromkeys([*wanted, *args.request_engines]):
            options = WhisperOptions(
                engine=name, blas_threads=args.blas_threads, decoder_blas_threads=1
            )
            backend = WhisperBackend(str(model_dir), options)
            if name in args.decode_engines:
                decode_figures.extend(decode_rows(backend, audios, args))
            if name in args.request_engines and not args.no_requests:
                request_figures.extend(request_rows(backend, audios, args))
            if name in args.flip_engines:
                flip_figures.append(flip_rows(backend, args))
            backend.close()
    encoder_ratio = {
        f"{r['engine']}_b{r['batch']}_f{r['frames']}": r["ratio_cpu"]
        for r in rows
        if r["batch"] > 1
    }
    print(
        json.dumps(
            {
                "encoder_ratio_cpu": encoder_ratio,
                "decode_ratio_cpu": {
                    f"{r['engine']}_b{r['batch']}": r["ratio_cpu"] for r in decode_figures
                },
                "request_ratio_cpu": {
                    f"{r['engine']}_b{r['batch']}": r["ratio_cpu"] for r in request_figures
                },
                "same_tokens": f"{sum(r['same_tokens'] for r in decode_figures)}/"
                f"{sum(r['items'] for r in decode_figures)}"
                if decode_figures
                else None,
                "same_text": f"{sum(r['same_text_items'] for r in request_figures)}/"
                f"{sum(r['items'] for r in request_figures)}"
                if request_figures
                else None,
                "flipped_items": {
                    f"{r['engine']}_b{r['batch']}": f"{r['flipped_items']}/{r['items']}"
                    for r in flip_figures
                },
                "rows": rows + decode_figures + request_figures + flip_figures,
                "windows_s": [
                    round(end - start, 1) for _, start, end in chosen_windows(args.same_length_s)
                ],
                "model": model_dir.name,
                "blas_threads": args.blas_threads,
                "load_avg_1m": round(os.getloadavg()[0], 2),
                "note": "ratio = batched / separate CPU seconds (below 1 saves); encoder rows: "
                "random mels; decode rows: greedy decoding of encoded real windows; request "
                "rows: whole requests (encoder, decoding, guards, word timestamps)",
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
