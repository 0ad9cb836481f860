"""Merging the words of overlapping chunks into one transcript.

Each chunk's result arrives as a ``ChunkWords``: the chunk's span and its words, all in absolute
seconds (stream seconds for the daemon, file seconds for ``run.py transcribe``). Chunks are merged
left to right, by chunk index. At each seam, the words of the text so far that reach into the
overlap are aligned with the words of the next chunk that reach into it (a weighted longest common
subsequence over normalized words, gated by time):

- a word both chunks heard (the same, a half word such as ``transcri`` / ``transcription``, or a
  disagreement such as ``their`` / ``there`` at the same time) is kept once, from the chunk that
  is more trusted there: trust is the word's distance from its chunk's cut edge (capped) plus its
  probability. Edge words are the ones cut in half, badly timed or guessed, so a run of matched
  words is cut near the overlap's midpoint;
- a word only one chunk heard is kept, unless its probability is low and the other chunk heard
  speech around the overlap and saw that moment at least as far from an edge (a half word or an
  edge guess).

Chunks often disagree on timestamps by a few hundred ms. The alignment is tried with no shift and
with the shift implied by each exactly matching pair; a shift must pay for itself with a better
alignment (a prior against large shifts, which also stops a repetitive run such as "to to to"
from aligning one word off). The output is sorted and non-overlapping. ``merged_text`` joins
words into text.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher

from pipeline.chunking import Chunk
from pipeline.text_metrics import normalize_word
from pipeline.words import Word

logger = logging.getLogger(__name__)

_EXACT_SCORE = 3.0  # same normalized word
_FUZZY_SCORE = 2.0  # half word or near spelling
_SUBSTITUTION_SCORE = 1.0  # different words at the same time, one of them doubtful
# A pairing's score falls linearly with the time between its words, to this fraction of the
# score at ``match_window_s``: two near substitutions then outweigh one far coincidental match.
_FAR_SCORE_FRACTION = 0.2
_SHIFT_RESOLUTION_S = 0.05  # candidate shifts closer than this are one

# Text that attaches to the word before it without a space when words carry no leading space.
_CLOSING_PUNCTUATION = frozenset(",.;:!?%)]}…")
_CONTRACTION_PREFIXES = ("'s", "'re", "'ve", "'ll", "'d", "'m", "n't", "’s", "’re", "’ll", "n’t")


@dataclass(frozen=True, slots=True)
class ChunkWords:
    """One chunk's result: its span and its words, all in absolute seconds."""

    index: int  # the chunk's position in its span (``Chunk.index``)
    start_s: float  # start of the chunk's audio
    end_s: float  # end of the chunk's audio
    words: tuple[Word, ...]  # what the backend heard, times absolute (not chunk-relative)

    def __post_init__(self) -> None:
        if self.end_s < self.start_s:
            raise ValueError(
                f"chunk {self.index} ends ({self.end_s}) before it starts ({self.start_s})"
            )

    @classmethod
    def from_relative(
        cls, index: int, start_s: float, end_s: float, words: Iterable[Word]
    ) -> ChunkWords:
        """A chunk whose word times are relative to its own start (what a backend returns)."""
        return cls(index, start_s, end_s, tuple(w.shifted(start_s) for w in words))

    @classmethod
    def from_chunk(cls, chunk: Chunk, relative_words: Iterable[Word]) -> ChunkWords:
        """The result of transcribing ``chunk``; word times relative to the chunk's start."""
        return cls.from_relative(chunk.index, chunk.start_s, chunk.end_s, relative_words)


@dataclass(frozen=True, slots=True)
class MergeOptions:
    """Tolerances of the seam alignment."""

    max_shift_s: float = 1.0  # largest timestamp shift between two chunks that is looked for
    # A shift must earn (shift_s / shift_scale_s) ** 2 more alignment score than no shift: a
    # prior that chunks disagree by a few hundred ms at most, and a guard against aligning a
    # repetitive run ("to to to") one word off.
    shift_scale_s: float = 0.25
    match_window_s: float = 0.5  # same or similar words pair when this close (shift taken out)
    substitution_window_s: float = 0.25  # different words pair when this close (shift taken out)
    context_s: float = 0.5  # words this far outside the overlap still take part in the alignment
    edge_min_probability: float = 0.5  # unmatched edge words below this are dropped
    fuzzy_min_ratio: float = 0.75  # character similarity above which two words are one misspelt
    # Of a word both chunks heard, the copy with the larger trust is kept:
    # trust = min(distance from its chunk's edge, edge_margin_cap_s) + probability_weight_s * p.
    edge_margin_cap_s: float = 0.5  # beyond this distance from the edge, position stops mattering
    probability_weight_s: float = 1.0  # seconds of edge distance a probability of 1 is worth


@dataclass(frozen=True, slots=True)
class _Candidate:
    word: Word
    norm: str
    center_s: float


