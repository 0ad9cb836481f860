"""Why a sentence's last word waited: a trace of the simulated daemon's commits.

``bench/commit_latency.py --simulate --why`` records, on its virtual clock, every request the
one simulated worker ran, every partial answer with the commit frontier it left (the first
uncommitted word of the newest hypothesis and what held it back, by the same rules as
``commit_policy.confident_count``), and the VAD's segment ends. ``explain`` then takes each
reference sentence whose last word -> committed latency is over a limit and names why it
waited, one cause per sentence:

- ``segment end``: no partial committed it; the segment's closing final did (``cap`` when the
  VAD cut the segment at ``max_segment_s``); ``pause or stall commit``: no partial answer's
  commit either, another final of the segment (a sentence committed at a pause, an early final);
- ``no partial heard it``: no partial answer heard the audio ``HEARD_AFTER_S`` past the word
  within the limit (the worker was busy: its final and early-final seconds are given);
- otherwise the most frequent reason of the partial answers that heard it yet left it (or a
  word before it, ``held back`` when that word is of an earlier sentence) uncommitted:
  ``margin`` (it ended within the confident margin of the audio heard), ``last word`` (nothing
  followed it in the hypothesis), ``probability`` (it or an uncommitted word before it under
  the confident probability), ``disagreed`` (the hypothesis before said other words there),
  ``loop`` (a repetition loop), ``empty`` (no words after the committed ones), ``dropped`` (a
  partial answered nothing: suspect, cancelled, failed), ``piece`` (a word piece that
  continues into the next word).
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pipeline.text_metrics import normalize_word

HEARD_AFTER_S = 0.4  # a partial could have committed a word it heard this long after its end


@dataclass(slots=True)
class PartialAnswer:
    at_s: float  # when the answer was read (virtual clock)
    heard_end_s: float  # end of the audio it heard
    ok: bool  # a hypothesis (False: dropped, cancelled, failed)
    reason: str  # what held the frontier word ("" when nothing was left uncommitted)
    frontier_end_s: float | None  # end of the first uncommitted word after this answer
    frontier_text: str = ""
    committed: int = 0  # words committed by this answer


@dataclass(slots=True)
class CommitTrace:
    """What ``explain`` reads; filled by ``bench/commit_latency.py``'s simulation."""

    partials: list[PartialAnswer] = field(default_factory=list)
    requests: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, kind)
    segment_ends: list[tuple[int, float, bool]] = field(default_factory=list)  # id, end_s, split

    def install(self) -> None:
        """Wrap ``CommittedSegments``' partial answers so each records its frontier."""
        from pipeline.messages.work import TranscribeResult
        from pipeline.scheduling.commits import CommittedSegments

        original = CommittedSegments._partial_answered
        trace = self

        def traced(segments: Any, flight: Any, reply: Any, now_s: float) -> Any:
            state = segments._states.get(flight.segment)
            before = len(state.committed) if state is not None else 0
            previous_heard_end_s = state.heard_end_s if state is not None else None
            out = original(segments, flight, reply, now_s)
            heard_end_s = flight.request.end_index / 16_000
            if not isinstance(reply, TranscribeResult) or state is None:
                trace.partials.append(PartialAnswer(now_s, heard_end_s, False, "dropped", None))
                return out
            reason, word = frontier(segments, state, heard_end_s, previous_heard_end_s)
            trace.partials.append(
                PartialAnswer(
                    now_s,
                    heard_end_s,
                    True,
                    reason,
                    None if word is None else word.end_s,
                    "" if word is None else word.text,
                    len(state.committed) - before,
                )
            )
            return out

        CommittedSegments._partial_answered = traced  # type: ignore[method-assign]

    def request(self, started_s: float, cpu_s: float, request: Any) -> None:
        kind = "partial" if request.is_partial else "early" if request.early_final else "final"
        self.requests.append((started_s, started_s + cpu_s, kind))


def frontier(
    segments: Any, state: Any, heard_end_s: float, previous_heard_end_s: float | None
) -> tuple[str, Any]:
    """(why the first uncommitted word of the newest hypothesis was not committed, that word)."""
    from pipeline.scheduling.commit_policy import continues

    options = segments.commit_options
    agreement = state.agreement
    stable = agreement.partial.stable_words
    rest = [*stable[state.committed_count :], *agreement.newest_tail]
    agreed = len(stable) - state.committed_count
    if agreement.newest_looped and not rest:
        return "loop", None
    if not rest:
        return "empty", None
    word = rest[0]
    margin_s = options.confident_margin_s
    if word.end_s > heard_end_s - margin_s:
        return "margin", word
    if len(rest) == 1:
        return "last word", word
    if agreed == 0:
        previous = agreement.previous_tail
        if (
            previous
            and previous_heard_end_s is not None
            and previous[0].end_s <= previous_heard_end_s - margin_s
        ):
            return "disagreed", word
        if word.probability < options.confident_probability:
            return "probability", word
    if continues(rest[1]):
        return "piece", word
    if agreement.newest_looped:
        return "loop", word
    return "other", word


@dataclass(frozen=True, slots=True)
class Waited:
    text: str
    end_s: float  # the sentence's last word, reference time
    latency_s: float
    cause: str
    detail: str


