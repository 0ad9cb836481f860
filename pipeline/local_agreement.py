"""Stable and unstable text of partial transcripts (local agreement).

While speech goes on, the newest audio of a segment is re-transcribed again and again; each answer
is a hypothesis. A word becomes stable when ``agreement_count`` consecutive hypotheses (default 2:
LocalAgreement-2) agree on it, comparing normalized words after the stable prefix. The stable
prefix only grows: a later hypothesis that disagrees with it changes only the unstable tail.

A hypothesis may come from the segment's start (the usual case) or from a window of the newest
audio; words carry absolute times either way, and the stable prefix is located in each new
hypothesis by its words first and by time as a fallback.

Guard against repetition loops (Whisper's "I think I think I think ..."): from the first place
where the same 1 to ``max_ngram_words`` words repeat ``repeat_limit`` times in a row, a hypothesis
never becomes stable, and its unstable text shows the repeated words once.

One ``LocalAgreement`` per stream; ``reset`` at every segment end.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.merging import merged_text
from pipeline.text_metrics import normalize_word
from pipeline.words import Word

logger = logging.getLogger(__name__)

_ANCHOR_WORDS = 4  # most stable words looked for in a hypothesis to find where they end


@dataclass(frozen=True, slots=True)
class PartialText:
    """A partial transcript: a stable prefix that will not change, and an unstable tail."""

    stable: str  # text of stable_words
    unstable: str  # text of unstable_words
    stable_words: tuple[Word, ...]  # every stable word of the segment so far
    unstable_words: tuple[Word, ...]  # the newest hypothesis after the stable prefix

    @property
    def text(self) -> str:
        """Stable and unstable text joined."""
        return merged_text(self.stable_words + self.unstable_words)


EMPTY_PARTIAL = PartialText("", "", (), ())


@dataclass(frozen=True, slots=True)
class Repetition:
    """A run of the same n-gram repeated in a row."""

    start: int  # index of the run's first word
    ngram_words: int  # length of the repeated n-gram
    repeats: int  # how many times it occurs in a row


def find_repetition(
    norms: Sequence[str], repeat_limit: int = 3, max_ngram_words: int = 4
) -> Repetition | None:
    """The earliest run where 1 to ``max_ngram_words`` words repeat ``repeat_limit`` times or more.

    ``norms`` are normalized words; at one start, the shortest repeating n-gram is reported.
    """
    count = len(norms)
    for start in range(count):
        for size in range(1, max_ngram_words + 1):
            if start + size * repeat_limit > count:
                break
            ngram = list(norms[start : start + size])
            repeats = 1
            while list(norms[start + repeats * size : start + (repeats + 1) * size]) == ngram:
                repeats += 1
            if repeats >= repeat_limit:
                return Repetition(start, size, repeats)
    return None


class LocalAgreement:
    """Turns successive hypotheses of one segment into stable and unstable words."""

    def __init__(
        self,
        agreement_count: int = 2,
        repeat_limit: int = 3,
        max_ngram_words: int = 4,
        anchor_tolerance_s: float = 0.5,
        lookback: int = 1,
        bridge_words: int = 0,
        bridge_similar: bool = False,
        min_gap_s: float = 0.0,
    ) -> None:
        if agreement_count < 2:
            raise ValueError(f"agreement_count must be at least 2, got {agreement_count}")
        if repeat_limit < 2:
            raise ValueError(f"repeat_limit must be at least 2, got {repeat_limit}")
        if max_ngram_words < 1:
            raise ValueError(f"max_ngram_words must be at least 1, got {max_ngram_words}")
        if anchor_tolerance_s < 0:
            raise ValueError(f"anchor_tolerance_s must not be negative, got {anchor_tolerance_s}")
        if bridge_words < 0:
            raise ValueError(f"bridge_words must not be negative, got {bridge_words}")
        if min_gap_s < 0 or (min_gap_s > 0 and agreement_count != 2):
            raise ValueError(
                f"min_gap_s must be 0, or positive with agreement_count 2, got {min_gap_s}"
            )
        if lookback < 1 or (lookback > 1 and agreement_count != 2):
            raise ValueError(f"lookback must be 1, or more with agreement_count 2, got {lookback}")
        self.agreement_count = agreement_count  # hypotheses that must agree on a word
        self.repeat_limit = repeat_limit  # repeats in a row that make a repetition loop
        self.max_ngram_words = max_ngram_words  # longest repeated n-gram looked for
        self.anchor_tolerance_s = anchor_tolerance_s  # time slack when locating stable words
        # LocalAgreement-2 only: the newest hypothesis agrees with any of the ``lookback``
        # hypotheses before it (2: "A, B, A" makes A stable; 1: only consecutive ones agree)
        self.lookback = lookback
        # A single word the hypotheses say differently ("seem" / "seems") does not hold back
        # the words after it when the next ``bridge_words`` agree: the newest's word is taken
        # (it heard the most audio). 0: off (a prefix rule, as published).
        self.bridge_words = bridge_words
        self.bridge_similar = bridge_similar  # only words alike ("seem" / "seems", ``_alike``)
        # LocalAgreement-2 only: the newest hypothesis agrees only with those of the ``lookback``
        # before it that heard at least ``min_gap_s`` less audio (``update``'s ``heard_end_s``),
        # so that partials sent more often than that are still judged a gap apart. 0: any.
        self.min_gap_s = min_gap_s
        self._stable: list[Word] = []
        self._stable_norms: list[str] = []
        # The newest hypotheses' words after the stable prefix, oldest first.
        self._tails: deque[list[Word]] = deque(maxlen=agreement_count - 1 + lookback)
        self._heard_ends_s: deque[float] = deque(maxlen=agreement_count - 1 + lookback)
        self._partial = EMPTY_PARTIAL
        self._newest_looped = False  # the newest hypothesis held a repetition loop

    @property
    def partial(self) -> PartialText:
        """The partial transcript after the last update."""
        return self._partial

    @property
    def newest_tail(self) -> tuple[Word, ...]:
        """The newest hypothesis' words after the stable prefix (a repetition loop left out)."""
        return tuple(self._tails[-1]) if self._tails else ()

    @property
    def previous_tail(self) -> tuple[Word, ...] | None:
        """The hypothesis before the newest one, its words after the stable prefix; None when
        fewer than two hypotheses came since the last reset or seed."""
        return tuple(self._tails[-2]) if len(self._tails) >= 2 else None

    @property
    def newest_looped(self) -> bool:
        """Whether the newest hypothesis held a repetition loop."""
        return self._newest_looped

    def reset(self) -> None:
        """Forget the segment (call at every segment end)."""
        self._stable.clear()
        self._stable_norms.clear()
        self._tails.clear()
        self._heard_ends_s.clear()
        self._partial = EMPTY_PARTIAL
        self._newest_looped = False

    def accept(self, count: int) -> PartialText:
        """Make the first ``count`` words of the newest hypothesis after the stable prefix stable
        without waiting for agreement (they were made final on other grounds, e.g. one confident
        hypothesis); older hypotheses keep only their words heard after the last of them."""
        tail = self._tails[-1] if self._tails else []
        if not 0 <= count <= len(tail):
            raise ValueError(f"count must be in [0, {len(tail)}], got {count}")
        if count == 0:
            return self._partial
        accepted = tail[:count]
        self._stable.extend(accepted)
        self._stable_norms.extend(normalize_word(w.text) for w in accepted)
        end_s = accepted[-1].end_s
        self._tails[-1] = tail[count:]
        for i in range(len(self._tails) - 1):
            self._tails[i] = [w for w in self._tails[i] if _center_s(w) > end_s]
        unstable = tuple(self._partial.unstable_words[count:])
        self._partial = PartialText(
            stable=merged_text(self._stable),
            unstable=merged_text(unstable),
            stable_words=tuple(self._stable),
            unstable_words=unstable,
        )
        return self._partial

    def seed(self, words: Sequence[Word]) -> None:
        """Start over with ``words`` as the stable prefix (words made final by other means than
        agreement, e.g. an early final at a pause); the hypotheses so far are forgotten."""
        self.reset()
        self._stable.extend(w for w in words if w.text.strip())
        self._stable_norms.extend(normalize_word(w.text) for w in self._stable)
        self._partial = PartialText(merged_text(self._stable), "", tuple(self._stable), ())

    def update(self, words: Sequence[Word], heard_end_s: float | None = None) -> PartialText:
        """Take the newest hypothesis (words in order, absolute times; ``heard_end_s``: the end
        of the audio it heard, needed with ``min_gap_s``) and return the partial."""
        if self.min_gap_s > 0 and heard_end_s is None:
            raise ValueError("heard_end_s is needed when min_gap_s is set")
        hypothesis = [w for w in words if w.text.strip()]
        norms = [normalize_word(w.text) for w in hypothesis]
        loop = find_repetition(norms, self.repeat_limit, self.max_ngram_words)
        loop_words: list[Word] = []
        self._newest_looped = loop is not None
        if loop is not None:
            logger.debug(
                "repetition loop: %d words repeated %d times from word %d",
                loop.ngram_words,
                loop.repeats,
                loop.start,
            )
            loop_words = hypothesis[loop.start : loop.start + loop.ngram_words]
            hypothesis, norms = hypothesis[: loop.start], norms[: loop.start]

        tail = self._after_stable(hypothesis, norms)
        self._tails.append(tail)
        self._heard_ends_s.append(heard_end_s if heard_end_s is not None else 0.0)
        agreed = self._agreed_count()
        if agreed:
            newly_stable = tail[:agreed]
            agreed_norms = [normalize_word(w.text) for w in newly_stable]
            self._stable.extend(newly_stable)
            self._stable_norms.extend(agreed_norms)
            end_s = newly_stable[-1].end_s
            for i, old_tail in enumerate(self._tails):
                if [normalize_word(w.text) for w in old_tail[:agreed]] == agreed_norms:
                    self._tails[i] = old_tail[agreed:]
                else:  # an older one that did not agree (lookback): its words heard after
                    self._tails[i] = [w for w in old_tail if _center_s(w) > end_s]
        unstable = tail[agreed:]
        if loop_words and (not self._stable or _center_s(loop_words[0]) > self._stable_end_s()):
            unstable = unstable + loop_words
        self._partial = PartialText(
            stable=merged_text(self._stable),
            unstable=merged_text(unstable),
            stable_words=tuple(self._stable),
            unstable_words=tuple(unstable),
        )
        return self._partial

    def _agreed_count(self) -> int:
        """How many leading words all of the last ``agreement_count`` tails share; with
        ``lookback`` > 1, the most the newest shares with any one of the tails before it."""
        if len(self._tails) < self.agreement_count:
            return 0
        tails = [[normalize_word(w.text) for w in tail] for tail in self._tails]
        bridge, similar = self.bridge_words, self.bridge_similar
        if self.lookback == 1 and self.min_gap_s == 0:
            return _shared_count(tails, bridge, similar)
        older = tails[:-1]
        if self.min_gap_s > 0:  # only those that heard at least the gap less than the newest
            latest_s = self._heard_ends_s[-1] - self.min_gap_s
            heard_ends_s = list(self._heard_ends_s)[:-1]
            older = [t for t, end_s in zip(older, heard_ends_s, strict=True) if end_s <= latest_s]
        return max((_shared_count([o, tails[-1]], bridge, similar) for o in older), default=0)

    def _stable_end_s(self) -> float:
        return self._stable[-1].end_s

    def _after_stable(self, hypothesis: list[Word], norms: list[str]) -> list[Word]:
        """The words of a hypothesis that come after the stable prefix."""
        return _words_after(
            self._stable, self._stable_norms, hypothesis, norms, self.anchor_tolerance_s
        )