def merge_chunks(
    results: Sequence[ChunkWords], options: MergeOptions | None = None
) -> tuple[Word, ...]:
    """Merge chunk results (any order) into one sorted, non-overlapping word sequence."""
    options = options or MergeOptions()
    ordered = sorted(results, key=lambda chunk: chunk.index)
    for before, after in itertools.pairwise(ordered):
        if before.index == after.index:
            raise ValueError(f"chunk {before.index} given twice; drop duplicates before merging")

    merged: list[Word] = []
    left_end_s: float | None = None
    for chunk in ordered:
        words = sorted(chunk.words, key=lambda w: (w.start_s, w.end_s))
        if left_end_s is None or chunk.start_s >= left_end_s or not merged or not words:
            merged = _non_overlapping(merged + words)
        else:
            merged = _stitch(merged, words, chunk.start_s, left_end_s, options)
        left_end_s = chunk.end_s if left_end_s is None else max(left_end_s, chunk.end_s)
    return tuple(merged)


def merged_text(words: Iterable[Word]) -> str:
    """Join words into text: Whisper words carry their leading space; others get one.

    Punctuation and contractions without a leading space (``,``, ``'s``, ``n't``) attach to the
    word before them.
    """
    parts: list[str] = []
    for word in words:
        text = word.text.strip()
        if not text:
            continue
        if parts and not _attaches(word.text):
            parts.append(" ")
        parts.append(text)
    return "".join(parts)


def _attaches(text: str) -> bool:
    """Whether a word's text joins the word before it without a space."""
    if text[:1].isspace():
        return False
    text = text.strip()
    return text[0] in _CLOSING_PUNCTUATION or text.lower().startswith(_CONTRACTION_PREFIXES)


def _stitch(
    merged: list[Word],
    right_words: list[Word],
    overlap_start_s: float,
    overlap_end_s: float,
    options: MergeOptions,
) -> list[Word]:
    """Join the text so far (which ends at ``overlap_end_s``) and the next chunk's words."""
    left_count = 0
    while (
        left_count < len(merged)
        and merged[-1 - left_count].end_s > overlap_start_s - options.context_s
    ):
        left_count += 1
    right_count = 0
    while (
        right_count < len(right_words)
        and right_words[right_count].start_s < overlap_end_s + options.context_s
    ):
        right_count += 1
    head = merged[: len(merged) - left_count]
    left = [_candidate(w) for w in merged[len(merged) - left_count :]]
    right = [_candidate(w) for w in right_words[:right_count]]

    # Try no shift and the shift implied by each exactly matching pair; keep the best alignment,
    # a larger shift needing a much better alignment to win.
    best: tuple[float, float, list[_Column]] | None = None
    for shift_s in _candidate_shifts(left, right, options):
        columns, score = _align(left, right, shift_s, options)
        objective = score - (shift_s / options.shift_scale_s) ** 2
        if best is None or objective > best[0]:
            best = (objective, shift_s, columns)
    assert best is not None
    _, shift_s, columns = best

    seam = _resolve(columns, overlap_start_s, overlap_end_s, shift_s, options)
    logger.debug(
        "seam [%.2f, %.2f] s: %d + %d words -> %d (shift %.2f s)",
        overlap_start_s,
        overlap_end_s,
        len(left),
        len(right),
        len(seam),
        shift_s,
    )
    return _non_overlapping(head + seam + right_words[right_count:])


def _candidate(word: Word) -> _Candidate:
    return _Candidate(word, normalize_word(word.text), (word.start_s + word.end_s) / 2)


def _candidate_shifts(
    left: list[_Candidate], right: list[_Candidate], options: MergeOptions
) -> list[float]:
    """0 and the time differences of same-word pairs, smallest first, near-duplicates merged."""
    shifts = sorted(
        (
            b.center_s - a.center_s
            for a in left
            for b in right
            if a.norm
            and a.norm == b.norm
            and 0.0 < abs(b.center_s - a.center_s) <= options.max_shift_s
        ),
        key=abs,
    )
    kept = [0.0]
    for shift_s in shifts:
        if all(abs(shift_s - k) > _SHIFT_RESOLUTION_S for k in kept):
            kept.append(shift_s)
    return kept


def _pair_score(
    left: _Candidate, right: _Candidate, shift_s: float, options: MergeOptions
) -> float | None:
    """How well two words are the same spoken word; None when they cannot be."""
    distance_s = abs(right.center_s - shift_s - left.center_s)
    if distance_s > options.match_window_s:
        return None
    weight = 1.0 - (1.0 - _FAR_SCORE_FRACTION) * distance_s / options.match_window_s
    if left.norm == right.norm:
        return _EXACT_SCORE * weight
    if _similar(left.norm, right.norm, options.fuzzy_min_ratio):
        return _FUZZY_SCORE * weight
    if distance_s <= options.substitution_window_s:
        # Two confident, different words are likely two words; one doubtful copy is a mishearing.
        doubt = 1.0 - min(left.word.probability, right.word.probability)
        return _SUBSTITUTION_SCORE * doubt * weight
    return None


def _similar(a: str, b: str, min_ratio: float) -> bool:
    """A half word of the other (prefix or suffix), or a near spelling."""
    if not a or not b:
        return False
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) >= 2 and (long.startswith(short) or long.endswith(short)):
        return True
    return SequenceMatcher(None, a, b, autojunk=False).ratio() >= min_ratio