def explain(
    utterances: list[dict[str, Any]],
    finals: list[dict[str, Any]],
    arrivals: dict[int, float],
    trace: CommitTrace,
    limit_s: float = 3.0,
) -> list[Waited]:
    """One ``Waited`` for each reference sentence whose last word was committed over
    ``limit_s`` after it was spoken (simulated clock, origin 0)."""
    ref_words: list[str] = []
    last_index: list[int] = []
    for utterance in utterances:
        ref_words += [w for w in (normalize_word(t) for t in utterance["text"].split()) if w]
        last_index.append(len(ref_words) - 1)
    hyp: list[tuple[str, int, float]] = []  # (word, seq, end_s)
    for final in finals:
        for word in final["words"]:
            norm = normalize_word(word["text"])
            if norm:
                hyp.append((norm, final["seq"], word["end_s"]))
    matched: dict[int, int] = {}
    matcher = difflib.SequenceMatcher(a=ref_words, b=[h[0] for h in hyp], autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            matched[block.a + k] = block.b + k
    closing = {}
    for final in finals:
        key = final["segment_id"]
        if key not in closing or final["seq"] > closing[key]["seq"]:
            closing[key] = final
    closing_seqs = {f["seq"]: f["segment_id"] for f in closing.values()}
    split = {segment_id: was_split for segment_id, _, was_split in trace.segment_ends}
    out: list[Waited] = []
    for index, (utterance, last) in enumerate(zip(utterances, last_index, strict=True)):
        hit = next((matched[i] for i in range(last, len(ref_words)) if i in matched), None)
        if hit is None:
            continue
        seq = hyp[hit][1]
        if seq not in arrivals:
            continue
        end_s = utterance["end"]
        latency_s = arrivals[seq] - end_s
        if latency_s <= limit_s:
            continue
        previous_end_s = utterances[index - 1]["end"] if index else 0.0
        out.append(_why(utterance["text"], end_s, latency_s, arrivals[seq], seq, closing_seqs,
                        split, trace, previous_end_s, limit_s))  # fmt: skip
    return out


def _why(
    text: str,
    end_s: float,
    latency_s: float,
    committed_s: float,
    seq: int,
    closing_seqs: dict[int, int],
    split: dict[int, bool],
    trace: CommitTrace,
    previous_end_s: float,
    limit_s: float,
) -> Waited:
    busy = _busy_s(trace, end_s, end_s + limit_s)
    heard = [
        p
        for p in trace.partials
        if end_s < p.at_s < committed_s and p.heard_end_s >= end_s + HEARD_AFTER_S
    ]
    by_partial = any(p.at_s == committed_s and p.committed for p in trace.partials)
    reasons = Counter(p.reason for p in heard if p.reason)
    steps = " ".join(
        f"[{p.at_s:.1f} {p.reason or '-'}{'' if p.frontier_end_s is None else f' {p.frontier_text.strip()!r}@{p.frontier_end_s:.1f}'}"
        f"{f' +{p.committed}' if p.committed else ''}]"
        for p in heard
    )
    detail = (
        f"{len(heard)} partials heard it: "
        + ", ".join(f"{r} {n}" for r, n in reasons.most_common())
        + f"; worker {busy}\n        {steps}"
    )
    if not by_partial:
        if seq in closing_seqs:
            cause = "segment end (cap)" if split.get(closing_seqs[seq]) else "segment end"
        else:
            cause = "pause or stall commit"
        return Waited(text, end_s, latency_s, cause, detail)
    in_time = [p for p in heard if p.at_s <= end_s + limit_s]
    if not in_time:
        return Waited(text, end_s, latency_s, "no partial heard it", detail)
    counted = Counter(p.reason for p in in_time if p.reason)
    if not counted:
        return Waited(text, end_s, latency_s, "other", detail)
    reason, _ = counted.most_common(1)[0]
    held = [p for p in in_time if p.reason == reason and p.frontier_end_s is not None]
    if held and all(p.frontier_end_s <= previous_end_s + 0.3 for p in held):
        reason = f"held back: {reason}"  # a word of an earlier sentence
    return Waited(text, end_s, latency_s, reason, detail)


def _busy_s(trace: CommitTrace, start_s: float, end_s: float) -> str:
    """The worker's seconds in [start_s, end_s) by request kind."""
    spent: Counter[str] = Counter()
    for began_s, done_s, kind in trace.requests:
        overlap_s = min(done_s, end_s) - max(began_s, start_s)
        if overlap_s > 0:
            spent[kind] += overlap_s
    return ", ".join(f"{kind} {seconds:.1f} s" for kind, seconds in sorted(spent.items()))


def tabulate(waited: list[Waited]) -> str:
    """The causes with counts, then one line per sentence."""
    lines = ["causes (sentences over the limit):"]
    for cause, count in Counter(w.cause for w in waited).most_common():
        lines.append(f"  {count:3d}  {cause}")
    for w in waited:
        lines.append(f"  {w.latency_s:5.2f} s at {w.end_s:7.2f} s  {w.cause:24}  {w.detail}")
        lines.append(f"        {w.text[:90]}")
    return "\n".join(lines)