def _shared_count(
    tails: Sequence[Sequence[str]], bridge_words: int = 0, similar: bool = False
) -> int:
    """How many leading normalized words every one of ``tails`` shares; with ``bridge_words``,
    a column where they differ counts when the ``bridge_words`` columns after it agree (and,
    with ``similar``, its words are alike)."""
    columns = list(zip(*tails, strict=False))  # up to the shortest tail
    count = 0
    while count < len(columns):
        if any(norm != columns[count][0] for norm in columns[count]):
            after = columns[count + 1 : count + 1 + bridge_words]
            if (
                bridge_words == 0
                or len(after) < bridge_words
                or any(norm != column[0] for column in after for norm in column)
                or (similar and not all(_alike(columns[count][0], n) for n in columns[count]))
            ):
                break
        count += 1
    return count


def _alike(first: str, second: str) -> bool:
    """Two forms of one word, as a flip-flop between hypotheses gives them ("seem" / "seems",
    "tells" / "tellings"): the same first three letters, or one is the other's start."""
    return first.startswith(second) or second.startswith(first) or first[:3] == second[:3]


def words_after(
    prefix: Sequence[Word], hypothesis: Sequence[Word], anchor_tolerance_s: float = 0.5
) -> list[Word]:
    """The words of ``hypothesis`` that come after ``prefix`` (words already taken, e.g. the
    committed text), both with absolute times.

    The hypothesis may start with the whole prefix, with only its end (a window of the newest
    audio), or revise some of it: the last prefix words are looked for near where they were
    heard (within ``anchor_tolerance_s``), and failing that, the words heard after the prefix's
    end are kept.
    """
    words = [w for w in hypothesis if w.text.strip()]
    return _words_after(
        list(prefix),
        [normalize_word(w.text) for w in prefix],
        words,
        [normalize_word(w.text) for w in words],
        anchor_tolerance_s,
    )


def _words_after(
    prefix: list[Word],
    prefix_norms: list[str],
    hypothesis: list[Word],
    norms: list[str],
    anchor_tolerance_s: float,
) -> list[Word]:
    prefix_count = len(prefix_norms)
    if prefix_count == 0:
        return hypothesis
    if norms[:prefix_count] == prefix_norms:
        return hypothesis[prefix_count:]
    # The hypothesis revises a prefix word or covers only the newest audio: find the last
    # prefix words in it near where they were heard.
    end_s = prefix[-1].end_s
    for size in range(min(prefix_count, _ANCHOR_WORDS), 0, -1):
        target = prefix_norms[-size:]
        best: tuple[float, int] | None = None
        for start in range(len(norms) - size + 1):
            if norms[start : start + size] != target:
                continue
            distance_s = abs(hypothesis[start + size - 1].end_s - end_s)
            if distance_s <= anchor_tolerance_s and (best is None or distance_s < best[0]):
                best = (distance_s, start + size)
        if best is not None:
            return hypothesis[best[1] :]
    return [w for w in hypothesis if _center_s(w) > end_s]


def _center_s(word: Word) -> float:
    return (word.start_s + word.end_s) / 2
