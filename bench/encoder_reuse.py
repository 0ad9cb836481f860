"""Encoder work reused across partials: how much it could save and what it costs in words.

A stream's partials come about once a second, and most of them start where the one before
started (the window keeps its committed context until a sentence ends, ``commit_policy``), so a
partial re-encodes the audio its predecessor encoded a second earlier. Whisper's encoder attends
over the whole window both ways, so no row of the previous pass is exactly reusable: a row's
output changes once audio arrives after it. This bench measures the approximation a streaming
encoder would make without retraining: the rows of audio that ended more than ``L`` seconds
before the previous partial's newest audio keep their per-layer keys, values and output from the
previous pass; only the rows after them (the last ``L`` s heard before, the new audio and the
padding after it) are computed, attending to the kept rows' keys and values. Rows kept once are
kept again by the next partial, so the oldest rows of a long window were computed when it held a
few seconds of audio.

**Text.** Every reference utterance of each file gets its own run of partials, as the daemon
makes them: the window starts 0.3 s before the utterance (the lead-in before a cut after a
sentence) and grows by 1 s a partial from 3 s up to 3 s past the utterance's end (at most
``--span-s``), prompted, decoded as a partial is (greedy, the partial's encoder floor, no full
window retry). Each run is decoded with the full encoder and with rows kept at each ``L``. The
words of every partial that heard at least 0.7 s past the utterance's end and start before that
end are scored against the utterance's reference: the words a commit would make final.

**Ceiling under the daemon's own schedule.** ``--hypotheses FILE`` (written by
``bench/commit_latency.py --simulate --cost-model --hypotheses FILE``) reads every request of a
simulated run and counts, per ``L``, the encoder frames that could have been kept: those of
partials starting where the previous partial started, older than its newest audio minus ``L``.

Numpy engine only (it exposes the encoder's blocks; the question is the model's, not the
engine's). Last line: one JSON object with per-``L`` WER (and minus the full encoder's), the
reference words, the fraction of encoder rows computed, the encoder CPU seconds, and the
schedule's reusable fraction when ``--hypotheses`` is given.

    .venv/bin/python bench/encoder_reuse.py [--files monologue_dev.wav,dictation_dev.wav]
        [--lookbacks 1,2,3] [--span-s 10] [--hypotheses FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.commit_latency import resolve_file  # noqa: E402
from bench.engine import load_audio  # noqa: E402
from pipeline.text_metrics import edit_distance, normalize_words  # noqa: E402

RATE_HZ = 16_000
FRAMES_PER_S = 50  # encoder rows per second of audio
LEAD_IN_S = 0.3  # the window starts this long before the utterance
FIRST_PARTIAL_S = 3.0  # the run's first partial hears this much
PARTIAL_STEP_S = 1.0  # each next partial hears this much more (``vad.partial_interval_s``)
PAST_END_S = 3.0  # the run goes on this long past the utterance's end
SCORED_AFTER_S = 0.7  # partials that heard this long past the end are scored
PROMPT = "Earlier words of the talk."


@dataclass(slots=True)
class KeptRowsEncoder:
    """The numpy engine's encoder, keeping the first ``keep_rows`` rows of the previous pass."""

    engine: Any
    keep_rows: int = 0
    rows_computed: int = 0
    rows_total: int = 0
    cpu_s: float = 0.0
    _previous: dict[str, Any] | None = field(default=None, repr=False)

    def reset(self) -> None:
        """A new window start: nothing of the previous pass is kept."""
        self._previous = None
        self.keep_rows = 0

    def encode(self, mel: np.ndarray):
        from pipeline.backends.whisper.cpu_engine import (
            _merge_heads,
            _split_heads,
            gelu,
            layer_norm,
            softmax_,
        )

        started_s = time.process_time()
        engine = self.engine
        x = engine.encoder_input(mel)
        frames = len(x)
        previous = self._previous
        kept = 0 if previous is None else min(self.keep_rows, previous["rows"], frames)
        rows = x[kept:]
        keys, values = [], []
        for layer, block in enumerate(engine._enc_blocks):
            qkv = layer_norm(rows, *block.attn_ln) @ block.qkv_w + block.qkv_b
            q, k, v = (_split_heads(p, engine._enc_heads) for p in np.split(qkv, 3, axis=-1))
            if kept:
                k = np.concatenate([previous["keys"][layer][:, :kept], k], axis=1)
                v = np.concatenate([previous["values"][layer][:, :kept], v], axis=1)
            keys.append(k)
            values.append(v)
            weights = softmax_(q @ np.swapaxes(k, -1, -2))
            rows = rows + _merge_heads(weights @ v) @ block.out_w + block.out_b
            hidden = gelu(layer_norm(rows, *block.mlp_ln) @ block.mlp1_w + block.mlp1_b)
            rows = rows + hidden @ block.mlp2_w + block.mlp2_b
        features = layer_norm(rows, *engine._enc_ln)
        if kept:
            features = np.concatenate([previous["features"][:kept], features], axis=0)
        self._previous = {"rows": frames, "keys": keys, "values": values, "features": features}
        self.rows_computed += frames - kept
        self.rows_total += frames
        context = engine.cross_context(features)
        self.cpu_s += time.process_time() - started_s
        return context


