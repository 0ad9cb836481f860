"""The segments a looped file should give, and the accounting of finals against them.

Expected segments come from the in-process VAD (``StreamVad.from_config`` with the daemon's own
configuration) fed by the same ``FileSource`` the capture process uses (looping, DC removal,
block size), for ``TEMPLATE_PASSES`` passes of the file. The VAD's state carries across the loop
seam, so the first pass (fresh state at index 0) can differ from the later ones: loop 0 uses the
in-process segments of pass 0, every later loop a "typical" later pass shifted by whole loops.

Segmentation is not exactly periodic: the VAD's window grid is anchored at index 0 and the loop
length is not a multiple of the window, so each loop meets the grid at another phase, and now and
then two segments separated by a very short pause merge, or a noise burst passes as a short
segment (dictation_dev: 7 or 9 instead of 8 segments in about one loop in ten). A restarted VAD
(a fault) re-anchors the grid too. The typical pass is one with the most common segment count.

Committed parts: a long utterance may be published as several finals with the same segment id,
each a committed part that starts where the previous one ended (the commit policy, at pace
realtime; seen in bench/chaos.py runs). ``merge_committed_parts`` joins such parts into one row before matching, so they are
not counted as duplicates; two finals of one segment whose audio overlaps still are.

Matching (``account``):
- a final belongs to the expected segment whose start is nearest to its ``start_s``, within
  ``tolerance_s`` ("matched by start");
- a due expected segment with no final by start is still *covered* when a final overlaps at
  least half of it (two segments merged into one final): ``matched_by_overlap``, not lost;
- ``lost``: due expected segments neither matched nor covered. Segments are due when they end at
  or before ``cutoff_s`` (the last speech end the daemon announced before the soak asked it to
  stop); the open tail is not counted. When the file has a reference (``<stem>.json`` with
  utterance times, ``ReferenceSpeech``), an unmatched segment that overlaps no reference
  utterance is ``lost_wordless`` instead: a noise burst or breath that the in-process VAD took
  for speech and the daemon's VAD (another history of its recurrent state) did not. No words
  can be lost there; such segments are listed, not counted as lost;
- ``duplicated``: expected segments matched by more than one final, plus finals that repeat an
  earlier final's segment id or cover more than half of an earlier final's audio (the same
  speech published twice, whatever the segmentation);
- ``unexpected_finals``: finals that match no expected segment and cover none (an extra noise
  segment, a split): reported, not an error;
- ``out_of_order``: seq or start_s going backwards in journal order.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.audio_format import SAMPLE_RATE_HZ

TEMPLATE_PASSES = 8  # passes of the file run through the in-process VAD (about 0.2 s each)
DEFAULT_TOLERANCE_S = 0.5  # |final start - expected start| accepted as the same segment
COMMIT_JOIN_S = 0.05  # a committed part starts where the previous one ended, within this
OVERLAP_COVERED = 0.5  # fraction of a due segment a final must cover
OVERLAP_DUPLICATE = 0.5  # fraction of the shorter of two finals both covering: a duplicate
MAX_SEGMENT_S = 600.0  # no final is longer (the VAD's max_segment_s is at most 600)
EXAMPLES = 20  # lost / duplicated segments listed in the results


@dataclass(frozen=True)
class ExpectedSegment:
    start_s: float  # absolute stream seconds (pre-roll included)
    end_s: float  # hangover included
    loop: int  # pass of the file it starts in (0 = first)
    template_index: int  # position among the segments starting in that pass
    has_words: bool | None = None  # overlaps a reference utterance; None: no reference


@dataclass(frozen=True)
class ReferenceSpeech:
    """Where the looped file's reference transcript has speech: (start_s, end_s) within one loop."""

    spans_s: tuple[tuple[float, float], ...]

    @classmethod
    def from_reference(
        cls, speech_audio: Path, passes_per_loop: int, pass_s: float
    ) -> ReferenceSpeech | None:
        """Utterance times of ``speech_audio``'s ``.json`` reference, repeated for each pass of
        the audio in one loop (the looped file is ``passes_per_loop`` passes of ``pass_s``
        seconds, then any silence); None when there is no reference with utterance times."""
        reference = speech_audio.with_suffix(".json")
        if not reference.is_file():
            return None
        utterances = json.loads(reference.read_text()).get("utterances") or []
        spans = tuple(
            (index * pass_s + float(u["start"]), index * pass_s + float(u["end"]))
            for index in range(passes_per_loop)
            for u in utterances
        )
        return cls(spans) if spans else None

    def has_words(self, start_s: float, end_s: float, loop_s: float) -> bool:
        """Whether absolute stream time [start_s, end_s] overlaps a reference utterance."""
        loop = math.floor(start_s / loop_s)
        for shift in (loop - 1, loop, loop + 1):
            base = shift * loop_s
            if any(min(end_s, base + b) > max(start_s, base + a) for a, b in self.spans_s):
                return True
        return False


