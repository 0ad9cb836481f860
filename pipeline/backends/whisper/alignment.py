"""Word timestamps from cross-attention, as openai/whisper's ``timing.py`` computes them.

The decoder is run once more over the chosen tokens, the cross-attention scores of the model's
alignment heads are normalised and median-filtered, and dynamic time warping maps each token to
the audio frames it attends to. Punctuation is merged into the neighbouring word.

That pass is one more decoder pass over the tokens: for a segment's first preview (0.68 s of
audio on the preview's 5 s encoder floor, tiny.en, numpy, one BLAS thread; the dictation's 10
first previews, interleaved runs, mean CPU) 7 ms of 135 ms. Where no one reads the times,
``unaligned_words`` gives the same words without it: a preview (shown as text, never agreed on
or cut at) and a short window's suspect result (decoded again or dropped, never published).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.backends.whisper.cpu_engine import softmax_
from pipeline.backends.whisper.engine_base import WhisperEngine
from pipeline.backends.whisper.features import SECONDS_PER_AUDIO_TOKEN
from pipeline.words import Word

MEDIAN_FILTER_WIDTH = 7  # frames
_PREPENDED = "\"'“¿([{-"  # punctuation merged into the following word
_APPENDED = "\"'.。,，!！?？:：”)]}、"  # punctuation merged into the previous word


def median_filter(x: np.ndarray, width: int) -> np.ndarray:
    """Median over a sliding window of ``width`` along the last axis, reflect-padded."""
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=-1)
    return np.median(windows, axis=-1)


def dtw_path(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monotonic alignment of rows (tokens) to columns (frames) minimising the summed cost.

    Row by row in numpy: within a row c[j] = x[j] + min(a[j], c[j-1]) with a[j] the best of
    the row above, i.e. c = S + cummin(a - S_prev) over prefix sums S of x.
    """
    rows, cols = cost.shape
    total = np.full((rows + 1, cols + 1), np.inf)
    trace = np.zeros((rows + 1, cols + 1), np.int8)
    total[0, 0] = 0.0
    for i in range(1, rows + 1):
        x = cost[i - 1].astype(np.float64)
        above = np.minimum(total[i - 1, :-1], total[i - 1, 1:])  # a[j] for j = 1..cols
        prefix = np.concatenate([[0.0], np.cumsum(x)])
        total[i, 1:] = prefix[1:] + np.minimum.accumulate(above - prefix[:-1])
        diagonal, up, left = total[i - 1, :-1], total[i - 1, 1:], total[i, :-1]
        trace[i, 1:] = np.where(
            (diagonal < up) & (diagonal < left), 0, np.where((up < diagonal) & (up < left), 1, 2)
        )
    trace[0, :], trace[:, 0] = 2, 1
    i, j = rows, cols
    path = []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        step = trace[i, j]
        if step == 0:
            i, j = i - 1, j - 1
        elif step == 1:
            i -= 1
        else:
            j -= 1
    token_index, frame_index = np.array(path[::-1]).T
    return token_index, frame_index


def _merge_punctuation(words: list[list]) -> list[list]:
    """Fold punctuation-only words into their neighbours (rows of [text, tokens, s, e, p])."""
    merged: list[list] = []
    for word in words:
        stripped = word[0].strip()
        if merged and stripped and all(c in _APPENDED for c in stripped):
            merged[-1][0] += word[0]
            merged[-1][1] += word[1]
            continue
        if merged and merged[-1][0].strip() and all(c in _PREPENDED for c in merged[-1][0].strip()):
            prev = merged.pop()
            word = [prev[0] + word[0].lstrip(), prev[1] + word[1], prev[2], word[3], word[4]]
        merged.append(word)
    return merged


def _words(rows: list[list], duration_s: float) -> list[Word]:
    """Rows of [text, tokens, start, end, probability] as words, punctuation folded into its
    neighbours, times within the audio's ``duration_s``."""
    return [
        Word(start_s=min(s, duration_s), end_s=min(max(e, s), duration_s), text=t, probability=p)
        for t, _, s, e, p in _merge_punctuation(rows)
        if t.strip()
    ]


def unaligned_words(
    tokenizer, tokens: tuple[int, ...], token_probs: tuple[float, ...], num_samples: int
) -> list[Word]:
    """The words of ``tokens`` as ``word_timings`` splits them, without the alignment pass: the
    times are only each word's share of the audio by token count (not where it was said)."""
    if not tokens:
        return []
    word_texts, word_tokens = tokenizer.split_to_word_tokens([*tokens, tokenizer.eot])
    duration_s = num_samples / 16_000
    per_token_s = duration_s / max(1, len(tokens))
    rows, first = [], 0
    for text, toks in zip(word_texts[:-1], word_tokens[:-1], strict=True):
        prob = float(np.mean(token_probs[first : first + len(toks)] or (1.0,)))
        rows.append(
            [text, list(toks), first * per_token_s, (first + len(toks)) * per_token_s, prob]
        )
        first += len(toks)
    return _words(rows, duration_s)


def word_timings(
    engine: WhisperEngine,
    audio: Any,
    tokenizer,
    start_sequence: list[int],
    tokens: tuple[int, ...],
    token_probs: tuple[float, ...],
    heads: np.ndarray,
    num_samples: int,
) -> list[Word]:
    """Words with start/end seconds (relative to the window start) and mean token probability.

    ``heads`` is (n, 2) of (decoder layer, head); ``num_samples`` is the audio length.
    """
    if not tokens:
        return []
    sequence = [*start_sequence, *tokens, tokenizer.eot]
    state = engine.new_state(audio, 1)
    _, captured = engine.decode(state, np.asarray([sequence]), capture_heads=heads, positions=[])
    frames = max(1, num_samples // int(SECONDS_PER_AUDIO_TOKEN * 16_000))
    scores = np.stack([c[0, :, :frames] for c in captured])  # (n_heads, T, frames)
    weights = softmax_(scores.astype(np.float32))
    std, mean = weights.std(axis=-2, keepdims=True), weights.mean(axis=-2, keepdims=True)
    weights = median_filter((weights - mean) / np.maximum(std, 1e-9), MEDIAN_FILTER_WIDTH)
    matrix = weights.mean(axis=0)[len(start_sequence) - 1 : -1]
    token_index, frame_index = dtw_path(-matrix)

    word_texts, word_tokens = tokenizer.split_to_word_tokens([*tokens, tokenizer.eot])
    if len(word_tokens) <= 1:
        return []
    boundaries = np.pad(np.cumsum([len(t) for t in word_tokens[:-1]]), (1, 0))
    jumps = np.pad(np.diff(token_index), (1, 0), constant_values=1).astype(bool)
    jump_times = frame_index[jumps] * SECONDS_PER_AUDIO_TOKEN
    starts = jump_times[np.minimum(boundaries[:-1], len(jump_times) - 1)]
    ends = jump_times[np.minimum(boundaries[1:], len(jump_times) - 1)]
    probs = [*token_probs, 1.0]
    rows = []
    for k, (text, toks) in enumerate(zip(word_texts[:-1], word_tokens[:-1], strict=True)):
        first = int(boundaries[k])
        prob = float(np.mean(probs[first : first + len(toks)]))
        rows.append([text, list(toks), float(starts[k]), float(ends[k]), prob])
    return _words(rows, num_samples / 16_000)
