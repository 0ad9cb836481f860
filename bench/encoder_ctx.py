"""Shortened encoder window (``asr.audio_ctx``) against the full 30 s window: WER per length bucket.

Requests are cut from the shared dev recordings at their reference utterance times (dictation_dev,
harvard_list72_8k, monologue_dev; jfk whole): every run of k consecutive utterances of a file
(k = 1, 2, ..., partitioning the file each time) up to 30 s, with up to 0.3 s of the neighbouring
pause on each side, as the VAD's pre-roll and hangover would give. The dev files hold no
utterance under 2 s, so the < 2 s bucket is short phrases spoken by espeak-ng (synthetic, fixed
list, two voices), said so in the output.

Each variant (``full``, or ``auto`` with its minimum window, padding and longest audio) decodes
every request with the same backend settings otherwise (greedy with temperature fallback, word
timestamps on, no prompt). Prints a table and, last, one JSON object: per variant and bucket the
WER, reference words, requests, median request and encoder milliseconds and the encoder/request
time ratio, and per auto variant its WER minus the full window's in each bucket.

    .venv/bin/python -m bench.encoder_ctx [--engine numpy|mlx] [--threads 1]
        [--variants "full;auto:min=0,pad=1;auto:min=10,pad=2"] [--short-request-only]

``short_request`` in the JSON: one 2.1 s utterance end to end (best of 5), full window against
the default auto window.

``--partials``: requests shaped like the daemon's partials instead (a segment's audio so far, cut
mid-speech): from each utterance start of the dev files (minus the 0.3 s pre-roll), prefixes of
1.5, 3, 5 and 8 s (buckets 1-2, 2-4, 4-6, 6-10 s), prompted with the text before that utterance
(the committed text a partial is prompted with), decoded as a partial is (an empty or rejected
short-window result is dropped, ``suspect``; a loop is still decoded again on 30 s). A prefix
ends inside a word and has no reference of its own, so each variant's text is scored against the
``full`` window's text on the same audio (``wer_vs_full``); the floors that keep it are the ones
a partial can use (``asr.audio_ctx_partial_min_s``). Per variant and bucket also
``suspect_rate`` (dropped) and ``retry_rate`` (decoded again on 30 s) and the encoder frames.

    .venv/bin/python -m bench.encoder_ctx --partials [--engine numpy|mlx]
        [--variants "full;auto:min=2,pad=2;auto:min=4,pad=2;auto:min=6,pad=2;auto:min=10,pad=2"]

(``min`` sets both floors there; ``auto:min=10,pmin=6,pad=2`` is the shipped pair: partials on
6 s, a loop decoded again on the finals' 10 s window before 30 s.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.engine import DATA_DIR, load_audio  # noqa: E402
from pipeline.text_metrics import edit_distance, normalize_words  # noqa: E402

RATE_HZ = 16_000
FILES = ("dictation_dev", "harvard_list72_8k", "monologue_dev")
EDGE_S = 0.3  # pause kept on each side of a request
BUCKETS = ((0, 2), (2, 5), (5, 10), (10, 20), (20, 30))
SHORT_PHRASES = (
    "Yes.", "No.", "Thank you.", "Okay.", "Next slide, please.", "Call me back.",
    "Stop the recording.", "Sounds good.", "Seven thirty.", "What time is it?",
    "Not yet.", "Send it now.", "Good morning.", "I agree.", "Twenty five.",
)  # fmt: skip
VOICES = ("en-us", "en-gb")
DEFAULT_VARIANTS = "full;auto:min=0,pad=1;auto:min=5,pad=2;auto:min=10,pad=2"
PARTIAL_VARIANTS = "full;auto:min=2,pad=2;auto:min=4,pad=2;auto:min=6,pad=2;auto:min=10,pad=2"
PARTIAL_FILES = ("dictation_dev", "monologue_dev", "harvard_list72_8k")
PARTIAL_LENGTHS_S = (1.5, 3.0, 5.0, 8.0)
PARTIAL_BUCKETS = ((1, 2), (2, 4), (4, 6), (6, 10))


def bucket_of(duration_s: float, buckets=BUCKETS) -> str:
    for low, high in buckets:
        if low <= duration_s < high:
            return f"{low}-{high}s"
    return f"{buckets[-1][0]}-{buckets[-1][1]}s"


def partial_requests(files=PARTIAL_FILES) -> list[tuple[str, np.ndarray, str]]:
    """(label, audio, prompt): prefixes of each utterance onwards, as a partial would send them
    (the segment so far after a commit or a pause), prompted with the text before it."""
    requests = []
    for name in files:
        meta = json.loads((DATA_DIR / f"{name}.json").read_text())
        audio = load_audio(DATA_DIR / f"{name}.wav")
        utterances = meta["utterances"]
        for index, utterance in enumerate(utterances):
            start = max(0.0, utterance["start"] - EDGE_S)
            prompt = " ".join(u["text"] for u in utterances[:index])[-400:]
            for length_s in PARTIAL_LENGTHS_S:
                end = start + length_s
                if end > len(audio) / RATE_HZ:
                    continue
                piece = audio[int(start * RATE_HZ) : int(end * RATE_HZ)]
                requests.append((f"{name}@{start:.1f}+{length_s}", piece, prompt))
    return requests


def dev_requests() -> list[tuple[str, np.ndarray, str]]:
    """(label, audio, reference) for runs of consecutive utterances of each dev file, and jfk."""
    requests = []
    for name in FILES:
        meta = json.loads((DATA_DIR / f"{name}.json").read_text())
        audio = load_audio(DATA_DIR / f"{name}.wav")
        utterances = meta["utterances"]
        for k in range(1, len(utterances) + 1):
            for first in range(0, len(utterances), k):
                run = utterances[first : first + k]
                before = utterances[first - 1]["end"] if first else 0.0
                after = utterances[first + k]["start"] if first + k < len(utterances) else None
                start = max(before, run[0]["start"] - EDGE_S)
                end = (
                    run[-1]["end"] + EDGE_S
                    if after is None
                    else min(after, run[-1]["end"] + EDGE_S)
                )
                if end - start > 30.0:
                    continue
                piece = audio[int(start * RATE_HZ) : int(end * RATE_HZ)]
                text = " ".join(u["text"] for u in run)
                requests.append((f"{name}[{first}:{first + k}]", piece, text))
    references = json.loads((DATA_DIR / "references.json").read_text())
    requests.append(("jfk", load_audio(DATA_DIR / "jfk.flac"), references["jfk.flac"]))
    return requests


def short_requests() -> list[tuple[str, np.ndarray, str]]:
    """Short phrases spoken by espeak-ng, with 0.3 s of silence on each side."""
    import soundfile
    import soxr

    requests = []
    edge = np.zeros(int(EDGE_S * RATE_HZ), np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        for index, text in enumerate(SHORT_PHRASES):
            voice = VOICES[index % len(VOICES)]
            path = Path(tmp) / f"{index}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", str(path), text],
                           check=True, capture_output=True)  # fmt: skip
            audio, rate = soundfile.read(str(path), dtype="float32")
            audio = soxr.resample(audio, rate, RATE_HZ).astype(np.float32) * 0.5
            requests.append((f"espeak:{text}", np.concatenate([edge, audio, edge]), text))
    return requests


def parse_variant(spec: str) -> dict:
    """``full`` or ``auto:min=S,pad=S,max=S,pmin=S`` -> WhisperOptions fields (pmin: the
    partials' own floor; a loop on it is decoded again on the ``min`` window first)."""
    mode, _, rest = spec.partition(":")
    fields: dict = {"audio_ctx": mode}
    keys = {"min": "audio_ctx_min_s", "pad": "audio_ctx_pad_s", "max": "audio_ctx_max_audio_s",
            "pmin": "audio_ctx_partial_min_s"}  # fmt: skip
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        fields[keys[key]] = float(value)
    return fields


def run_variant(spec: str, engine: str, threads: int, requests) -> dict:
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

    options = WhisperOptions(engine=engine, blas_threads=threads, **parse_variant(spec))
    backend = WhisperBackend("", options)
    backend.transcribe(requests[0][1])  # warm-up
    per_bucket: dict[str, dict] = {}
    for label, audio, reference in requests:
        started = time.perf_counter()
        result = backend.transcribe(audio)
        request_s = time.perf_counter() - started
        ref_words, hyp_words = normalize_words(reference), normalize_words(result.text)
        errors = edit_distance(ref_words, hyp_words)
        stats = per_bucket.setdefault(bucket_of(len(audio) / RATE_HZ), {
            "errors": 0, "words": 0, "requests": 0, "request_ms": [], "encode_ms": [],
            "ctx": [], "retries": 0})  # fmt: skip
        stats["errors"] += errors
        stats["words"] += len(ref_words)
        stats["requests"] += 1
        stats["request_ms"].append(request_s * 1000)
        stats["encode_ms"].append(result.details.get("encode_s", float("nan")) * 1000)
        stats["ctx"].append(result.details.get("audio_ctx", float("nan")))
        stats["retries"] += "audio_ctx_retry_s" in result.details
        if errors > max(1, len(ref_words) // 4):
            print(f"  {spec} {label} ({len(audio) / RATE_HZ:.1f} s): {errors} errors: "
                  f"{result.text!r}")  # fmt: skip
    backend.close()
    summary = {}
    for bucket, stats in sorted(per_bucket.items(), key=lambda item: float(item[0].split("-")[0])):
        request_ms = statistics.median(stats["request_ms"])
        encode_ms = statistics.median(stats["encode_ms"])
        summary[bucket] = {
            "wer": round(stats["errors"] / max(1, stats["words"]), 4),
            "words": stats["words"],
            "requests": stats["requests"],
            "request_ms_p50": round(request_ms, 1),
            "encode_ms_p50": round(encode_ms, 1),
            "encoder_over_request": round(sum(stats["encode_ms"]) / sum(stats["request_ms"]), 3),
            "audio_ctx_p50": statistics.median(stats["ctx"]),
            "full_window_retries": stats["retries"],
        }
    return summary


def run_partials(specs: list[str], engine: str, threads: int, requests) -> dict:
    """Every partial-shaped request under each variant, scored against the ``full`` variant's
    text on the same audio; per variant and bucket (see the module doc)."""
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

    outputs: dict[str, list[dict]] = {}
    for spec in specs:
        fields = parse_variant(spec)
        if "audio_ctx_min_s" in fields:  # min: both floors, unless pmin gives the partials' own
            fields.setdefault("audio_ctx_partial_min_s", fields["audio_ctx_min_s"])
        options = WhisperOptions(engine=engine, blas_threads=threads, **fields)
        backend = WhisperBackend("", options)
        backend.transcribe(requests[0][1])  # warm-up
        backend.retry_suspect = False  # as the worker decodes a partial
        backend.partial_request = True
        rows = []
        for _label, audio, prompt in requests:
            cpu_started_s = time.process_time()
            result = backend.transcribe(audio, prompt=prompt or None)
            rows.append({
                "text": result.text, "cpu_ms": (time.process_time() - cpu_started_s) * 1000,
                "suspect": bool(result.details.get("suspect")),
                "retry": "audio_ctx_retry_s" in result.details,
                "frames": result.details.get("audio_ctx", 0.0)})  # fmt: skip
        backend.close()
        outputs[spec] = rows
    reference = outputs.get("full") or outputs[specs[0]]
    summary: dict[str, dict] = {}
    for spec, rows in outputs.items():
        per_bucket: dict[str, dict] = {}
        for (label, audio, _), row, ref in zip(requests, rows, reference, strict=True):
            stats = per_bucket.setdefault(bucket_of(len(audio) / RATE_HZ, PARTIAL_BUCKETS), {
                "errors": 0, "words": 0, "requests": 0, "suspect": 0, "retry": 0,
                "cpu_ms": 0.0, "frames": 0.0})  # fmt: skip
            stats["requests"] += 1
            stats["suspect"] += row["suspect"]
            stats["retry"] += row["retry"]
            stats["cpu_ms"] += row["cpu_ms"]
            stats["frames"] += row["frames"]
            if row["suspect"]:
                continue  # dropped: no preview this round, nothing that could be committed
            ref_words, hyp_words = normalize_words(ref["text"]), normalize_words(row["text"])
            errors = edit_distance(ref_words, hyp_words)
            stats["errors"] += errors
            stats["words"] += len(ref_words)
            if spec != "full" and errors > max(1, len(ref_words) // 4):
                print(f"  {spec} {label}: {errors} errors vs full {ref['text']!r}: "
                      f"{row['text']!r}")  # fmt: skip
        summary[spec] = {
            bucket: {
                "wer_vs_full": round(stats["errors"] / max(1, stats["words"]), 4),
                "words": stats["words"],
                "requests": stats["requests"],
                "suspect_rate": round(stats["suspect"] / stats["requests"], 3),
                "retry_rate": round(stats["retry"] / stats["requests"], 3),
                "cpu_ms_mean": round(stats["cpu_ms"] / stats["requests"], 1),
                "frames_mean": round(stats["frames"] / stats["requests"], 1),
            }
            for bucket, stats in sorted(per_bucket.items(), key=_bucket_start)
        }
        for bucket, row in summary[spec].items():
            print(f"{spec:22s} {bucket:6s} WER vs full {row['wer_vs_full']:.4f} "
                  f"({row['words']:4d} words, {row['requests']:3d} requests), suspect "
                  f"{row['suspect_rate']:.3f}, retried {row['retry_rate']:.3f}, frames "
                  f"{row['frames_mean']:6.1f}, CPU {row['cpu_ms_mean']:6.1f} ms")  # fmt: skip
    return summary


def _bucket_start(item: tuple[str, dict]) -> float:
    return float(item[0].split("-")[0])


def short_request(engine: str, threads: int, rounds: int = 5) -> dict:
    """One 2.1 s utterance (harvard sentence 5 with its edges) end to end, full window against
    the default auto window: best of ``rounds``, the two alternating (the machine is shared)."""
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

    meta = json.loads((DATA_DIR / "harvard_list72_8k.json").read_text())["utterances"][4]
    audio = load_audio(DATA_DIR / "harvard_list72_8k.wav")
    piece = audio[int((meta["start"] - 0.2) * RATE_HZ) : int((meta["end"] + 0.2) * RATE_HZ)]
    backends = {mode: WhisperBackend("", WhisperOptions(engine=engine, blas_threads=threads,
                                                         audio_ctx=mode))
                for mode in ("full", "auto")}  # fmt: skip
    best = {mode: float("inf") for mode in backends}
    texts = {}
    for _ in range(rounds + 1):  # the first round warms up (MLX compiles each shape once)
        for mode, backend in backends.items():
            started = time.perf_counter()
            texts[mode] = backend.transcribe(piece).text
            best[mode] = min(best[mode], (time.perf_counter() - started) * 1000)
    best = {mode: round(ms, 1) for mode, ms in best.items()}
    print(f"{engine}: {len(piece) / RATE_HZ:.1f} s request, best of {rounds}: full window "
          f"{best['full']} ms, auto {best['auto']} ms ({texts['auto']!r})")  # fmt: skip
    return {"audio_s": round(len(piece) / RATE_HZ, 2), "full_ms": best["full"],
            "auto_ms": best["auto"], "full_over_auto": round(best["full"] / best["auto"], 2),
            "same_text": texts["full"] == texts["auto"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="numpy", choices=("numpy", "mlx"))
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (1: a 2-worker setup)")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help="';'-separated")
    parser.add_argument("--short-request-only", action="store_true",
                        help="only the 2 s request, full window against auto")  # fmt: skip
    parser.add_argument(
        "--partials",
        action="store_true",
        help="partial-shaped requests (prefixes), scored against the full window",
    )
    parser.add_argument("--partial-files", default=",".join(PARTIAL_FILES),
                        help="with --partials: the dev files cut into requests")  # fmt: skip
    args = parser.parse_args()
    if args.partials:
        requests = partial_requests(tuple(filter(None, args.partial_files.split(","))))
        specs = (PARTIAL_VARIANTS if args.variants == DEFAULT_VARIANTS else args.variants).split(
            ";"
        )
        print(f"{len(requests)} partial-shaped requests, "
              f"{sum(len(a) for _, a, _ in requests) / RATE_HZ:.0f} s of audio, "
              f"{len(specs)} variants")  # fmt: skip
        results = run_partials(specs, args.engine, args.threads, requests)
        print(json.dumps({"engine": args.engine, "blas_threads": args.threads, "mode": "partials",
                          "reference": "full window text on the same audio",
                          "variants": results}))  # fmt: skip
        return
    short = short_request(args.engine, args.threads)
    if args.short_request_only:
        print(json.dumps({"engine": args.engine, "blas_threads": args.threads,
                          "short_request": short}))  # fmt: skip
        return

    requests = short_requests() + dev_requests()
    print(f"{len(requests)} requests, {sum(len(a) for _, a, _ in requests) / RATE_HZ:.0f} s "
          f"of audio; < 2 s bucket: espeak-ng phrases (synthetic)")  # fmt: skip
    results = {}
    for spec in args.variants.split(";"):
        results[spec] = run_variant(spec, args.engine, args.threads, requests)
        for bucket, row in results[spec].items():
            print(f"{spec:28s} {bucket:7s} WER {row['wer']:.4f} ({row['words']:4d} words, "
                  f"{row['requests']:3d} requests)  request p50 {row['request_ms_p50']:7.1f} ms, "
                  f"encoder p50 {row['encode_ms_p50']:7.1f} ms, ctx {row['audio_ctx_p50']:.0f}, "
                  f"{row['full_window_retries']} retried on 30 s")  # fmt: skip
    deltas = {}
    if "full" in results:
        for spec, buckets in results.items():
            if spec != "full":
                deltas[spec] = {
                    bucket: round(row["wer"] - results["full"][bucket]["wer"], 4)
                    for bucket, row in buckets.items()
                    if bucket in results["full"]
                }
    print(json.dumps({"engine": args.engine, "blas_threads": args.threads,
                      "short_bucket_source": "espeak-ng phrases (synthetic)",
                      "short_request": short, "variants": results,
                      "wer_minus_full": deltas}))  # fmt: skip


if __name__ == "__main__":
    main()
