"""Engine bench: streamscribe's Whisper engines (numpy, MLX) against faster-whisper on the same audio.

Same files (cut once into ≤ 30 s windows at their quietest point), same tiny.en weights (the
embedded CTranslate2 model for faster-whisper, its MLX conversion for us), greedy decoding, no
prompt; contenders alternate within each round and the best round counts (the machines are shared
and noisy). Prints one line per measurement and, last, one JSON object with per-engine real-time
factors, ``ratio`` (our default engine on this platform / faster-whisper), ``ratio_mlx`` (the MLX
engine / faster-whisper) and per-variant figures (dtype and quantization, default engine).

    .venv/bin/python -m bench.engine [--rounds 2] [--threads 2] [--variants float32,bfloat16,8bit,4bit]
                                     [--decoder-threads-ab] [--words]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
FILES = ("jfk.flac", "dictation_dev.wav", "monologue_dev.wav", "lecture_60s_16k.wav")
WINDOW_S = 30.0
MIN_CUT_S = 20.0  # cut a long file between 20 and 30 s into the window, where it is quietest
RATE_HZ = 16_000


def load_audio(path: Path) -> np.ndarray:
    """16 kHz mono float32 of ``path``."""
    import soundfile
    import soxr

    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if rate != RATE_HZ:
        audio = soxr.resample(audio, rate, RATE_HZ)
    return np.ascontiguousarray(audio, dtype=np.float32)


def windows(audio: np.ndarray) -> list[np.ndarray]:
    """≤ 30 s pieces of ``audio``, each cut at the quietest 100 ms between 20 and 30 s."""
    frame = RATE_HZ // 10
    pieces, start = [], 0
    while audio.size - start > WINDOW_S * RATE_HZ:
        lo, hi = start + int(MIN_CUT_S * RATE_HZ), start + int(WINDOW_S * RATE_HZ)
        frames = audio[lo:hi][: (hi - lo) // frame * frame].reshape(-1, frame)
        cut = lo + int(np.argmin(np.square(frames).mean(axis=1))) * frame + frame // 2
        pieces.append(audio[start:cut])
        start = cut
    pieces.append(audio[start:])
    return pieces


def references() -> dict[str, str]:
    refs = json.loads((DATA_DIR / "references.json").read_text())
    for name in FILES:
        side = DATA_DIR / name.replace(".wav", ".json")
        if side.exists() and name.endswith(".wav"):
            refs.setdefault(name, json.loads(side.read_text())["text"])
    return refs


def run_faster_whisper(model, chunks: dict[str, list[np.ndarray]]) -> tuple[float, dict[str, str]]:
    texts, started = {}, time.perf_counter()
    for name, pieces in chunks.items():
        parts = []
        for piece in pieces:
            segments, _ = model.transcribe(
                piece, language="en", beam_size=1, condition_on_previous_text=False,
                vad_filter=False, without_timestamps=True,
            )  # fmt: skip
            parts.extend(s.text.strip() for s in segments)
        texts[name] = " ".join(parts)
    return time.perf_counter() - started, texts


def run_streamscribe(backend, chunks: dict[str, list[np.ndarray]]) -> tuple[float, dict[str, str]]:
    texts, started = {}, time.perf_counter()
    for name, pieces in chunks.items():
        texts[name] = " ".join(backend.transcribe(piece).text for piece in pieces).strip()
    return time.perf_counter() - started, texts


def wers(texts: dict[str, str], refs: dict[str, str]) -> dict[str, float]:
    from pipeline.text_metrics import word_error_rate

    return {name: round(word_error_rate(refs[name], text), 4)
            for name, text in texts.items() if name in refs}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="A/B rounds (engines alternate)")
    parser.add_argument("--threads", type=int, default=2, help="threads of each engine")
    parser.add_argument("--variants", default="float32,bfloat16,8bit,4bit")
    parser.add_argument("--words", action="store_true", help="also time with word timestamps")
    parser.add_argument("--decoder-threads-ab", action="store_true",
                        help="also run each engine with the decoder on all BLAS threads")  # fmt: skip
    args = parser.parse_args(argv)

    from pipeline.backends import mlx_runtime

    mlx_runtime.prepare_blas(args.threads)  # before anything imports mlx
    mlx_runtime.limit_numpy_blas(args.threads)
    from faster_whisper import WhisperModel

    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions, choose_engine
    from pipeline.models import embedded_model_dir

    chunks = {name: windows(load_audio(DATA_DIR / name)) for name in FILES}
    audio_s = sum(p.size for pieces in chunks.values() for p in pieces) / RATE_HZ
    refs = references()
    print(f"audio: {len(FILES)} files, {audio_s:.1f} s, "
          f"{sum(map(len, chunks.values()))} windows")  # fmt: skip

    fw = WhisperModel(str(embedded_model_dir()), device="cpu", compute_type="int8",
                      cpu_threads=args.threads)  # fmt: skip
    default_engine, why = choose_engine("auto")
    print(f"default engine here: {default_engine} ({why})")

    def backend(engine: str, **overrides) -> WhisperBackend:
        fields = {"use_prompt": False, "word_timestamps": False, "blas_threads": args.threads}
        return WhisperBackend("", WhisperOptions(engine=engine, **{**fields, **overrides}))

    contenders = {"numpy": backend("numpy"), "mlx": backend("mlx")}
    if args.decoder_threads_ab:  # the per-phase BLAS threads against one count for both phases
        contenders["numpy-decoder-all-threads"] = backend("numpy", decoder_blas_threads=0)
        contenders["mlx-decoder-all-threads"] = backend("mlx", decoder_blas_threads=0)
    run_faster_whisper(fw, {"jfk.flac": chunks["jfk.flac"]})  # warm-up every contender
    for ours in contenders.values():
        run_streamscribe(ours, {"jfk.flac": chunks["jfk.flac"]})

    fw_times: list[float] = []
    times: dict[str, list[float]] = {name: [] for name in contenders}
    texts: dict[str, dict[str, str]] = {}
    for round_index in range(args.rounds):
        fw_s, fw_texts = run_faster_whisper(fw, chunks)
        fw_times.append(fw_s)
        line = [f"round {round_index + 1}: faster-whisper {fw_s:.2f} s"]
        for name, ours in contenders.items():
            seconds, texts[name] = run_streamscribe(ours, chunks)
            times[name].append(seconds)
            line.append(f"{name} {seconds:.2f} s ({seconds / fw_s:.2f}x)")
        print(", ".join(line))
    fw_s = min(fw_times)
    best = {name: min(values) for name, values in times.items()}
    fw_wer = wers(fw_texts, refs)
    print(f"faster-whisper int8 {args.threads} threads: {fw_s:.2f} s, RTF {fw_s / audio_s:.4f}, "
          f"WER {fw_wer}")  # fmt: skip
    for name, seconds in best.items():
        print(f"streamscribe {name} float32: {seconds:.2f} s, RTF {seconds / audio_s:.4f}, "
              f"{seconds / fw_s:.2f}x faster-whisper's time, WER {wers(texts[name], refs)}")  # fmt: skip
    our_s = best[default_engine]
    result: dict[str, object] = {
        "audio_s": round(audio_s, 2),
        "default_engine": default_engine,
        "default_engine_reason": why,
        "streamscribe_rtf": round(our_s / audio_s, 4),
        "numpy_rtf": round(best["numpy"] / audio_s, 4),
        "mlx_rtf": round(best["mlx"] / audio_s, 4),
        "faster_whisper_rtf": round(fw_s / audio_s, 4),
        "ratio": round(our_s / fw_s, 3),
        "ratio_mlx": round(best["mlx"] / fw_s, 3),
        "wer": {name: wers(texts[name], refs) for name in contenders},
        "faster_whisper_wer": fw_wer,
        "variants": {},
    }
    for name in contenders:
        if name.endswith("-decoder-all-threads"):
            result[f"{name}_rtf"] = round(best[name] / audio_s, 4)
    for ours in contenders.values():
        ours.close()
    if args.words:
        worded = backend(default_engine, word_timestamps=True)
        words_s = min(run_streamscribe(worded, chunks)[0] for _ in range(args.rounds))
        print(f"streamscribe {default_engine} float32 + word timestamps: {words_s:.2f} s, "
              f"RTF {words_s / audio_s:.4f}")  # fmt: skip
        result["words_rtf"] = round(words_s / audio_s, 4)
    for variant in filter(None, args.variants.split(",")):
        quantization = variant if variant.endswith("bit") else "none"
        dtype = "float32" if quantization != "none" else variant
        variant_backend = WhisperBackend("", WhisperOptions(
            engine=default_engine, use_prompt=False, word_timestamps=False, dtype=dtype,
            blas_threads=args.threads), quantization)  # fmt: skip
        variant_times, variant_texts = [], {}
        for _ in range(args.rounds):
            seconds, variant_texts = run_streamscribe(variant_backend, chunks)
            variant_times.append(seconds)
        seconds = min(variant_times)
        variant_wer = wers(variant_texts, refs)
        print(f"variant {variant} ({default_engine}): {seconds:.2f} s, RTF {seconds / audio_s:.4f}, "
              f"vs float32 {seconds / our_s:.2f}x, WER {variant_wer}")  # fmt: skip
        result["variants"][variant] = {
            "rtf": round(seconds / audio_s, 4),
            "time_vs_float32": round(seconds / our_s, 3),
            "wer": variant_wer,
        }
        variant_backend.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
