"""Latency as a user sees it: an utterance's last word spoken -> the text holding it at a subscriber.

The reference gives each utterance's text and its start/end in stream seconds. The daemon's
finals (seq order, each with the wall time a subscriber received it) are matched to the
reference by aligning their words with the reference words (``difflib`` opcodes over normalised
words; a substituted word counts as aligned). An utterance's latency is the arrival of the final
that holds its last aligned word minus the wall time at which its last word was spoken
(``origin_unix_s + end``). This holds whether finals come at pauses or mid-utterance at word
boundaries (commit while speaking): the final that carries the last word may be an earlier one
than the segment's end.

An alignment is checked against time: the matched final's span must come near the utterance
(``TIME_TOLERANCE_S``); otherwise the final whose span holds the utterance's end is used
(``method="time"``). An utterance with no aligned word and no final over its end is ``missed``.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.text_metrics import normalize_words

TIME_TOLERANCE_S = 2.0  # a matched final's span may lie this far from the utterance
END_SLACK_S = 0.3  # a final "holds" an utterance's end when its span reaches end - this
SEGMENT_START_SLACK_S = 1.0  # a segment (pre-roll included) starts at most this before speech


@dataclass(frozen=True)
class RefUtterance:
    text: str
    start_s: float  # stream seconds
    end_s: float


@dataclass(frozen=True)
class ArrivedFinal:
    seq: int
    text: str
    start_s: float  # stream seconds
    end_s: float
    arrival_unix_s: float  # when a subscriber got it


@dataclass(frozen=True)
class UtteranceLatency:
    index: int
    end_s: float
    latency_ms: float | None  # None: missed
    final_seq: int | None
    method: str  # last_word, earlier_word (its last word was not recognised), time, missed


def load_utterances(reference_path: Path) -> list[RefUtterance]:
    """The utterances of a reference JSON (empty when it has no times)."""
    reference = json.loads(reference_path.read_text())
    return [
        RefUtterance(u["text"], float(u["start"]), float(u["end"]))
        for u in reference.get("utterances", [])
        if "start" in u and "end" in u
    ]


def align(reference: list[str], hypothesis: list[str]) -> list[int | None]:
    """For each reference word, the index of the hypothesis word aligned with it (or None)."""
    mapping: list[int | None] = [None] * len(reference)
    matcher = difflib.SequenceMatcher(None, reference, hypothesis, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for offset in range(i2 - i1):
                mapping[i1 + offset] = j1 + offset
        elif tag == "replace":
            for offset in range(min(i2 - i1, j2 - j1)):
                mapping[i1 + offset] = j1 + offset
    return mapping


def utterance_latencies(
    utterances: list[RefUtterance], finals: list[ArrivedFinal], origin_unix_s: float
) -> list[UtteranceLatency]:
    """Per utterance, last word spoken -> the final holding it at the subscriber."""
    finals = sorted(finals, key=lambda f: f.seq)
    ref_words: list[tuple[int, str]] = [
        (index, word) for index, u in enumerate(utterances) for word in normalize_words(u.text)
    ]
    hyp_final: list[int] = []  # hypothesis word -> index into finals
    hyp_words: list[str] = []
    for number, final in enumerate(finals):
        words = normalize_words(final.text)
        hyp_words += words
        hyp_final += [number] * len(words)
    mapping = align([w for _, w in ref_words], hyp_words)
    last_aligned: dict[int, tuple[int, bool]] = {}  # utterance -> (final index, is its last word)
    last_word_position = {index: position for position, (index, _) in enumerate(ref_words)}
    for position, (index, _) in enumerate(ref_words):
        if mapping[position] is not None:
            last_aligned[index] = (
                hyp_final[mapping[position]],
                position == last_word_position[index],
            )
    results = []
    for index, utterance in enumerate(utterances):
        found = last_aligned.get(index)
        method = "missed"
        final = None
        if found is not None and _near(finals[found[0]], utterance):
            final = finals[found[0]]
            method = "last_word" if found[1] else "earlier_word"
        else:
            final = _holding_end(finals, utterance)
            method = "time" if final is not None else "missed"
        latency_ms = (
            None
            if final is None
            else round((final.arrival_unix_s - origin_unix_s - utterance.end_s) * 1000.0, 1)
        )
        results.append(
            UtteranceLatency(
                index, utterance.end_s, latency_ms, None if final is None else final.seq, method
            )
        )
    return results


def _near(final: ArrivedFinal, utterance: RefUtterance) -> bool:
    return (
        final.end_s >= utterance.start_s - TIME_TOLERANCE_S
        and final.start_s <= utterance.end_s + TIME_TOLERANCE_S
    )


def _holding_end(finals: list[ArrivedFinal], utterance: RefUtterance) -> ArrivedFinal | None:
    """The first-arriving final with text whose span reaches the utterance's end."""
    holding = [
        f
        for f in finals
        if f.text.strip()
        and f.start_s <= utterance.end_s
        and f.end_s >= utterance.end_s - END_SLACK_S
    ]
    return min(holding, key=lambda f: f.arrival_unix_s) if holding else None


