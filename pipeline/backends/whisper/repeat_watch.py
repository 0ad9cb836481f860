"""The early stop: a short window's greedy search that starts to repeat itself, caught while it
decodes.

On a short encoder window (``audio_context``) tiny.en sometimes says the sentence again, and
again, until the token cap ("... conference. The first item is the budget for the spring
conference. The first item is ..."); ``audio_context.looks_suspect`` then sends the request to a
longer window. ``RepeatWatch`` follows the search token by token and says when its text repeats,
so the search stops there (``SearchOptions.stop_on_repeat``) instead of decoding on to the cap.
Only complete words are judged (all but the text's last, which the next token may extend), so
every word judged is in the text the search would have ended with. Two signs:

- a repeat as ``has_repeat`` counts it (a run of 2+ words said twice in a row, or one word
  three times) ends at the newest word: the result would be suspect anyway;
- a sentence opens with the first ``restart_words`` words of an earlier sentence of the text:
  how the loop starts. Only where the search is cut (below): a sentence that legitimately opens
  like an earlier one would be lost there; the finals' own window keeps its exact outcome.

When the repeating text starts a sentence, everything before it is whole sentences the search
said once: ``cut_tokens`` is where they end. Cutting the search there instead of decoding again
(``SearchOptions.cut_repeat``, ``WhisperOptions.repeat_cut``) is off: on dictation_dev's 5 such
early finals (6 s floor) the cut text was the 10 s window's, but on the synthetic dictation
(1,589 words, ``bench/commit_latency.py --simulate --cost-model``, low-latency) 10 of 21 cut
sentences had wrong words and WER went 0.3531 -> 0.3619 (p50 486 -> 446 ms, 8 s -> 6 s floor):
the short window's loop marks audio it heard badly, which the longer window often fixes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

SENTENCE_END = (".", "?", "!")
RESTART_WORDS = 3  # a sentence opening as an earlier one of the window for this many words
# in a text with no sentence ends (a speaker's unpunctuated style), a run of at least this many
# words said twice in a row is cut before its second copy when the watch cuts (shorter runs, "I
# think that, I think that we should", are often spoken). A punctuated text is cut at the last
# sentence end before the second copy: a run can span a sentence end when the model says again,
# right, a sentence the forced prefix had wrong ("... Maria will walk in the rooms and handle
# [prefix] the catering order. Maria will book the rooms and handle the catering order. Maria
# will book the"), and a cut inside it would end on "Maria will book".
BLOCK_CUT_WORDS = 5
_STRIP = ".,!?;:\"'()-…"


def words_of(text: str) -> list[str]:
    """The words of ``text``, lower case, without punctuation (as the repeat checks compare)."""
    return [w for w in (w.strip(_STRIP).lower() for w in text.split()) if w]


def repeat_size_at(words: Sequence[str], end: int) -> int:
    """The length of the shortest run repeated as ``has_repeat`` counts it (2+ words twice in
    a row, one word three times) that ends with ``words[end - 1]``; 0: none."""
    for size in range(1, end // 2 + 1):
        times = 3 if size == 1 else 2
        if size * times > end:
            continue
        block = list(words[end - size : end])
        if all(list(words[end - (k + 1) * size : end - k * size]) == block for k in range(times)):
            return size
    return 0


def sentences(text: str) -> tuple[list[str], list[int]]:
    """``words_of(text)`` and the index of each word that opens a sentence after the first."""
    words: list[str] = []
    starts: list[int] = []
    for piece in text.split():
        word = piece.strip(_STRIP).lower()
        if word:
            words.append(word)
        ends = piece.rstrip("\"')").endswith(SENTENCE_END)
        if ends and words and (not starts or starts[-1] != len(words)):
            starts.append(len(words))
    return words, starts


class RepeatWatch:
    """Says, token after token of one search, when its text repeats (see the module)."""

    def __init__(
        self, text_of: Callable[[list[int]], str], forced: Sequence[int] = (),
        restart_words: int | None = None,  # None: RESTART_WORDS; 0: the second sign off
        cut: bool = False,  # the search ends at ``cut_tokens`` where there is one
    ) -> None:  # fmt: skip
        self._text_of = text_of  # the tokenizer's decode
        self._forced = len(forced)
        self._tokens = list(forced)  # a forced prefix is part of the result's text
        self._restart_words = RESTART_WORDS if restart_words is None else restart_words
        self.cut = cut
        self._checked = 1  # words[:_checked] hold no repeat ending in them
        self._sentence_ends: dict[int, int] = {}  # words -> tokens, where a sentence ended
        self.cut_tokens: int | None = None  # set when it fires: see the module

    def add(self, token: int) -> bool:
        """Take the next sampled token (not end-of-text); True: the text repeats, and
        ``cut_tokens`` (counted after the forced prefix) is where the sentences said once end,
        or None when the repeat does not start a sentence."""
        self._tokens.append(token)
        text = self._text_of(self._tokens)
        words, starts = sentences(text)
        if text.rstrip().rstrip("\"')").endswith(SENTENCE_END):
            self._sentence_ends[len(words)] = len(self._tokens)
        for end in range(self._checked + 1, len(words)):  # complete words: all but the last
            size = repeat_size_at(words, end)
            start = end - size * (2 if size == 1 else 1) if size else None  # the second copy
            if not size:
                start = self._restart_at(words, starts, end)
            if start is not None:
                cut = self._sentence_ends.get(start) if start in starts else None
                if cut is None and size >= BLOCK_CUT_WORDS and self.cut:
                    cut = self._block_cut(words, starts, start)  # a long run said twice
                self._cut_at(cut)
                return True
        self._checked = max(self._checked, len(words) - 1)
        return False

    def ended(self) -> bool:
        """The search said end-of-text: True when the watch cuts and the text ends with the
        second copy of a long run (``BLOCK_CUT_WORDS``), whose last word ``add`` could not judge
        yet; ``cut_tokens`` is then before that copy. Nothing else is judged here, so a result
        the watch did not stop stays as it was."""
        if not self.cut:
            return False
        words, starts = sentences(self._text_of(self._tokens))
        size = repeat_size_at(words, len(words))
        if size < BLOCK_CUT_WORDS:
            return False
        self._cut_at(self._block_cut(words, starts, len(words) - size))
        return self.cut_tokens is not None

    def _block_cut(self, words: list[str], starts: list[int], copy: int) -> int | None:
        """Tokens to keep before a run's second copy starting at word ``copy``: all of them in
        a text with no sentence ends; else up to the last sentence end before it."""
        if not starts:
            return self._tokens_before(words, copy)
        before = [s for s in starts if s <= copy]
        return self._sentence_ends.get(before[-1]) if before else None

    def _cut_at(self, cut: int | None) -> None:
        """``cut_tokens`` from ``cut`` (tokens of the whole text, forced prefix included):
        None when there is none or it falls inside the forced prefix."""
        self.cut_tokens = cut - self._forced if cut and cut > self._forced else None

    def _tokens_before(self, words: list[str], start: int) -> int | None:
        """How many tokens hold exactly the text's first ``start`` words (the most, so
        punctuation after the last is kept); None when no token boundary falls there."""
        for count in range(len(self._tokens) - 1, self._forced, -1):
            before = words_of(self._text_of(self._tokens[:count]))
            if len(before) < start:
                return None
            if before == words[:start]:
                return count
        return None

    def _restart_at(self, words: list[str], starts: list[int], end: int) -> int | None:
        """Where the sentence holding ``words[end - 1]`` starts, when it has just reached
        ``restart_words`` words, all as the opening of an earlier sentence that long or longer."""
        size = self._restart_words
        current = max((s for s in starts if s < end), default=0)
        if size <= 0 or end - current != size:
            return None
        bounds = [*(s for s in starts if s < current), current]
        for s, after in zip([0, *bounds[:-1]], bounds, strict=True):
            if s + size <= after and words[s : s + size] == words[current:end]:
                return current
        return None


def stop(watch: RepeatWatch, tokens: list[int], logprobs: list[float]) -> bool:
    """A search's tokens (and their log-probabilities) when ``watch`` fired: cut at
    ``cut_tokens`` when the watch cuts and there is one (True), else left whole (False)."""
    if not watch.cut or watch.cut_tokens is None:
        return False
    del tokens[watch.cut_tokens :], logprobs[watch.cut_tokens :]
    return True


def stop_at_end(watch: RepeatWatch | None, tokens: list[int], logprobs: list[float]) -> bool:
    """A search that said end-of-text (its log-probability last in ``logprobs``, its token not
    in ``tokens``): cut as ``stop`` does when ``watch`` fires at the end (``ended``), the
    end-of-text's log-probability kept last (True); else left whole (False)."""
    if watch is None or not watch.ended():
        return False
    end_logprob = logprobs.pop()
    cut = stop(watch, tokens, logprobs)
    logprobs.append(end_logprob)
    return cut
