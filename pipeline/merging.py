"""Merging the words of overlapping chunks into one transcript.

Each chunk's result arrives as a ``ChunkWords``: the chunk's span and its words, all in absolute
seconds (stream seconds for the daemon, file seconds for ``run.py transcribe``). Chunks are merged
left to right, by chunk index. At each seam the text so far is cut once and the next chunk's
words take over from the cut:

- The words of both sides near the overlap (``MergeOptions.context_s``) are aligned by their
  normalized text: every run of consecutive words both chunks wrote the same is a candidate. A
  run scores one point per word (half for very common short words), less a penalty when its two
  copies are timed far apart and a small one for its distance from the overlap's middle; a
  single common word ("the", "that") counts only when both copies are timed together. The best
  chain of whole runs, in order on both sides, gives the anchors: words both chunks heard.
- Each chunk is trusted on its own half of the overlap (a chunk's words near its cut edge are
  cut in half, squeezed, stretched, guessed or punctuated as if the speech ended there). The
  cut goes at the anchors that straddle the overlap's middle; words the chunks disagree on
  between them come from the side that did not guess (low probability), else from the side
  whose half they lie in. When all anchors lie on one side of the middle, the words beyond
  them are cut by time at the middle, each chunk's clock corrected by the anchors' offset;
  but where one chunk guessed beyond the outermost anchor and the other heard clearly, the
  clear one is kept.
- Without anchors the cut is by time at the overlap's middle (both sides kept whole where
  their words don't meet), and a doubtful fragment against a chunk edge beside the other
  chunk's speech is dropped.
- Wherever the two sides meet, a doubtful half word and its whole (``transcri`` /
  ``transcription``) are kept once, whole.

Time is only a weak guide: Whisper times words near a chunk's edges badly (the first word of a
chunk starts at the chunk start, the last words are squeezed to zero length at its end), so a
word touching its chunk's cut edge is timed by its other end. Legitimate repetitions ("the
the") survive because a longer run wins over a one-word-off alignment. The output is sorted and
non-overlapping. ``merged_text`` joins words into text.
"""

from __future__ import annotations

import itertools
import logging
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from pipeline.chunking import Chunk
from pipeline.text_metrics import normalize_word
from pipeline.words import Word

logger = logging.getLogger(__name__)

# Words so frequent that one of them alone, matched across a seam, may be a coincidence.
_COMMON_WORDS = frozenset(
    ("a", "an", "the", "and", "or", "but", "so", "to", "of", "in", "on", "at", "by", "for", "as",
     "is", "it", "its", "be", "i", "you", "we", "he", "she", "they", "that", "this", "with",
     "was", "are", "not", "no", "yes", "oh", "uh", "um", "well")
)  # fmt: skip
_EDGE_TOUCH_S = 0.03  # a word this close to its chunk's cut edge is timed by its other end
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

    context_s: float = 1.5  # words this far outside the overlap take part in the alignment
    common_word_weight: float = 0.5  # score of a matched very common word (others score 1)
    # A run's two copies may be timed this far apart (median over its words) for free; beyond,
    # each second costs ``offset_penalty_per_s`` points. Chunks rarely disagree by more than a
    # few hundred ms away from their edges.
    free_offset_s: float = 0.5
    offset_penalty_per_s: float = 1.0
    mid_penalty_per_s: float = 0.05  # tie-breaker: runs nearer the overlap's middle win
    # A run of one common word counts only when its copies are timed at most this far apart.
    single_common_max_offset_s: float = 0.5
    half_word_min_chars: int = 2  # a half word must keep this many characters of the whole
    half_word_max_gap_s: float = 1.0  # and lie this close to the whole word
    # Where no run matched: a word below this probability, this close to its chunk's cut edge,
    # this close to the other chunk's words, is a fragment or a guess and is dropped.
    edge_min_probability: float = 0.5
    edge_zone_s: float = 0.7
    fragment_gap_s: float = 0.5


@dataclass(frozen=True, slots=True)
class _Side:
    """One side of a seam: words, their normalized texts and edge-robust times."""

    words: list[Word]
    norms: list[str]
    times_s: list[float]