@dataclass(frozen=True)
class LoopTemplate:
    """Segments of one pass of a looped file: the first pass, and a typical later one."""

    loop_samples: int  # 16 kHz samples in one pass of the file
    first: tuple[tuple[int, int], ...]  # pass 0: (start_index, end_index), absolute
    typical: tuple[tuple[int, int], ...]  # a later pass, relative to its loop's start
    counts: tuple[int, ...]  # segments starting in each in-process pass
    template_jitter_s: float  # largest start difference to the typical pass (same count)
    speech: ReferenceSpeech | None = None  # where the reference has words, if known

    @property
    def loop_s(self) -> float:
        return self.loop_samples / SAMPLE_RATE_HZ

    @property
    def per_loop(self) -> int:
        return len(self.typical)

    def segments_until(self, end_s: float) -> list[ExpectedSegment]:
        """Every expected segment starting before ``end_s``, in start order."""
        out: list[ExpectedSegment] = []
        loop = 0
        while loop == 0 or loop * self.loop_samples / SAMPLE_RATE_HZ < end_s:
            shift = loop * self.loop_samples
            pairs = (
                self.first if loop == 0 else tuple((s + shift, e + shift) for s, e in self.typical)
            )
            for index, (start, end) in enumerate(pairs):
                start_s = start / SAMPLE_RATE_HZ
                if start_s >= end_s:
                    return out
                end_s_segment = end / SAMPLE_RATE_HZ
                words = (
                    None
                    if self.speech is None
                    else self.speech.has_words(start_s, end_s_segment, self.loop_s)
                )
                out.append(ExpectedSegment(start_s, end_s_segment, loop, index, words))
            loop += 1
        return out

    def as_dict(self) -> dict[str, Any]:
        def seconds(pairs: tuple[tuple[int, int], ...]) -> list[list[float]]:
            return [[round(s / SAMPLE_RATE_HZ, 3), round(e / SAMPLE_RATE_HZ, 3)] for s, e in pairs]

        return {
            "loop_s": round(self.loop_s, 4),
            "loop_samples": self.loop_samples,
            "segments_per_loop": self.per_loop,
            "segments_per_pass": list(self.counts),
            "template_jitter_s": round(self.template_jitter_s, 4),
            "first_pass": seconds(self.first),
            "typical_pass": seconds(self.typical),
        }


