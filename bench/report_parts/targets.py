"""Targets of the bench figures, and checking a figure against one.

A target is a string ``"<op> <number>"`` with op one of ``<=``, ``<``, ``>=``, ``>``, ``==``.
A bench may carry its own targets in its JSON (``"targets": {"figure": ">= 1.7"}``); those win
over the suite's defaults below. Figure names are dotted paths into the bench's JSON object
(``wer_stream_minus_offline.worst``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# The targets of the issues that asked for each bench:
#   ring_ipc:   ring throughput >= 1 GB/s, tick p99 < 1 ms (foundation issue);
#   engine:     MLX worker time <= 2x faster-whisper int8 on 2 threads (backends issue);
#   parallel:   2 workers >= 1.7x one sequential pass, WER +0.005 at most (backends issue);
#   vad:        VAD CPU <= 2 % of audio time, no utterance cut, no noise segment (capture/VAD issue);
#   daemon_e2e: streaming WER <= offline + 0.005, none lost or doubled, restart <= 2 s (daemon issue);
#               the worker kill it claims really happened (issue 9); last word -> text at a
#               subscriber p50 <= 0.7 s dictation (<= 0.5 s low-latency), continuous p50 <= 1.5 s /
#               p95 <= 3 s, end of speech -> final p50 <= 50 ms / p95 <= 250 ms, first partial
#               p50 <= 0.6 s, daemon CPU <= 1.5x the offline engine's (issue 10);
#   soak:       RSS slope <= 1 MB per audio hour per process, none lost or doubled with faults,
#               latency p95 at the end within 10 % of the start (soak issue).
SUITE_TARGETS: dict[str, dict[str, str]] = {
    "ring_ipc": {"ring_gb_s": ">= 1", "tick_p99_ms": "< 1"},
    "engine": {"ratio": "<= 2.0"},
    "parallel": {"speedup": ">= 1.7", "wer_merged_minus_single": "<= 0.005"},
    "vad": {"cpu_fraction": "<= 0.02", "utterances_cut": "== 0", "noise_segments": "== 0"},
    "daemon_e2e": {
        "wer_stream_minus_offline.worst": "<= 0.005",
        "wer_stream_minus_offline.pooled": "<= 0.005",
        "finals_lost": "== 0",
        "finals_duplicated": "== 0",
        "restart_s": "<= 2",
        "faults.verified": "== 1",
        "latency_user_p50_ms": "<= 700",
        "latency_continuous_p50_ms": "<= 1500",
        "latency_continuous_p95_ms": "<= 3000",
        "latency_p50_ms": "<= 50",
        "latency_p95_ms": "<= 250",
        "latency_first_partial_p50_ms": "<= 600",
        "cpu_overhead_ratio": "<= 1.5",
        "per_profile.low-latency.latency_user_p50_ms": "<= 500",
    },
    "soak": {
        "lost": "== 0",
        "duplicated": "== 0",
        "rss_slope_mb_per_audio_h": "<= 1",
        "latency_p95_drift": "<= 0.1",
    },
}

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
}


@dataclass(frozen=True)
class Check:
    figure: str
    value: Any
    target: str  # "" when the figure has none
    passed: bool | None  # None: no target, or no number to check
    reason: str = ""  # why the figure is missing (the bench's ``<figure>_reason``), if it said


def reason_for(figures: Mapping[str, Any], path: str) -> str:
    """The bench's ``<name>_reason`` beside the figure at dotted ``path`` ("" when none)."""
    parent, _, name = path.rpartition(".")
    holder = lookup(figures, parent) if parent else figures
    reason = holder.get(f"{name}_reason") if isinstance(holder, Mapping) else None
    return reason if isinstance(reason, str) else ""


def targets_for(bench: str, figures: Mapping[str, Any]) -> dict[str, str]:
    """The suite's targets for ``bench``, overridden by the bench's own ``targets`` map."""
    own = figures.get("targets") if isinstance(figures, Mapping) else None
    merged = dict(SUITE_TARGETS.get(bench, {}))
    if isinstance(own, Mapping):
        merged.update({str(k): str(v) for k, v in own.items() if _parse(str(v)) is not None})
    return merged


def lookup(figures: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path`` (None when any part is missing)."""
    value: Any = figures
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def check(figure: str, value: Any, target: str) -> Check:
    parsed = _parse(target)
    number = _number(value)
    if parsed is None or number is None:
        return Check(figure, value, target, None if not target else False)
    compare, bound = parsed
    return Check(figure, value, target, compare(number, bound))


def flatten(figures: Mapping[str, Any], skip: set[str], depth: int = 2) -> dict[str, Any]:
    """Scalar figures (numbers, booleans, None) by dotted name, ``depth`` levels deep."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any, level: int) -> None:
        if isinstance(value, Mapping):
            if level >= depth:
                return
            for key, inner in value.items():
                if key in skip:
                    continue
                walk(f"{prefix}.{key}" if prefix else str(key), inner, level + 1)
        elif value is None or isinstance(value, (bool, int, float)):
            flat[prefix] = value

    walk("", figures, 0)
    return flat


def _parse(target: str) -> tuple[Callable[[float, float], bool], float] | None:
    text = target.strip()
    for symbol in ("<=", ">=", "==", "<", ">"):
        if text.startswith(symbol):
            try:
                return _OPERATORS[symbol], float(text[len(symbol) :].strip())
            except ValueError:
                return None
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None