@dataclass(frozen=True, slots=True)
class _Run:
    """Consecutive words both sides wrote the same: left[i + k] == right[j + k], k < length."""

    left_index: int
    right_index: int
    length: int
    score: float


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
    left_from = len(merged)
    while left_from > 0 and merged[left_from - 1].end_s > overlap_start_s - options.context_s:
        left_from -= 1
    right_to = 0
    while (
        right_to < len(right_words)
        and right_words[right_to].start_s < overlap_end_s + options.context_s
    ):
        right_to += 1
    head, left_words = merged[:left_from], merged[left_from:]
    if not left_words or right_to == 0:
        return _non_overlapping(merged + right_words)
    left = _side(left_words, overlap_start_s, overlap_end_s, is_left=True)
    right = _side(right_words[:right_to], overlap_start_s, overlap_end_s, is_left=False)
    middle_s = (overlap_start_s + overlap_end_s) / 2

    anchors = _anchors(left, right, middle_s, options)
    if anchors:
        kept_left, kept_right = _cut_at_anchors(
            left, right, anchors, overlap_start_s, overlap_end_s
        )
        seam = _joined(kept_left, kept_right, options)
        how = f"{len(anchors)} anchors"
    else:
        seam = _cut_by_time(left, right, overlap_start_s, overlap_end_s, options)
        how = "by time"
    logger.debug(
        "seam [%.2f, %.2f] s: %d + %d words -> %d (%s)",
        overlap_start_s,
        overlap_end_s,
        len(left_words),
        right_to,
        len(seam),
        how,
    )
    return _non_overlapping(head + seam + right_words[right_to:])


def _first_at_or_after(times_s: list[float], when_s: float, start: int) -> int:
    """Index of the first time at or after ``when_s`` from ``start`` on; len when none is."""
    return next((i for i in range(start, len(times_s)) if times_s[i] >= when_s), len(times_s))


def _side(words: list[Word], overlap_start_s: float, overlap_end_s: float, is_left: bool) -> _Side:
    """A seam side; a word touching the side's cut edge is timed by its other end."""
    times_s = []
    for w in words:
        if is_left and w.end_s >= overlap_end_s - _EDGE_TOUCH_S:
            times_s.append(w.start_s)  # squeezed against the left chunk's end
        elif not is_left and w.start_s <= overlap_start_s + _EDGE_TOUCH_S:
            times_s.append(w.end_s)  # stretched back to the right chunk's start
        else:
            times_s.append((w.start_s + w.end_s) / 2)
    return _Side(words, [normalize_word(w.text) for w in words], times_s)


def _runs(left: _Side, right: _Side, middle_s: float, options: MergeOptions) -> list[_Run]:
    """Every maximal run of equal normalized words that is worth cutting in (score > 0)."""
    runs = []
    for i, j in itertools.product(range(len(left.norms)), range(len(right.norms))):
        if not left.norms[i] or left.norms[i] != right.norms[j]:
            continue
        if i > 0 and j > 0 and left.norms[i - 1] == right.norms[j - 1]:
            continue  # not the start of a maximal run
        length = 1
        while (
            i + length < len(left.norms)
            and j + length < len(right.norms)
            and left.norms[i + length]
            and left.norms[i + length] == right.norms[j + length]
        ):
            length += 1
        norms = left.norms[i : i + length]
        offsets_s = [right.times_s[j + k] - left.times_s[i + k] for k in range(length)]
        offset_s = abs(statistics.median(offsets_s))
        if (
            length == 1
            and norms[0] in _COMMON_WORDS
            and offset_s > options.single_common_max_offset_s
        ):
            continue
        times_s = left.times_s[i : i + length] + right.times_s[j : j + length]
        distance_s = min(abs(t - middle_s) for t in times_s)
        score = (
            sum(options.common_word_weight if n in _COMMON_WORDS else 1.0 for n in norms)
            - options.offset_penalty_per_s * max(0.0, offset_s - options.free_offset_s)
            - options.mid_penalty_per_s * distance_s
        )
        if score > 0:
            runs.append(_Run(i, j, length, score))
    return runs


def _anchors(
    left: _Side, right: _Side, middle_s: float, options: MergeOptions
) -> list[tuple[int, int]]:
    """The matched pairs (left index, right index), in order, of the best chain of runs.

    Runs are taken whole, so a long run outweighs a one-word-off coincidence that shares its
    tail; the chain's runs follow each other on both sides.
    """
    runs = sorted(_runs(left, right, middle_s, options), key=lambda r: r.left_index)
    # best_total[k]: the best chain ending with runs[k]; previous[k]: the run before it.
    best_total: list[float] = []
    previous: list[int | None] = []
    for k, run in enumerate(runs):
        total, before = run.score, None
        for q in range(k):
            earlier = runs[q]
            if (
                earlier.left_index + earlier.length <= run.left_index
                and earlier.right_index + earlier.length <= run.right_index
                and best_total[q] + run.score > total
            ):
                total, before = best_total[q] + run.score, q
        best_total.append(total)
        previous.append(before)
    if not runs:
        return []
    chain: list[_Run] = []
    at: int | None = max(range(len(runs)), key=lambda k: best_total[k])
    while at is not None:
        chain.append(runs[at])
        at = previous[at]
    return [
        (run.left_index + k, run.right_index + k)
        for run in reversed(chain)
        for k in range(run.length)
    ]