_Column = tuple[_Candidate | None, _Candidate | None]  # (left word, right word); one may be None


def _align(
    left: list[_Candidate], right: list[_Candidate], shift_s: float, options: MergeOptions
) -> tuple[list[_Column], float]:
    """Best monotone pairing of two word runs (a weighted longest common subsequence).

    Returns the columns in time order, (left, right) pairs and single words (left, None) or
    (None, right), with single words between two pairs ordered by their (shift-corrected) time;
    and the alignment's score.
    """
    m, n = len(left), len(right)
    pair = [[_pair_score(a, b, shift_s, options) for b in right] for a in left]
    best = [[0.0] * (n + 1) for _ in range(m + 1)]
    for i in range(1, m + 1):
        for j in range(1, n + 1):
            value = max(best[i - 1][j], best[i][j - 1])
            score = pair[i - 1][j - 1]
            if score is not None:
                value = max(value, best[i - 1][j - 1] + score)
            best[i][j] = value

    reversed_columns: list[_Column] = []
    i, j = m, n
    while i > 0 or j > 0:
        score = pair[i - 1][j - 1] if i > 0 and j > 0 else None
        if score is not None and best[i][j] == best[i - 1][j - 1] + score:
            reversed_columns.append((left[i - 1], right[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and (j == 0 or best[i][j] == best[i - 1][j]):
            reversed_columns.append((left[i - 1], None))
            i -= 1
        else:
            reversed_columns.append((None, right[j - 1]))
            j -= 1
    columns = reversed_columns[::-1]

    # Order each run of single words by time so that interleaved singles stay in speech order.
    ordered: list[_Column] = []
    run: list[_Column] = []
    for column in columns:
        if column[0] is not None and column[1] is not None:
            ordered.extend(sorted(run, key=lambda c: _column_time_s(c, shift_s)))
            run = []
            ordered.append(column)
        else:
            run.append(column)
    ordered.extend(sorted(run, key=lambda c: _column_time_s(c, shift_s)))
    return ordered, best[m][n]


def _column_time_s(column: _Column, shift_s: float) -> float:
    left, right = column
    if left is not None:
        return left.center_s
    assert right is not None
    return right.center_s - shift_s


def _resolve(
    columns: list[_Column],
    overlap_start_s: float,
    overlap_end_s: float,
    shift_s: float,
    options: MergeOptions,
) -> list[Word]:
    """One word per column: of a pair, the more trusted copy; single words mostly kept.

    A single word is dropped only when its probability is low, the other chunk heard speech
    around the overlap yet not this word, and saw its moment at least as far from an edge.
    """
    left_heard = any(left is not None for left, _ in columns)
    right_heard = any(right is not None for _, right in columns)
    seam: list[Word] = []
    for left, right in columns:
        if left is not None and right is not None:
            left_trust = _trust(overlap_end_s - left.center_s, left.word.probability, options)
            right_trust = _trust(right.center_s - overlap_start_s, right.word.probability, options)
            seam.append(left.word if left_trust >= right_trust else right.word)
        elif left is not None:
            own_margin_s = overlap_end_s - left.center_s
            other_margin_s = left.center_s - overlap_start_s
            if right_heard and _doubtful_single(left.word, own_margin_s, other_margin_s, options):
                logger.debug("dropped %r heard only by the left chunk", left.word.text)
            else:
                seam.append(left.word)
        elif right is not None:
            own_margin_s = right.center_s - overlap_start_s
            other_margin_s = overlap_end_s - (right.center_s - shift_s)
            if left_heard and _doubtful_single(right.word, own_margin_s, other_margin_s, options):
                logger.debug("dropped %r heard only by the right chunk", right.word.text)
            else:
                seam.append(right.word)
    return seam


def _doubtful_single(
    word: Word, own_margin_s: float, other_margin_s: float, options: MergeOptions
) -> bool:
    """Whether a word only one chunk heard is a guess: doubtful, and the other chunk (which heard
    speech around it) saw its moment at least as far from an edge, or far enough."""
    return word.probability < options.edge_min_probability and other_margin_s >= min(
        own_margin_s, options.edge_margin_cap_s
    )


def _trust(edge_margin_s: float, probability: float, options: MergeOptions) -> float:
    """How much to believe a word ``edge_margin_s`` from its chunk's cut edge."""
    return (
        min(edge_margin_s, options.edge_margin_cap_s) + options.probability_weight_s * probability
    )


def _non_overlapping(words: list[Word]) -> list[Word]:
    """Sorted by start, each word ending where the next begins at the latest.

    Where two words overlap, the boundary goes to the later of their starts; valid input passes
    unchanged.
    """
    out: list[Word] = []
    for word in words:
        if out and word.start_s < out[-1].end_s:
            previous = out[-1]
            boundary_s = max(word.start_s, previous.start_s)
            out[-1] = replace(previous, end_s=boundary_s)
            word = replace(word, start_s=boundary_s, end_s=max(word.end_s, boundary_s))
        out.append(word)
    return out
