"""Text normalisation and word error rate, shared by tests, benches and the merger.

The normaliser is the plain one the shared data's README measured with: lower case, punctuation
stripped, whitespace collapsed; numbers are not rewritten.
"""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^\w\s']|_")
_APOSTROPHE_EDGES = re.compile(r"(^'+|'+$)")


def normalize_word(word: str) -> str:
    """One word, lower-cased, without punctuation (inner apostrophes kept: ``don't``)."""
    text = unicodedata.normalize("NFKC", word).lower()
    text = _NON_WORD.sub("", text)
    return _APOSTROPHE_EDGES.sub("", text.strip())


def normalize_words(text: str) -> list[str]:
    """The normalised, non-empty words of ``text``."""
    words = (normalize_word(w) for w in re.split(r"[\s\-–—]+", text))
    return [w for w in words if w]


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance between two word lists (substitutions, insertions, deletions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp_word in enumerate(hypothesis, start=1):
            current[j] = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (ref_word != hyp_word),
            )
        previous = current
    return previous[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Normalised WER of ``hypothesis`` against ``reference`` (0.0 for two empty texts)."""
    ref_words = normalize_words(reference)
    hyp_words = normalize_words(hypothesis)
    if not ref_words:
        return 0.0 if not hyp_words else 1.0
    return edit_distance(ref_words, hyp_words) / len(ref_words)
