"""Greedy decoding that checks a draft: several tokens per decoder pass, the same tokens.

A partial and the final after it hear nearly the same audio as the partial before them, so the
words the newest hypothesis said after the committed ones are a good guess of what the next
search will say (the "draft"). Each decoder pass here feeds the token just chosen followed by
the draft's next tokens; the pass returns the logits after every one of them, and the draft's
tokens are kept for as long as each is the argmax of the logits before it: exactly the tokens
greedy decoding would have chosen one pass at a time. The first token that differs is the
argmax of the same logits, so it is kept too, and the cache rows of the rejected draft tokens are
dropped (``state.length`` moves back: both engines write the cache at ``length`` and attend only
below it). A pass over T tokens reads every weight (above all the (d, V) vocabulary projection,
80 MB for tiny.en, the larger part of a step's time on CPU) once for all T.

After a token the draft did not predict, the draft is found again by the last two tokens chosen
(the new hypothesis left out or changed a word and goes on as the old one did); until then each
pass feeds one token, as plain greedy decoding does.

Used by ``decoding.TokenSearch`` at temperature 0 without beams, when the request brings a draft
(``SearchOptions.draft``); works with either engine (``engine_base.WhisperEngine.decode``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from pipeline.backends.whisper.engine_base import WhisperEngine, argmax_pick

MAX_DRAFT_TOKENS = 10  # draft tokens fed in one pass at most (a pass of 11 costs ~2.5 of one)
RESYNC_TOKENS = 2  # tokens chosen that must match the draft to pick it up again


class DraftedGreedy:
    """Greedy (token, log-probability) pairs, as ``WhisperEngine.greedy`` yields them; counts
    its decoder passes (``passes``), the draft tokens fed (``fed``) and kept (``accepted``)."""

    def __init__(
        self,
        engine: WhisperEngine,
        state: Any,
        logits: np.ndarray,
        mask: np.ndarray,
        max_tokens: int,
        draft: Sequence[int],
    ) -> None:
        self.engine = engine
        self.state = state
        self.logits = logits  # (V,) masked logits of the first token
        self.mask = mask
        self.max_tokens = max_tokens
        self.draft = tuple(int(t) for t in draft)
        self.passes = 0
        self.fed = 0
        self.accepted = 0
        self._chosen: list[int] = []  # every token handed out so far
        self._next: int | None = 0  # the draft's index of the token expected next; None: lost

    def _expected(self) -> tuple[int, ...]:
        """The draft tokens expected after the tokens chosen so far (empty: none known)."""
        room = self.engine.dims.n_text_ctx - self.state.length - 1
        limit = min(MAX_DRAFT_TOKENS, self.max_tokens - len(self._chosen) - 1, room)
        if self._next is None or limit <= 0:
            return ()
        return self.draft[self._next : self._next + limit]

    def _follow(self, token: int) -> None:
        """Move the draft position past ``token``: on when the draft predicted it, else found
        again after the last ``RESYNC_TOKENS`` chosen tokens, or lost."""
        self._chosen.append(token)
        expected = self._next
        if expected is not None and expected < len(self.draft) and self.draft[expected] == token:
            self._next = expected + 1
            return
        tail = tuple(self._chosen[-RESYNC_TOKENS:])
        self._next = None
        if len(tail) < RESYNC_TOKENS:
            return
        for index in range(len(self.draft) - RESYNC_TOKENS + 1):
            if self.draft[index : index + RESYNC_TOKENS] == tail:
                self._next = index + RESYNC_TOKENS
                return

    def __iter__(self) -> Iterator[tuple[int, float]]:
        token, logprob = argmax_pick(self.logits)
        while True:
            yield token, logprob
            self._follow(token)
            if len(self._chosen) >= self.max_tokens:
                return
            guess = self._expected()
            feed = np.array([[token, *guess]])
            start = self.state.length
            step, _ = self.engine.decode(self.state, feed)
            self.passes += 1
            self.fed += len(guess)
            rows = step[0] + self.mask  # (1 + len(guess), V)
            kept = 0
            for index, expected in enumerate(guess):
                token, logprob = argmax_pick(rows[index])
                if token != expected:
                    break
                kept += 1
                self.accepted += 1
                yield token, logprob
                self._follow(token)
                if len(self._chosen) >= self.max_tokens:
                    return
            else:
                token, logprob = argmax_pick(rows[len(guess)])
            self.state.length = start + 1 + kept  # drop the cache rows of rejected draft tokens