def utterance_words(words, end_s: float) -> list[str]:
    """The texts of ``words`` (times in the window) that start before ``end_s`` (the
    utterance's end in the window): the words a commit of that utterance would make final."""
    return [w.text for w in words if w.start_s < end_s]


def partial_ends_s(utterance: dict[str, Any], start_s: float, audio_s: float, span_s: float):
    """The newest audio (s) each partial of the utterance's run hears."""
    last_s = min(utterance["end"] + PAST_END_S, start_s + span_s, audio_s)
    return np.arange(start_s + FIRST_PARTIAL_S, last_s + 1e-6, PARTIAL_STEP_S)


def score_runs(backend, files: list[str], lookbacks: list[float], span_s: float) -> dict:
    """Per variant (``full`` or a lookback in s): errors, reference words, encoder rows computed
    and in all, encoder CPU seconds."""
    from pipeline.backend_calls import request_marks, transcribe_one

    full_encode = backend.engine.encode  # put back at the end
    # the same code for every variant ("full" never keeps a row), run in turn order and reversed
    # utterance by utterance, so neither the code nor the order favours one in CPU seconds
    encoders = {str(v): KeptRowsEncoder(backend.engine) for v in ["full", *lookbacks]}
    errors = {name: [0, 0] for name in encoders}  # errors, reference words
    runs = 0  # utterances decoded so far
    try:
        for name in files:
            path, reference_path = resolve_file(name)
            audio = load_audio(path)
            utterances = json.loads(reference_path.read_text()).get("utterances", [])
            for utterance in utterances:
                start_s = max(0.0, utterance["start"] - LEAD_IN_S)
                ends_s = partial_ends_s(utterance, start_s, audio.size / RATE_HZ, span_s)
                reference = normalize_words(utterance["text"])
                order = list(encoders.items())
                if runs % 2:
                    order.reverse()
                runs += 1
                for variant, encoder in order:
                    encoder.reset()
                    backend.engine.encode = encoder.encode
                    previous_end_s = None
                    for end_s in ends_s:
                        if previous_end_s is not None and variant != "full":
                            kept_s = previous_end_s - start_s - float(variant)
                            encoder.keep_rows = max(0, int(kept_s * FRAMES_PER_S))
                        piece = audio[int(start_s * RATE_HZ) : int(end_s * RATE_HZ)]
                        with request_marks(backend, partial=True, early_final=False):
                            result = transcribe_one(backend, piece, PROMPT, None)
                        previous_end_s = end_s
                        if end_s >= utterance["end"] + SCORED_AFTER_S:
                            said = utterance_words(result.words, utterance["end"] - start_s)
                            hypothesis = normalize_words(" ".join(said))
                            errors[variant][0] += edit_distance(reference, hypothesis)
                            errors[variant][1] += len(reference)
                shown = {v: round(e / max(n, 1), 4) for v, (e, n) in errors.items()}
                print(f"{name} {utterance['text'][:40]!r:44} WER so far {shown}", flush=True)
    finally:
        backend.engine.encode = full_encode
    return {
        variant: {
            "errors": errors[variant][0],
            "words": errors[variant][1],
            "rows": encoder.rows_computed,
            "rows_total": encoder.rows_total,
            "cpu_s": encoder.cpu_s,
        }
        for variant, encoder in encoders.items()
    }


