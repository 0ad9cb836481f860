"""What parakeet's cache-aware streaming costs against its own offline pass, on this machine.

RANDOM WEIGHTS: no parakeet weights are reachable here, so the model is a randomly initialised
FastConformer-TDT of a real encoder's shape (default: parakeet-tdt_ctc-110m's, 17 layers, d_model
512, 8 heads, feed-forward x4, 256 subsampling channels; ``--layers``/``--d-model`` for another).
The encoder's cost does not depend on the weights' values; the transducer's decoding does (random
weights emit arbitrary tokens), and the text means nothing, so only CPU is reported.

The first ``--seconds`` of monologue_dev (continuous speech) go through

- one offline pass (``ParakeetBackend.transcribe``, full attention), and
- a ``ParakeetStreamSession`` per streaming preset (``low-latency`` 2/0.25/0.25 s, ``balanced``
  5/0.5/0.5 s, ``high-quality`` 10/1/1 s left/chunk/right), fed ``--feed-s`` of audio at a time
  as the scheduler's feeds bring it, then finished,

and each is charged its process CPU time (MLX on the CPU here, one BLAS thread). Then the encoder
layers alone, without caches, over windows of a chunk's size and of the whole excerpt: the cost
per encoder frame at each size, which is what small streaming steps pay on this backend.

Prints a table and, last, one JSON object: ``offline_cpu_s_per_audio_s``, per preset
``stream_cpu_s_per_audio_s`` and ``stream_over_offline``, ``encoder_ms_per_frame`` by window
frames, and the model shape with ``weights: "random"``.

    .venv/bin/python bench/parakeet_stream_cost.py [--seconds 20] [--feed-s 0.5]
        [--presets low-latency,balanced,high-quality] [--layers 17] [--d-model 512]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.mlx_blas import prepare_blas  # noqa: E402

RATE_HZ = 16_000
RECORDING = "monologue_dev.wav"


def build_backend(layers: int, d_model: int):
    from pipeline.backends.parakeet import ParakeetBackend
    from pipeline.backends.parakeet_testing import tiny_parakeet_config

    config = tiny_parakeet_config(
        "tdt",
        n_layers=layers,
        d_model=d_model,
        n_heads=8,
        ff_expansion_factor=4,
        subsampling_conv_channels=256,
    )
    return ParakeetBackend.from_config(config, seed=1)


def offline_cpu_s(backend, audio) -> float:
    backend.transcribe(audio[:RATE_HZ])  # warm: kernels, allocations
    start_s = time.process_time()
    backend.transcribe(audio)
    return time.process_time() - start_s


def stream_cpu_s(backend, audio, feed_samples: int, preset: str) -> float:
    from pipeline.backends.parakeet import ParakeetStreamingOptions

    session = backend.open_stream(ParakeetStreamingOptions.preset(preset))
    session.feed(audio[:RATE_HZ])  # warm, then start over
    session.reset()
    start_s = time.process_time()
    for position in range(0, audio.size, feed_samples):
        session.feed(audio[position : position + feed_samples])
    session.finish()
    return time.process_time() - start_s


def encoder_ms_per_frame(backend, audio, seconds: list[float], repeat: int = 3) -> dict[str, float]:
    """The encoder (subsampling and layers, no caches) per output frame, by window length."""
    from pipeline.backends import mlx_runtime

    mx = mlx_runtime.import_mlx()
    encoder = backend.model.encoder
    figures: dict[str, float] = {}
    for window_s in seconds:
        mel = backend.log_mel(audio[: int(window_s * RATE_HZ)])
        mx.eval(mel)

        def run(mel=mel):
            x, _ = encoder.pre_encode(mel, mx.array([mel.shape[1]]))
            x, pos_emb = encoder.pos_enc(x, offset=0)
            for layer in encoder.layers:
                x = layer(x, pos_emb=pos_emb)
            mx.eval(x)
            return x.shape[1]

        frames = run()
        start_s = time.process_time()
        for _ in range(repeat):
            run()
        figures[str(frames)] = round((time.process_time() - start_s) / repeat / frames * 1000, 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="excerpt of monologue_dev")
    parser.add_argument("--feed-s", type=float, default=0.5, help="audio per feed")
    parser.add_argument("--presets", default="low-latency,balanced,high-quality")
    parser.add_argument("--layers", type=int, default=17)
    parser.add_argument("--d-model", type=int, default=512)
    args = parser.parse_args()
    prepare_blas(1)

    import soundfile

    from tests.data_paths import DATA_DIR

    audio, rate = soundfile.read(DATA_DIR / RECORDING, dtype="float32")
    if rate != RATE_HZ:
        raise SystemExit(f"{RECORDING}: expected {RATE_HZ} Hz, got {rate}")
    audio = audio[: int(args.seconds * RATE_HZ)]
    audio_s = audio.size / RATE_HZ
    presets = [p for p in args.presets.split(",") if p]
    backend = build_backend(args.layers, args.d_model)
    offline_s = offline_cpu_s(backend, audio)
    print(
        f"parakeet, RANDOM weights, {args.layers} layers x d_model {args.d_model}, "
        f"{audio_s:.1f} s of {RECORDING}, feeds of {args.feed_s} s"
    )
    print(f"offline: {offline_s:.2f} CPU s ({offline_s / audio_s:.4f} per audio s)")
    rows = {}
    for preset in presets:
        cpu_s = stream_cpu_s(backend, audio, int(args.feed_s * RATE_HZ), preset)
        rows[preset] = {
            "stream_cpu_s_per_audio_s": round(cpu_s / audio_s, 4),
            "stream_over_offline": round(cpu_s / offline_s, 2),
        }
        print(
            f"stream {preset:13s}: {cpu_s:.2f} CPU s ({cpu_s / audio_s:.4f} per audio s), "
            f"{cpu_s / offline_s:.2f}x offline"
        )
    per_frame = encoder_ms_per_frame(backend, audio, [0.5, 1.0, 2.0, 5.0, audio_s])
    print(f"encoder ms per frame by window frames: {per_frame}")
    print(
        json.dumps(
            {
                "weights": "random",
                "layers": args.layers,
                "d_model": args.d_model,
                "audio_s": round(audio_s, 1),
                "feed_s": args.feed_s,
                "offline_cpu_s_per_audio_s": round(offline_s / audio_s, 4),
                "presets": rows,
                "encoder_ms_per_frame": per_frame,
            }
        )
    )


if __name__ == "__main__":
    main()