def _cut_at_anchors(
    left: _Side,
    right: _Side,
    anchors: list[tuple[int, int]],
    overlap_start_s: float,
    overlap_end_s: float,
) -> tuple[list[Word], list[Word]]:
    """The seam's words: those kept of the left side, then those of the right side.

    Each chunk is trusted on its own half of the overlap, the anchors fixing which words are
    the same; but where one chunk guessed (low probability) and the other heard clearly beyond
    the outermost anchors, the clear one is kept (``_prefer_clear_edges``).
    """
    middle_s = (overlap_start_s + overlap_end_s) / 2
    # The middle on the right chunk's clock: the anchors tell how far the clocks disagree.
    offset_s = statistics.median(right.times_s[j] - left.times_s[i] for i, j in anchors)
    kept_left, kept_right = _middle_cut(left, right, anchors, overlap_start_s, middle_s, offset_s)
    left_cut, right_cut = len(kept_left), len(right.words) - len(kept_right)
    (first_i, first_j), (last_i, last_j) = anchors[0], anchors[-1]
    # After the last anchor: the right chunk's words up to the left chunk's end, against the
    # left chunk's words (the right chunk's are kept from the middle on).
    right_region = _first_at_or_after(right.times_s, overlap_end_s + offset_s, last_j + 1)
    if right_cut <= right_region and _clearer(
        left.words[last_i + 1 :], right.words[last_j + 1 : right_region]
    ):
        return left.words[:], right.words[right_region:]
    # Before the first anchor: the left chunk's words from the right chunk's start on, against
    # the right chunk's words.
    left_region = _first_at_or_after(left.times_s[:first_i], overlap_start_s, 0)
    if left_cut >= left_region and _clearer(right.words[:first_j], left.words[left_region:first_i]):
        return left.words[:left_region], right.words[:]
    return kept_left, kept_right


def _middle_cut(
    left: _Side,
    right: _Side,
    anchors: list[tuple[int, int]],
    overlap_start_s: float,
    middle_s: float,
    offset_s: float,
) -> tuple[list[Word], list[Word]]:
    """The cut near the middle: the words kept of the left side, then of the right side.

    Between the two anchors that straddle the overlap's middle, the words the chunks disagree
    on are taken from the side that did not guess there, else from the side whose half they
    lie in; as many words on both sides are paired, the more probable of each pair kept (on
    the left side of the cut). Before the first anchor (when all lie after the middle) or
    after the last (all before it), there is no telling which words are the same, and the
    words are cut by time at the middle, on each chunk's clock (``offset_s``).
    """
    times_s = [(left.times_s[i] + right.times_s[j]) / 2 for i, j in anchors]
    right_middle_s = middle_s + offset_s
    if times_s[0] >= middle_s:
        i, j = anchors[0]
        # A word stretched back to the right chunk's start is kept only as an anchor.
        stretched = int(right.words[0].start_s <= overlap_start_s + _EDGE_TOUCH_S)
        left_cut = _first_at_or_after(left.times_s[:i], middle_s, 0)
        right_cut = min(_first_at_or_after(right.times_s[:j], right_middle_s, stretched), j)
        return left.words[:left_cut], right.words[right_cut:]
    if times_s[-1] < middle_s:
        i, j = anchors[-1]
        left_cut = _first_at_or_after(left.times_s, middle_s, i + 1)
        right_cut = _first_at_or_after(right.times_s, right_middle_s, j + 1)
        return left.words[:left_cut], right.words[right_cut:]
    k = next(k for k, t in enumerate(times_s) if t >= middle_s)
    (i0, j0), (i1, j1) = anchors[k - 1], anchors[k]
    left_gap, right_gap = left.words[i0 + 1 : i1], right.words[j0 + 1 : j1]
    if left_gap and len(left_gap) == len(right_gap):
        pairs = zip(left_gap, right_gap, strict=True)
        gap = [max(a, b, key=lambda w: w.probability) for a, b in pairs]
        return [*left.words[: i0 + 1], *gap], right.words[j1:]
    left_doubt, right_doubt = _doubtful(left_gap), _doubtful(right_gap)
    if left_doubt != right_doubt:  # one side guessed where the other heard clearly
        take_left = right_doubt
    else:
        gap_s = left.times_s[i0 + 1 : i1] + right.times_s[j0 + 1 : j1]
        take_left = not gap_s or statistics.fmean(gap_s) < middle_s
    if take_left:
        return left.words[:i1], right.words[j1:]
    return left.words[: i0 + 1], right.words[j0 + 1 :]


