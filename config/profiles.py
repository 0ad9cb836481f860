"""Named profiles: concrete overrides of the built-in defaults, applied before the config file.

Each profile is a partial tree ``{section: {key: value}}`` validated like any other source.
``balanced`` is the default and equals the built-in defaults, stated here so the table is whole.
Each profile's latency, CPU and WER, and the evidence for its values: README, "Profiles".
"""

from __future__ import annotations

from typing import Any

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "balanced": {
        "vad": {
            "webrtc": True,
            "silero": "confirm",
            "min_speech_ms": 250,
            "hangover_ms": 600,
            "pre_roll_ms": 300,
            # 0.5 s: monologue p50 -0.2 s but +0.06 WER and 1.7x the CPU; see the README.
            # --cost-model (session 3): 0.75 s p50 1.75 s (1.93) at +29 % CPU, +1 word;
            # 0.5 s p50 1.68 s at +76 % CPU: the cadence is not enough to reach 1.5 s
            "partial_interval_s": 1.0,
            "pause_ms": 200,
        },
        "asr": {
            "chunk_duration_s": 30.0,
            "overlap_duration_s": 2.0,
            "beam_size": 1,
            "parakeet_left_context_s": 5.0,
            "parakeet_chunk_s": 0.5,
            "parakeet_right_context_s": 0.5,
        },
    },
    "low-latency": {
        # 32 ms, one VAD window (was 10): each block completes a window, so the VAD judges it
        # the moment its audio is written (10 ms blocks: up to 8 ms later) with a third of the
        # capture wake-ups; VAD events identical for 10/20/32 ms on every dev file (session 5)
        "capture": {"block_duration_ms": 32},
        "vad": {
            "webrtc": True,
            "silero": "confirm",
            "min_speech_ms": 150,
            # 350 ms cut utterances at 0.4-0.5 s pauses inside sentences (bench/vad.py)
            "hangover_ms": 550,
            "pre_roll_ms": 200,
            # partials every 0.5 s committed words too early: +0.06 WER on the monologue and
            # 1.7x the CPU (bench/commit_latency.py --simulate); the pause is the lever here.
            # --cost-model (session 3): 0.75 s with pause 200 ms, monologue p50 1.82 s (1.76)
            # at +16 % CPU and the dictation's first partial later (0.98 s against 0.66)
            "partial_interval_s": 1.0,
            # a sentence is committed (or its early final decoded) after 150 ms of silence;
            # 100 ms: dictation p50 0.52 s but the monologue's 0.15 s pauses start early finals
            # that speech makes wasted (p95 3.7 s). Simulated with --cost-model (session 3):
            # 100 ms dictation p50 0.53 s (0.56) but +4 words; 175 ms / 200 ms monologue p50
            # 1.76 s (2.08), WER 0.20 / 0.19 (0.23) but dictation p50 0.59 / 0.63 s, as balanced
            "pause_ms": 150,
            # half the pause, as on balanced: the early final decoded over the same audio,
            # ~45 ms sooner (pipeline/scheduling/early_finals.py has the figures)
            "pause_decode_ms": 75,
        },
        "asr": {
            # 15 s chunks lost WER on the monologue (issue 10); commits keep the rests short
            "chunk_duration_s": 30.0,
            "overlap_duration_s": 2.0,
            "beam_size": 1,
            "partial_min_audio_s": 0.5,
            # every sentence end here waits for an early final, so its encoder floor is latency.
            # bench/commit_latency.py --simulate --cost-model, last word -> final p50 / p95, WER,
            # engine CPU s per audio s. Synthetic dictation.wav (1,589 words): 10 s 0.534 / 5.57 s,
            # 0.3581, 0.406; 8 s 0.493 / 5.24 s, 0.3524, 0.389; 6 s 0.457 / 5.33 s, 0.3499, 0.388.
            # dictation_dev (102 words): 10 s 0.559 / 0.606 s; 8 s 0.513 / 0.560 s, both 0.0686,
            # 0.308 vs 0.303; 7 s 0.530 / 0.888 s and 6 s 0.510 / 0.867 s: tiny.en repeats the
            # sentence to the token cap on the short window (4 of 14 early finals on 6 s), then
            # decoded again on 10 s. bench/encoder_ctx.py finals-shaped, 6 vs 10 s: 0-2 s 9 vs 6
            # errors of 27 words, 2-5 s 17 vs 20 of 223, retried 4 vs 1 and 3 vs 0.
            # Session 5 (same bench, one tree, dictation_dev): 8 s 534 / 568 ms; early finals
            # forcing the committed words as their prefix 480 / 562 ms, same WER (early-final
            # tokens decoded 116 -> 76; synthetic, 6 s: 2002 -> 1686); with the early stop, 6 s
            # is still 478 / 872 ms (5 of 14 decoded again); cutting the loop at its first
            # sentence instead (WhisperOptions.repeat_cut) gave 6 s 434 / 516 ms here, but on
            # the synthetic dictation 10 of 21 cut sentences had wrong words (WER 0.3531 at 8 s
            # -> 0.3619 at 6 s cut, 0.3575 with the prefix too; p50 487 -> 447 / 419 ms): 8 s
            "audio_ctx_early_final_min_s": 8.0,
            "parakeet_left_context_s": 2.0,
            "parakeet_chunk_s": 0.25,
            "parakeet_right_context_s": 0.25,
        },
    },
    "power-saving": {
        "capture": {"block_duration_ms": 50},
        "vad": {
            "webrtc": True,
            "silero": "off",
            "webrtc_aggressiveness": 3,
            # without Silero, 300 ms let noise bursts in dictation pauses start segments
            "min_speech_ms": 400,
            "hangover_ms": 800,
            "pre_roll_ms": 300,
            "partial_interval_s": 3.0,  # a third of balanced's partials: 0.4x its CPU
            "pause_ms": 200,
        },
        "asr": {
            "chunk_duration_s": 30.0,
            "overlap_duration_s": 2.0,
            "beam_size": 1,
            "partial_min_audio_s": 2.0,
            # partials without 20 s of context: a third less engine CPU on continuous speech,
            # about two WER points lost there (commit_policy.CommitOptions.partial_context_s)
            "partial_context_s": 0.0,
            "parakeet_left_context_s": 5.0,
            "parakeet_chunk_s": 1.0,
            "parakeet_right_context_s": 0.5,
        },
    },
    "high-accuracy": {
        "vad": {
            "webrtc": False,
            "silero": "always",
            "min_speech_ms": 250,
            "hangover_ms": 800,
            "pre_roll_ms": 400,
            "partial_interval_s": 1.5,
            "pause_ms": 200,
        },
        "asr": {
            "chunk_duration_s": 30.0,
            "overlap_duration_s": 3.0,
            "beam_size": 5,
            "parakeet_left_context_s": 10.0,
            "parakeet_chunk_s": 1.0,
            "parakeet_right_context_s": 1.0,
        },
    },
}
