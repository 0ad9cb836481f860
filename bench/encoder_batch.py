"""Is batching several streams' windows into one encoder call worth it on the numpy engine?

Cross-stream batching (issue 11) would encode the queued segments of different streams in one
call. On the CPU engine the encoder is GEMMs (per-token linear layers, which can take the
windows stacked) plus attention (per window). This bench times, for windows of ``--frames``
encoder frames (1500 = a full 30 s window, 500 = 10 s as with a shortened audio context):
B separate ``CpuWhisperEngine.encode`` calls against one pass with the linear layers on the B
windows stacked (attention still per window), median of ``--repeats``. Decoding (the larger
share for short segments) is not batched here.

It reads the engine's weights (private attributes of ``cpu_engine``); it changes nothing.

    .venv/bin/python bench/encoder_batch.py --repeats 5
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

from config.loader import load_config  # noqa: E402
from pipeline.backends.factory import resolve_model_path  # noqa: E402
from pipeline.backends.whisper import cpu_engine as ce  # noqa: E402
from pipeline.backends.whisper.weights import load_numpy_weights, read_config  # noqa: E402


def stacked_encode(engine: ce.CpuWhisperEngine, mels: list[np.ndarray]) -> np.ndarray:
    """The encoder over ``mels`` with the linear layers on all windows at once."""
    xs = []
    for mel in mels:
        frames = ce.check_mel_frames(mel, engine.dims)
        x = ce.gelu(engine._conv(np.ascontiguousarray(mel.T), *engine._conv1, stride=1))
        x = ce.gelu(engine._conv(x, *engine._conv2, stride=2))
        xs.append(x + engine._enc_pos[:frames])
    sizes = [len(x) for x in xs]
    x = np.concatenate(xs)
    for block in engine._enc_blocks:
        qkv = ce.layer_norm(x, *block.attn_ln) @ block.qkv_w + block.qkv_b
        outputs, offset = [], 0
        for size in sizes:
            parts = np.split(qkv[offset : offset + size], 3, axis=-1)
            q, k, v = (ce._split_heads(part, engine._enc_heads) for part in parts)
            weights = ce.softmax_(q @ np.swapaxes(k, -1, -2))
            outputs.append(ce._merge_heads(weights @ v))
            offset += size
        x = x + np.concatenate(outputs) @ block.out_w + block.out_b
        hidden = ce.gelu(ce.layer_norm(x, *block.mlp_ln) @ block.mlp1_w + block.mlp1_b)
        x = x + hidden @ block.mlp2_w + block.mlp2_b
    return ce.layer_norm(x, *engine._enc_ln)


def timed(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, nargs="+", default=[1500, 500])
    parser.add_argument("--batches", type=int, nargs="+", default=[2, 4])
    args = parser.parse_args()
    config = load_config().config
    model_dir = Path(resolve_model_path(config.asr))
    dims, _ = read_config(model_dir)
    weights = load_numpy_weights(model_dir, "float32")
    weights.pop("alignment_heads", None)
    engine = ce.CpuWhisperEngine(dims, weights)
    rng = np.random.default_rng(0)
    rows = []
    for frames in args.frames:
        mels = [
            rng.standard_normal((dims.n_mels, 2 * frames)).astype(np.float32)
            for _ in range(max(args.batches))
        ]
        engine.encode(mels[0])  # warm-up
        single_s = timed(lambda mels=mels: engine.encode(mels[0]), args.repeats)
        for batch in args.batches:
            chosen = mels[:batch]
            separate_s = timed(
                lambda chosen=chosen: [engine.encode(m) for m in chosen], args.repeats
            )
            stacked_s = timed(lambda chosen=chosen: stacked_encode(engine, chosen), args.repeats)
            row = {
                "frames": frames,
                "batch": batch,
                "single_ms": round(single_s * 1000, 1),
                "separate_ms": round(separate_s * 1000, 1),
                "stacked_ms": round(stacked_s * 1000, 1),
                "stacked_over_separate": round(stacked_s / separate_s, 3),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    ratios = [row["stacked_over_separate"] for row in rows]
    print(
        json.dumps(
            {
                "encoder_batch_gain": round(1 - statistics.median(ratios), 3) if ratios else None,
                "rows": rows,
                "model": model_dir.name,
                "load_avg_1m": round(os.getloadavg()[0], 2),
                "note": "gain = 1 - median(stacked / separate); encoder only (decoding unbatched)",
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
