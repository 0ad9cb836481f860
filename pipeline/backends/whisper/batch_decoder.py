"""Greedy decoding of several windows in one pass per token, for both engines.

A decoder step of one window is mostly matrix-vector products (qkv, the attention outputs, the
MLP and, above all, the projection onto the vocabulary: 384 x 51864 floats read per token on
tiny.en). With R windows decoded together they become matrix-matrix products over R stacked
rows (``engine.decode_rows``), which cost little more than one: the weights are read once per
step, not R times. Self- and cross-attention stay per window (each its own cache and its own
audio context of F_i frames).

Each item keeps what ``TokenSearch._sample`` at temperature 0 gives it alone: its initial tokens
(prompt + start sequence [+ forced prefix]) go through the decoder in one pass of their own
(``TokenSearch._first``: no-speech probability, the first masks), then each step picks the
argmax of the logits plus the suppression mask and its log-probability, up to the item's
``max_tokens``; an item that reaches end-of-text or its cap, or whose text repeats when it asks
for the early stop (``stop_on_repeat``, as ``TokenSearch``), leaves the batch and the others go
on. The numbers differ from the single path only by the stacked matmuls' rounding (BLAS kernels
for R rows against one); a flip of the argmax needs two logits within that rounding.

Time accounting: each item's prefill is its own; each shared step's time is divided equally
among the rows it decoded, so an item's ``decode_s`` is the cost it added to the batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.backends.cancellation import checkpoint
from pipeline.backends.whisper.decoding import Hypothesis, SearchOptions, TokenSearch
from pipeline.backends.whisper.engine_base import log_softmax
from pipeline.backends.whisper.repeat_watch import RepeatWatch, stop, stop_at_end


@dataclass(frozen=True, slots=True)
class GreedyItem:
    """One window to decode greedily: its audio context and its initial tokens."""

    audio: Any  # the engine's audio context (``engine.encode``)
    initial: tuple[int, ...]  # prompt + start sequence [+ forced prefix]
    sot_index: int  # where the start-of-transcript token is in ``initial``
    max_tokens: int  # cap on sampled tokens (before the text context's room)
    after_prefix: bool = False  # ``initial`` ends with forced text: end-of-text may come first
    forced_tokens: int = 0  # how many of ``initial`` are that forced text
    stop_on_repeat: bool = False  # the early stop (``SearchOptions.stop_on_repeat``)
    cut_repeat: bool = False  # ... cut before the repeat (``SearchOptions.cut_repeat``)


@dataclass(frozen=True, slots=True)
class GreedyOutcome:
    """An item's hypothesis (temperature 0) and the decoding seconds charged to it."""

    hypothesis: Hypothesis
    decode_s: float


@dataclass(slots=True)
class _Row:
    """A window being decoded: its cache, its next logits and what it has sampled."""

    item: int
    state: Any
    logits: np.ndarray  # (V,) masked logits of the next token
    max_tokens: int
    no_speech_prob: float
    decode_s: float
    watch: RepeatWatch | None = None
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)


def greedy_batch(
    search: TokenSearch, items: Sequence[GreedyItem]
) -> list[GreedyOutcome | Exception]:
    """Per item its greedy hypothesis, or the exception its prefill raised (the others go on).

    A failure of a shared step fails every item still decoding (raised); ``Cancelled`` passes
    through at every step, as in the single path."""
    engine = search.engine
    out: list[GreedyOutcome | Exception | None] = [None] * len(items)
    active: list[_Row] = []
    checkpoint()  # the windows are encoded: a cancel stops here, before any decoding
    for index, item in enumerate(items):
        started_s = time.perf_counter()
        try:
            state, logits, no_speech_prob = search._first(
                item.audio, list(item.initial), 1, item.sot_index, item.after_prefix
            )
        except Exception as e:  # handed back per item
            out[index] = e
            continue
        room = engine.dims.n_text_ctx - len(item.initial)
        watch = search.repeat_watch(list(item.initial), SearchOptions(
            forced_tokens=item.forced_tokens, stop_on_repeat=item.stop_on_repeat,
            cut_repeat=item.cut_repeat))  # fmt: skip
        active.append(_Row(index, state, logits[0], max(1, min(item.max_tokens, room)),
                           no_speech_prob, time.perf_counter() - started_s, watch))  # fmt: skip
    while active:
        stepping: list[_Row] = []
        for row in active:
            token = int(np.argmax(row.logits))
            row.logprobs.append(float(log_softmax(row.logits)[token]))
            if token == search.eot:
                # a run said twice up to the end: cut before its second copy
                cut = stop_at_end(row.watch, row.tokens, row.logprobs)
                out[row.item] = _outcome(row, hit_cap=False, repeat_cut=cut)
                continue
            row.tokens.append(token)
            if row.watch is not None and row.watch.add(token):
                cut = stop(row.watch, row.tokens, row.logprobs)
                out[row.item] = _outcome(row, hit_cap=False, repeat_stop=not cut, repeat_cut=cut)
            elif len(row.tokens) >= row.max_tokens:
                out[row.item] = _outcome(row, hit_cap=True)
            else:
                stepping.append(row)
        checkpoint()
        active = stepping
        if not active:
            break
        started_s = time.perf_counter()
        if len(active) == 1:  # the last row: the engine's own one-token step (MLX: compiled)
            step, _ = engine.decode(active[0].state, np.array([[active[0].tokens[-1]]]))
            logits = step[:, -1]
        else:
            logits = engine.decode_rows(
                [row.state for row in active], np.array([row.tokens[-1] for row in active])
            )
        share_s = (time.perf_counter() - started_s) / len(active)
        for row, row_logits in zip(active, logits, strict=True):
            row.logits = row_logits + search.suppress_mask
            row.decode_s += share_s
    return [outcome for outcome in out if outcome is not None]


def _outcome(
    row: _Row, hit_cap: bool, repeat_stop: bool = False, repeat_cut: bool = False
) -> GreedyOutcome:
    """The hypothesis ``TokenSearch._sample`` builds from the same tokens."""
    text_logprobs = row.logprobs[: len(row.tokens)]
    hypothesis = Hypothesis(
        tokens=tuple(row.tokens),
        token_probs=tuple(float(np.exp(lp)) for lp in text_logprobs),
        avg_logprob=sum(row.logprobs) / (len(row.tokens) + 1),
        no_speech_prob=row.no_speech_prob,
        temperature=0.0,
        hit_cap=hit_cap,
        repeat_stop=repeat_stop,
        repeat_cut=repeat_cut,
    )
    return GreedyOutcome(hypothesis, row.decode_s)