def first_partial_latencies(
    utterances: list[RefUtterance],
    partials: list[tuple[float, int, float]],
    origin_unix_s: float,
) -> list[float]:
    """Per segment, speech start -> its first partial at the subscriber (ms).

    ``partials``: (arrival_unix_s, segment_id, start_s) of every partial received. A segment's
    speech starts at the first reference utterance that is still going at the segment's start.
    """
    first: dict[int, tuple[float, float]] = {}
    for arrival, segment_id, start_s in partials:
        if segment_id not in first or arrival < first[segment_id][0]:
            first[segment_id] = (arrival, start_s)
    values = []
    for arrival, start_s in first.values():
        spoken = next((u for u in utterances if u.end_s > start_s), None)
        if spoken is not None and spoken.start_s <= start_s + SEGMENT_START_SLACK_S:
            values.append(round((arrival - origin_unix_s - spoken.start_s) * 1000.0, 1))
    return values


def summary(values: list[float]) -> dict[str, Any]:
    """p50/p95 (nearest rank) and count of ``values``; None figures when there are none."""
    if not values:
        return {"p50": None, "p95": None, "count": 0}
    ordered = sorted(values)
    return {
        "p50": ordered[min(len(ordered) - 1, int(0.5 * len(ordered)))],
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "count": len(ordered),
    }


@dataclass(frozen=True)
class DecisionLatencies:
    """End-of-speech decision -> final at the subscriber, per segment (see ``decision_latencies``)."""

    values_ms: list[float]  # per segment-closing final received, realtime pace
    journal_ms: list[float]  # the same finals' own ``latency_ms`` (scheduler receipt -> publish)
    ready_at_decision: int  # closing finals whose journal latency_ms is 0: decoded before it
    parts: int  # finals committed while speech went on: no end decision, not counted


def decision_latencies(
    finals: list[dict[str, Any]], received_unix_s: dict[int, float], origin_unix_s: float
) -> DecisionLatencies:
    """For each segment's closing final (its last by seq), the VAD's end-of-speech decision ->
    its arrival at the subscriber, from wall clocks outside the daemon.

    A segment that ends normally is decided when the VAD has read the audio up to its end
    (``SpeechEnd.decided_index == end_index``, hangover included), which at realtime pace is
    written at ``origin_unix_s + end_s`` and not before; so ``arrival - (origin + end_s)`` holds
    the VAD's read wake-up, the IPC to the scheduler, any decoding still left, the publish and
    the subscriber's receipt. The origin estimate is late by at most one capture block, which
    makes the figure low by at most that much. Finals committed while speech went on (parts)
    have no end decision and are left out (``parts``); their own ``latency_ms`` is 0 by
    definition (counted from the commit).
    """
    last: dict[tuple[str, int], dict[str, Any]] = {}
    for final in finals:
        key = (final.get("stream_id", ""), final["segment_id"])
        if key not in last or final["seq"] > last[key]["seq"]:
            last[key] = final
    closing = sorted(last.values(), key=lambda f: f["seq"])
    values = [
        round((received_unix_s[f["seq"]] - origin_unix_s - f["end_s"]) * 1000.0, 1)
        for f in closing
        if f["seq"] in received_unix_s
    ]
    journal = [float(f["latency_ms"]) for f in closing]
    return DecisionLatencies(
        values, journal, sum(1 for ms in journal if ms == 0.0), len(finals) - len(closing)
    )
