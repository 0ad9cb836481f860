"""Token search over one encoded window: greedy, sampling and beam search, text-only.

Decoding runs without timestamp tokens (``<|notimestamps|>``): word times come from
cross-attention alignment afterwards. Logit filters are fixed masks (suppressed tokens, and a
blank or end-of-text as the first token), so each step costs one decoder pass and one argmax.

Cancellation (``pipeline.backends.cancellation``): a search passes a checkpoint before its first
decoder pass (the encoder is done by then) and after every token, with either engine (both hand
out tokens one at a time), so a cancelled request stops within one decoder step.

A forced prefix (text known to lead the audio, e.g. a partial's committed words) is part of the
initial tokens: it goes through the decoder in the first pass with the prompt and the start
sequence, and only the tokens after it are searched (``SearchOptions.after_prefix`` lets
end-of-text come first then).

The early stop (``SearchOptions.stop_on_repeat``, greedy and sampling; both engines, since both
hand out tokens one at a time): on a short encoder window the backend decodes a repeating
result again anyway (``audio_context.looks_suspect``), so the search stops as soon as its text
repeats (``repeat_watch.RepeatWatch``) instead of looping on to the token cap; the hypothesis
says so (``repeat_stop``) and the second pass starts that much sooner; with ``cut_repeat`` a
repeat that starts a sentence ends the search at the sentences said before it instead
(``repeat_cut``: no second pass; ``repeat_watch``).

A draft (``SearchOptions.draft``: the words a previous hypothesis of the same audio said after
the prefix) lets greedy search check several tokens per decoder pass (``drafted_greedy``): the
same tokens, fewer passes.

Sampling (the temperature fallback) starts every search from the generator's state as it was
given, so a request's text depends only on its audio, prompt and prefix, not on how many
fallbacks the process sampled before it. With one generator running on across requests, the same
sentence came out differently after other work: the synthetic dictation's 60 first sentences
decoded twice in one process gave WER 0.257 and 0.273, and any side-by-side run of two settings
compared a different random stream besides the setting.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.backends.cancellation import checkpoint
from pipeline.backends.whisper.drafted_greedy import DraftedGreedy
from pipeline.backends.whisper.engine_base import WhisperEngine, log_softmax
from pipeline.backends.whisper.repeat_watch import RepeatWatch, stop, stop_at_end

__all__ = ["Hypothesis", "SearchOptions", "TokenSearch", "compression_ratio", "log_softmax"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SearchOptions:
    temperature: float = 0.0  # 0 = argmax (greedy or beam); > 0 = sampling
    beam_size: int = 1  # > 1 with temperature 0: beam search
    max_tokens: int = 224  # hard cap on sampled tokens (audio-proportional, set by the caller)
    patience: float = 1.0  # beam search: finished candidates kept = beam_size * patience
    after_prefix: bool = False  # initial tokens end with forced text: end-of-text may come first
    forced_tokens: int = 0  # how many of the initial tokens are that forced text
    stop_on_repeat: bool = False  # stop once the text repeats (the early stop; not beam search)
    cut_repeat: bool = False  # ... and end at the sentences said once, where the repeat starts one
    # tokens the search will likely choose (a previous hypothesis of the same audio): greedy
    # search checks several per decoder pass, choosing the same tokens (``drafted_greedy``)
    draft: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """The chosen token sequence of one window and its scores."""

    tokens: tuple[int, ...]  # sampled text tokens, no special tokens
    token_probs: tuple[float, ...]  # probability of each sampled token
    avg_logprob: float  # sum of log-probabilities / (tokens + 1)
    no_speech_prob: float
    temperature: float
    hit_cap: bool  # stopped by max_tokens, not by end-of-text
    repeat_stop: bool = False  # stopped early: the text repeats (``SearchOptions.stop_on_repeat``)
    repeat_cut: bool = False  # stopped early and cut before the repeat (``cut_repeat``)
    text: str = ""
    compression_ratio: float = 0.0
    details: dict[str, float] = field(default_factory=dict)


def compression_ratio(text: str) -> float:
    """Bytes / zlib-compressed bytes: above ~2.4 the text is a repetition loop."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