def compute_template(path: Path, config: Any, passes: int = TEMPLATE_PASSES) -> LoopTemplate:
    """Run the capture's file conversion and the in-process VAD over ``passes`` loops of ``path``.

    ``config``: the daemon's ``config.schema.Config`` (capture and vad sections are used).
    """
    from pipeline.sources.file_source import FileSource
    from pipeline.vad import SpeechEnd, StreamVad

    capture = config.capture
    source = FileSource(path, capture.block_duration_ms, "fast", True, capture.remove_dc)
    loop_samples = source.converted_samples
    vad = StreamVad.from_config(config.vad)
    limit = (passes + 1) * loop_samples  # one more pass so segments open at a seam can end
    by_pass: list[list[tuple[int, int]]] = [[] for _ in range(passes)]
    index = 0
    try:
        for block in source.blocks():
            for event in vad.process(block, index):
                if isinstance(event, SpeechEnd) and event.start_index // loop_samples < passes:
                    by_pass[event.start_index // loop_samples].append(
                        (event.start_index, event.end_index)
                    )
            index += block.size
            if index >= limit:
                break
    finally:
        source.close()
    counts = tuple(len(p) for p in by_pass)
    later = counts[1:] or counts
    common = Counter(later).most_common(1)[0][0]
    number = max(i for i in range(1, passes) if counts[i] == common) if passes > 1 else 0
    shift = number * loop_samples
    typical = tuple((s - shift, e - shift) for s, e in by_pass[number])
    jitter_samples = 0
    for i in range(1, passes):
        if counts[i] == common:
            offset = i * loop_samples
            jitter_samples = max(
                [jitter_samples]
                + [abs(s - offset - t) for (s, _), (t, _) in zip(by_pass[i], typical, strict=True)]
            )
    return LoopTemplate(
        loop_samples, tuple(by_pass[0]), typical, counts, jitter_samples / SAMPLE_RATE_HZ
    )


@dataclass(frozen=True, slots=True)
class FinalRow:
    """What the accounting needs of one final (no words: memory stays small over hours)."""

    seq: int
    segment_id: int
    start_s: float
    end_s: float
    empty: bool


def merge_committed_parts(finals: list[FinalRow]) -> list[FinalRow]:
    """``finals`` (by seq) with the committed parts of one segment joined into one row (see the
    module docstring); the row keeps its first part's seq."""
    out: list[FinalRow] = []
    last_of: dict[int, int] = {}  # segment id -> its row in out
    for final in finals:
        at = last_of.get(final.segment_id)
        previous = out[at] if at is not None else None
        if previous is not None and abs(final.start_s - previous.end_s) <= COMMIT_JOIN_S:
            out[at] = FinalRow(
                previous.seq,
                previous.segment_id,
                previous.start_s,
                max(previous.end_s, final.end_s),
                previous.empty and final.empty,
            )
            continue
        last_of[final.segment_id] = len(out)
        out.append(final)
    return out