def schedule_ceiling(hypotheses_path: Path, lookbacks: list[float]) -> dict[str, float]:
    """Per lookback, the fraction of a simulated run's encoder frames (those its requests
    encoded, second passes of suspect results included) that could be kept."""
    requests = [json.loads(line) for line in hypotheses_path.read_text().splitlines() if line]
    if any("encoder_frames" not in request for request in requests):
        raise SystemExit(
            f"{hypotheses_path}: no encoder_frames in its requests; write it again with "
            "bench/commit_latency.py --simulate --hypotheses"
        )
    total = sum(request["encoder_frames"] for request in requests)
    ceiling = {}
    for lookback in lookbacks:
        keepable, previous = 0, None
        for request in requests:
            if request["kind"] != "partial":
                continue
            start_s, end_s = request["heard"]
            if previous is not None and math.isclose(previous[0], start_s, abs_tol=1e-3):
                keepable += max(0, int((previous[1] - start_s - lookback) * FRAMES_PER_S))
            previous = (start_s, end_s)
        ceiling[str(lookback)] = round(keepable / max(total, 1), 4)
    return ceiling


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", default="monologue_dev.wav,dictation_dev.wav")
    parser.add_argument("--lookbacks", default="1,2,3", help="L values in s, comma-separated")
    parser.add_argument("--span-s", type=float, default=10.0, help="longest partial window")
    parser.add_argument("--hypotheses", type=Path, help="a simulated run's requests (see doc)")
    args = parser.parse_args(argv)
    lookbacks = [float(v) for v in args.lookbacks.split(",") if v]
    if any(not math.isfinite(v) or v < 0 for v in lookbacks):
        parser.error(f"--lookbacks must be seconds >= 0, got {args.lookbacks!r}")

    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

    backend = WhisperBackend("", WhisperOptions(engine="numpy", blas_threads=1))
    totals = score_runs(backend, args.files.split(","), lookbacks, args.span_s)
    full = totals["full"]
    wer_full = full["errors"] / max(full["words"], 1)
    report: dict[str, Any] = {
        "files": args.files.split(","),
        "words": full["words"],
        "wer_full": round(wer_full, 4),
        "encoder_cpu_s_full": round(full["cpu_s"], 2),
        "wer_kept": {},
        "wer_kept_minus_full": {},
        "rows_computed_fraction": {},
        "encoder_cpu_s_kept": {},
    }
    print(f"{'encoder':>10} {'errors':>7} {'words':>6} {'WER':>7} {'rows computed':>14}")
    for variant, row in totals.items():
        wer = row["errors"] / max(row["words"], 1)
        fraction = row["rows"] / max(row["rows_total"], 1)
        label = variant if variant == "full" else f"L = {variant} s"
        print(f"{label:>10} {row['errors']:7d} {row['words']:6d} {wer:7.4f} {fraction:14.3f}")
        if variant != "full":
            report["wer_kept"][variant] = round(wer, 4)
            report["wer_kept_minus_full"][variant] = round(wer - wer_full, 4)
            report["rows_computed_fraction"][variant] = round(fraction, 3)
            report["encoder_cpu_s_kept"][variant] = round(row["cpu_s"], 2)
    if args.hypotheses:
        report["schedule_reusable_fraction"] = schedule_ceiling(args.hypotheses, lookbacks)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