class TokenSearch:
    """Runs one search over an encoded window with a fixed prompt and masks."""

    def __init__(
        self,
        engine: WhisperEngine,
        suppress_mask: np.ndarray,  # (V,) 0 or -inf, every step
        begin_mask: np.ndarray,  # (V,) 0 or -inf, added at the first sampled token only
        eot: int,
        no_speech: int | None,
        rng: np.random.Generator,
        prefix_begin_mask: np.ndarray | None = None,  # (V,) the same after a forced prefix
        text_of: Callable[[list[int]], str] | None = None,  # the tokenizer's decode: early stop
    ) -> None:
        self.engine = engine
        self.suppress_mask = suppress_mask
        self.begin_mask = begin_mask
        self.prefix_begin_mask = begin_mask if prefix_begin_mask is None else prefix_begin_mask
        self.eot = eot
        self.no_speech = no_speech
        self.rng = rng
        self._rng_state = rng.bit_generator.state  # every search samples from here (run)
        self.text_of = text_of

    def _first(
        self, audio: Any, initial: list[int], batch: int, sot_index: int, after_prefix: bool
    ):
        state = self.engine.new_state(audio, batch)
        logits, _ = self.engine.decode(  # only the two positions read: no (T, V) projection
            state, np.tile(np.asarray(initial)[None], (batch, 1)), positions=[sot_index, -1]
        )
        no_speech_prob = float("nan")
        if self.no_speech is not None:
            no_speech_prob = float(np.exp(log_softmax(logits[0, 0])[self.no_speech]))
        begin = self.prefix_begin_mask if after_prefix else self.begin_mask
        return state, logits[:, -1] + self.suppress_mask + begin, no_speech_prob

    def run(
        self, audio: Any, initial: list[int], sot_index: int, options: SearchOptions
    ) -> Hypothesis:
        """Search from the ``initial`` tokens (prompt + start sequence [+ a forced prefix]): all
        of them go through the decoder in one pass, so a prefix costs no decoding steps."""
        checkpoint()  # the window is encoded: a cancel stops here, before any decoding
        self.rng.bit_generator.state = self._rng_state  # the same draws whatever came before
        room = self.engine.dims.n_text_ctx - len(initial)
        max_tokens = max(1, min(options.max_tokens, room))
        if options.beam_size > 1 and options.temperature == 0:
            return self._beam(audio, initial, sot_index, options, max_tokens)
        watch = self.repeat_watch(initial, options)
        return self._sample(
            audio,
            initial,
            sot_index,
            options.temperature,
            max_tokens,
            options.after_prefix,
            watch,
            options.draft,
        )

    def repeat_watch(self, initial: list[int], options: SearchOptions) -> RepeatWatch | None:
        """The early stop's watch over a search from ``initial`` (None: off or no tokenizer)."""
        if not options.stop_on_repeat or self.text_of is None:
            return None
        forced = initial[len(initial) - options.forced_tokens :] if options.forced_tokens else []
        # a sentence that opens as an earlier one is a sign only where the watch cuts: on the
        # finals' own window the stop changes nothing but the search's cost
        restart_words = None if options.cut_repeat else 0
        return RepeatWatch(self.text_of, forced, restart_words, cut=options.cut_repeat)

    def _sampled(
        self, state: Any, logits: np.ndarray, temperature: float, max_tokens: int
    ) -> Iterator[tuple[int, float]]:
        """Sampling at ``temperature`` > 0 from logits (V,): (token, log-probability) pairs."""
        for index in range(max_tokens):
            probs = np.exp(log_softmax(logits / temperature))
            token = int(self.rng.choice(probs.size, p=probs / probs.sum()))
            yield token, float(log_softmax(logits)[token])
            if index + 1 < max_tokens:
                step_logits, _ = self.engine.decode(state, np.array([[token]]))
                logits = step_logits[0, -1] + self.suppress_mask

    def _sample(
        self, audio: Any, initial: list[int], sot_index: int, temperature: float,
        max_tokens: int, after_prefix: bool = False, watch: RepeatWatch | None = None,
        draft: tuple[int, ...] = (),
    ) -> Hypothesis:  # fmt: skip
        state, logits, no_speech_prob = self._first(audio, initial, 1, sot_index, after_prefix)
        drafted = None
        if temperature == 0 and draft:
            drafted = DraftedGreedy(
                self.engine, state, logits[0], self.suppress_mask, max_tokens, draft
            )
            steps = iter(drafted)
        elif temperature == 0:  # the engine's loop: a device engine keeps the feedback on device
            steps = self.engine.greedy(state, logits[0], self.suppress_mask, max_tokens)
        else:
            steps = self._sampled(state, logits[0], temperature, max_tokens)
        tokens: list[int] = []
        logprobs: list[float] = []
        hit_cap = True
        repeat_stop = repeat_cut = False
        for token, logprob in steps:
            checkpoint()
            if token == self.eot:
                hit_cap = False
                logprobs.append(logprob)
                repeat_cut = stop_at_end(watch, tokens, logprobs)  # a run said twice to the end
                break
            tokens.append(token)
            logprobs.append(logprob)
            if watch is not None and watch.add(token):
                hit_cap, repeat_cut = False, stop(watch, tokens, logprobs)
                repeat_stop = not repeat_cut
                break
        text_logprobs = logprobs[: len(tokens)]
        details = {}
        if drafted is not None:
            details = {"decoder_steps": float(drafted.passes),
                       "draft_tokens": float(len(draft)),
                       "draft_fed": float(drafted.fed),
                       "draft_accepted": float(drafted.accepted)}  # fmt: skip
        return Hypothesis(
            tokens=tuple(tokens),
            token_probs=tuple(float(np.exp(lp)) for lp in text_logprobs),
            avg_logprob=sum(logprobs) / (len(tokens) + 1),
            no_speech_prob=no_speech_prob,
            temperature=temperature,
            hit_cap=hit_cap,
            repeat_stop=repeat_stop,
            repeat_cut=repeat_cut,
            details=details,
        )

    def _beam(
        self, audio: Any, initial: list[int], sot_index: int, options: SearchOptions,
        max_tokens: int,
    ) -> Hypothesis:  # fmt: skip
        """Beam search as openai/whisper's: each live beam proposes beam_size + 1 successors."""
        width = options.beam_size
        state, logits, no_speech_prob = self._first(
            audio, initial, width, sot_index, options.after_prefix
        )
        beams: list[tuple[list[int], list[float], float]] = [([], [], 0.0)] * width
        finished: list[tuple[list[int], list[float], float]] = []
        wanted = max(1, round(width * options.patience))
        hit_cap = True
        for step in range(max_tokens):
            checkpoint()
            logprobs = log_softmax(logits)
            candidates = []
            sources = range(1 if step == 0 else width)  # all beams are equal at the first step
            for b in sources:
                for token in np.argsort(-logprobs[b])[: width + 1]:
                    seq, lps, score = beams[b]
                    lp = float(logprobs[b, token])
                    candidates.append((score + lp, b, int(token), lp))
            candidates.sort(key=lambda c: -c[0])
            next_beams, parents = [], []
            for score, b, token, lp in candidates:
                seq, lps, _ = beams[b]
                if token == self.eot:
                    if len(finished) < wanted:
                        finished.append((seq, [*lps, lp], score))
                else:
                    next_beams.append(([*seq, token], [*lps, lp], score))
                    parents.append(b)
                    if len(next_beams) == width:
                        break  # end-of-text candidates ranked below the live beams are dropped
            if len(finished) >= wanted or not next_beams:
                hit_cap = False
                break
            beams = next_beams
            self.engine.reorder(state, np.asarray(parents))
            step_logits, _ = self.engine.decode(state, np.array([[seq[-1]] for seq, _, _ in beams]))
            logits = step_logits[:, -1] + self.suppress_mask
        pool = finished or [(seq, lps, score) for seq, lps, score in beams]
        seq, lps, score = max(pool, key=lambda c: c[2] / max(1, len(c[0])))
        return Hypothesis(
            tokens=tuple(seq),
            token_probs=tuple(float(np.exp(lp)) for lp in lps[: len(seq)]),
            avg_logprob=score / (len(seq) + 1),
            no_speech_prob=no_speech_prob,
            temperature=0.0,
            hit_cap=hit_cap and not finished,
        )