def _clearer(words: list[Word], other: list[Word], margin: float = 0.3) -> bool:
    """Whether ``words`` were heard much more surely (mean probability) than ``other``."""
    if not words or not other:
        return False
    return statistics.fmean(w.probability for w in words) > margin + statistics.fmean(
        w.probability for w in other
    )


def _doubtful(words: list[Word], min_probability: float = 0.5) -> bool:
    """Whether any of ``words`` is a guess (probability below ``min_probability``)."""
    return any(w.probability < min_probability for w in words)


def _cut_by_time(
    left: _Side, right: _Side, overlap_start_s: float, overlap_end_s: float, options: MergeOptions
) -> list[Word]:
    """The two sides cut at the overlap's middle, or kept whole where their words don't meet.

    A doubtful word near its chunk's cut edge with the other chunk's speech right beside it (the
    tail of a word the other chunk has whole, or a guess) is dropped.
    """
    right_start_s = right.words[0].start_s
    if right_start_s <= overlap_start_s + _EDGE_TOUCH_S:
        right_start_s = right.times_s[0]  # stretched back to the chunk start: trust its end
    if left.words[-1].end_s <= right_start_s:
        kept_left, kept_right = list(range(len(left.words))), list(range(len(right.words)))
    else:
        middle_s = (overlap_start_s + overlap_end_s) / 2
        kept_left = [i for i, t in enumerate(left.times_s) if t < middle_s]
        kept_right = [j for j, t in enumerate(right.times_s) if t >= middle_s]
    while (
        kept_left
        and kept_right
        and _edge_fragment(
            left.words[kept_left[-1]],
            overlap_end_s - left.words[kept_left[-1]].end_s,
            right.times_s[kept_right[0]],
            options,
        )
    ):
        logger.debug("dropped %r near the left chunk's end", left.words[kept_left[-1]].text)
        kept_left.pop()
    while (
        kept_left
        and kept_right
        and _edge_fragment(
            right.words[kept_right[0]],
            _right_edge_margin_s(right, kept_right[0], overlap_start_s),
            left.times_s[kept_left[-1]],
            options,
        )
    ):
        logger.debug("dropped %r near the right chunk's start", right.words[kept_right[0]].text)
        kept_right.pop(0)
    return _joined(
        [left.words[i] for i in kept_left], [right.words[j] for j in kept_right], options
    )


def _right_edge_margin_s(right: _Side, index: int, overlap_start_s: float) -> float:
    """How far a right word lies from its chunk's start (a stretched word: by its end)."""
    word = right.words[index]
    if word.start_s <= overlap_start_s + _EDGE_TOUCH_S:
        return word.end_s - overlap_start_s
    return word.start_s - overlap_start_s


def _edge_fragment(word: Word, edge_margin_s: float, other_s: float, options: MergeOptions) -> bool:
    """Whether ``word``, ``edge_margin_s`` from its chunk's cut edge (by its edge-robust time),
    is a doubtful fragment beside the other chunk's word at ``other_s``."""
    gap_s = max(other_s - word.end_s, word.start_s - other_s, 0.0)
    return (
        word.probability < options.edge_min_probability
        and edge_margin_s <= options.edge_zone_s
        and gap_s <= options.fragment_gap_s
    )


def _joined(left: list[Word], right: list[Word], options: MergeOptions) -> list[Word]:
    """``left + right``; a half word and its whole meeting at the junction are kept once."""
    if left and right:
        whole = _whole_word(left[-1], right[0], options)
        if whole is not None:
            return [*left[:-1], whole, *right[1:]]
    return left + right


def _whole_word(left: Word, right: Word, options: MergeOptions) -> Word | None:
    """Of a doubtful half word and its whole (``transcri`` / ``transcription``), the whole."""
    a, b = normalize_word(left.text), normalize_word(right.text)
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    half = left if short == a else right
    if (
        half.probability >= options.edge_min_probability
        or len(short) < options.half_word_min_chars
        or short == long
        or not (long.startswith(short) or long.endswith(short))
        or right.start_s - left.end_s > options.half_word_max_gap_s
    ):
        return None
    return right if long == b else left


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