def account(
    expected: list[ExpectedSegment],
    finals: list[FinalRow],
    cutoff_s: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> dict[str, Any]:
    """Lost, duplicated and out-of-order finals (``finals`` in journal order, i.e. by seq)."""
    published = len(finals)
    seq_backwards = sum(1 for a, b in itertools.pairwise(finals) if b.seq <= a.seq)
    all_seqs = [final.seq for final in finals]
    seq_gaps = (all_seqs[-1] - all_seqs[0] + 1 - len(set(all_seqs))) if all_seqs else 0
    finals = merge_committed_parts(finals)
    starts = [segment.start_s for segment in expected]
    matches: list[list[int]] = [[] for _ in expected]  # final positions per expected segment
    matched_final: dict[int, int] = {}  # final position -> expected index
    for position, final in enumerate(finals):
        nearest = _nearest(starts, final.start_s)
        if nearest is not None and abs(starts[nearest] - final.start_s) <= tolerance_s:
            matches[nearest].append(position)
            matched_final[position] = nearest
    by_start = sorted(range(len(finals)), key=lambda p: finals[p].start_s)
    final_starts = [finals[p].start_s for p in by_start]
    due = [i for i, segment in enumerate(expected) if segment.end_s <= cutoff_s]
    covered_by_overlap: list[int] = []
    lost: list[int] = []
    lost_wordless: list[int] = []  # unmatched, but no reference words in them
    covering: set[int] = set()  # finals that cover an expected segment they were not matched to
    for i in due:
        if matches[i]:
            continue
        cover = _covering(expected[i], finals, by_start, final_starts)
        if cover is None:
            (lost_wordless if expected[i].has_words is False else lost).append(i)
        else:
            covered_by_overlap.append(i)
            covering.add(cover)
    duplicated = [i for i, found in enumerate(matches) if len(found) > 1]
    counted = {p for i in duplicated for p in matches[i]}
    extra: list[int] = []  # finals repeating an earlier one's segment id or audio
    seen_ids: set[int] = set()
    for position, final in enumerate(finals):
        if final.segment_id in seen_ids and position not in counted:
            extra.append(position)
        seen_ids.add(final.segment_id)
    for a, b in itertools.pairwise(by_start):
        first, second = finals[a], finals[b]
        overlap = min(first.end_s, second.end_s) - max(first.start_s, second.start_s)
        shorter = min(first.end_s - first.start_s, second.end_s - second.start_s)
        later = max(a, b)
        duplicate = overlap > OVERLAP_DUPLICATE * max(shorter, 1e-6)
        if duplicate and later not in counted and later not in extra:
            extra.append(later)
    start_backwards = sum(1 for a, b in itertools.pairwise(finals) if b.start_s < a.start_s - 1e-6)
    seqs = [final.seq for final in finals]
    empty_due = sum(1 for i in due for p in matches[i] if finals[p].empty)
    unexpected = [
        p
        for p, final in enumerate(finals)
        if p not in matched_final and p not in covering and final.end_s <= cutoff_s
    ]
    return {
        "expected_due": len(due),
        "expected_tail": len(expected) - len(due),
        "finals": published,
        "committed_parts_joined": published - len(finals),
        "matched_by_start": sum(1 for i in due if matches[i]),
        "matched_by_overlap": len(covered_by_overlap),
        "lost": len(lost),
        "lost_wordless": len(lost_wordless),
        "duplicated": len(duplicated) + len(extra),
        "segment_id_repeats": len(seqs) - len(seen_ids),
        "out_of_order": start_backwards + seq_backwards,
        "start_s_backwards": start_backwards,
        "seq_backwards": seq_backwards,
        "seq_gaps": seq_gaps,
        "unexpected_finals": len(unexpected),
        "finals_beyond_cutoff": sum(1 for final in finals if final.end_s > cutoff_s),
        "empty_finals_due": empty_due,
        "cutoff_s": round(cutoff_s, 3),
        "tolerance_s": tolerance_s,
        "lost_examples": [_describe(expected[i]) for i in lost[:EXAMPLES]],
        "lost_wordless_examples": [_describe(expected[i]) for i in lost_wordless[:EXAMPLES]],
        "overlap_examples": [_describe(expected[i]) for i in covered_by_overlap[:EXAMPLES]],
        "duplicated_examples": [
            {**_describe(expected[i]), "seqs": [finals[p].seq for p in matches[i]]}
            for i in duplicated[:EXAMPLES]
        ]
        + [_row(finals[p]) for p in extra[:EXAMPLES]],
        "unexpected_examples": [_row(finals[p]) for p in unexpected[:EXAMPLES]],
    }


def _row(final: FinalRow) -> dict[str, Any]:
    return {
        "seq": final.seq,
        "segment_id": final.segment_id,
        "start_s": final.start_s,
        "end_s": final.end_s,
        "empty": final.empty,
    }


def _covering(
    segment: ExpectedSegment, finals: list[FinalRow], by_start: list[int], starts: list[float]
) -> int | None:
    """Position of a final covering ``OVERLAP_COVERED`` of ``segment``, else None."""
    length = max(1e-6, segment.end_s - segment.start_s)
    stop = bisect.bisect_left(starts, segment.end_s)
    for k in range(stop - 1, -1, -1):
        final = finals[by_start[k]]
        if final.end_s <= segment.start_s and segment.start_s - final.start_s > MAX_SEGMENT_S:
            break
        overlap = min(segment.end_s, final.end_s) - max(segment.start_s, final.start_s)
        if overlap >= OVERLAP_COVERED * length:
            return by_start[k]
    return None


def _nearest(starts: list[float], value: float) -> int | None:
    if not starts:
        return None
    at = bisect.bisect_left(starts, value)
    candidates = [i for i in (at - 1, at) if 0 <= i < len(starts)]
    return min(candidates, key=lambda i: abs(starts[i] - value))


def _describe(segment: ExpectedSegment) -> dict[str, Any]:
    return {
        "start_s": round(segment.start_s, 3),
        "end_s": round(segment.end_s, 3),
        "loop": segment.loop,
        "template_index": segment.template_index,
    }
