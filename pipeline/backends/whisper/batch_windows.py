"""Several requests' windows through Whisper together: short windows encoded in one stacked call,
then every window decoded greedily in one pass per token.

``transcribe_batch(backend, audios, prompts[, prefixes])`` gives, per item, what
``WhisperBackend.transcribe(audio, prompt, prefix)`` gives:

- each window gets its own shortened encoder length (``audio_context.py``); windows of at most
  ``STACK_MAX_FRAMES`` are encoded in one stacked call (``batch_encoder.py``), longer ones one
  by one (stacking them cost more than it saved, see ``STACK_MAX_FRAMES``);
- at temperature 0 with beam size 1 (the defaults) the windows are decoded together
  (``batch_decoder.py``): one decoder step per token for all of them; beam search decodes each
  alone;
- then per item, alone, as the single path does: the guards, the temperature fallback (when the
  greedy result fails them), word timestamps, and a short window's suspect result decoded again
  over the full window.

Silent audio and audio longer than one window take the single path. An item that fails is
returned as its exception, so one bad item does not fail the others; a failure of a shared
decoder step sends every item to its own decoding; a failure of the encoder fails them all
(raised), as it would fail each of them alone.

Time accounting (``details``): ``encode_s`` is the item's own encoder pass, or its share of the
stacked one in proportion to its frames; ``decode_s`` is its own prefill, its share of every
shared step (divided equally among the rows of that step) and its own guards and alignment.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from pipeline.backends.whisper.audio_context import looks_suspect
from pipeline.backends.whisper.batch_decoder import GreedyItem, GreedyOutcome, greedy_batch
from pipeline.backends.whisper.batch_encoder import encode_batch
from pipeline.backends.whisper.features import log_mel_spectrogram
from pipeline.words import Transcription

logger = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16_000
_SILENCE_RMS = 1e-4  # as ``whisper_mlx._SILENCE_RMS``: digital silence needs no encoder pass
# Windows of at most this many encoder frames (14 s: up to 12 s of audio + the 2 s pad) are
# encoded stacked. bench/encoder_batch.py, numpy, 1 BLAS thread, CPU of the stacked call / the
# separate calls (loaded 2-core machine): 500 frames 0.79 (B=2) / 0.76 (B=3), 650 frames
# 0.88 / 0.93, 700 frames 0.86-0.91 / 0.85-0.92, 850 frames 1.20 / 0.93, full 1500 frames 1.07
# (B=2); MLX on the CPU 0.96-1.00 at 500-700 frames (neutral; one call for several windows is
# what a GPU wants, unmeasured here).
STACK_MAX_FRAMES = 700


@dataclass(slots=True)
class _Window:
    """One item of the batch on its way: audio, conditioning and encoder output."""

    item: int
    audio: np.ndarray
    prompt: str | None
    prefix: str | None
    frames: int
    context: Any = None
    encode_s: float = 0.0


def transcribe_batch(
    backend: Any,
    audios: list[np.ndarray],
    prompts: list[str | None],
    prefixes: list[str | None] | None = None,
) -> list[Transcription | Exception]:
    """Per item, ``backend.transcribe(audio, prompt, prefix)``'s answer or the exception it
    raised."""
    prefixes = prefixes if prefixes is not None else [None] * len(audios)
    if not len(audios) == len(prompts) == len(prefixes):
        raise ValueError(f"{len(audios)} audios, {len(prompts)} prompts, {len(prefixes)} prefixes")
    audios = [np.asarray(audio, dtype=np.float32).reshape(-1) for audio in audios]
    out: list[Transcription | Exception | None] = [None] * len(audios)
    batched: list[int] = []
    window_samples = int(30.0 * SAMPLE_RATE_HZ)
    for item, audio in enumerate(audios):
        quiet = audio.size == 0 or float(np.sqrt(np.mean(np.square(audio)))) < _SILENCE_RMS
        if quiet or audio.size > window_samples:
            out[item] = _single(backend, audio, prompts[item], prefixes[item])
        else:
            batched.append(item)
    if len(batched) == 1:
        item = batched[0]
        out[item] = _single(backend, audios[item], prompts[item], prefixes[item])
    elif batched:
        use_prompt = backend.options.use_prompt
        full = backend.dims.n_audio_ctx
        windows = [
            _Window(item, audios[item], prompts[item] if use_prompt else None, prefixes[item],
                    backend._audio_ctx.frames(audios[item].size, full,
                                              partial=backend.partial_request,
                                              early_final=backend.early_final_request,
                                              preview=backend.preview_request))
            for item in batched
        ]  # fmt: skip
        for window, result in zip(windows, _batched(backend, windows), strict=True):
            out[window.item] = result
    return [result for result in out if result is not None]


def _single(
    backend: Any, audio: np.ndarray, prompt: str | None, prefix: str | None
) -> Transcription | Exception:
    try:
        return backend.transcribe(audio, prompt=prompt, prefix=prefix)
    except Exception as e:  # handed back per item
        return e


def _encode(backend: Any, windows: list[_Window]) -> None:
    """Each window's audio context and encoder seconds: short windows stacked, long alone."""
    stacked = [w for w in windows if w.frames <= STACK_MAX_FRAMES]
    if len(stacked) < 2:
        stacked = []
    if backend._phases is not None:
        backend._phases.encoder()
    try:
        if stacked:
            started_s = time.perf_counter()
            mels = [
                log_mel_spectrogram(w.audio, backend.dims.n_mels, 2 * w.frames) for w in stacked
            ]
            contexts = encode_batch(backend.engine, mels)
            per_frame_s = (time.perf_counter() - started_s) / sum(w.frames for w in stacked)
            for window, context in zip(stacked, contexts, strict=True):
                window.context, window.encode_s = context, per_frame_s * window.frames
        for window in windows:
            if window.context is None:
                started_s = time.perf_counter()
                mel = log_mel_spectrogram(window.audio, backend.dims.n_mels, 2 * window.frames)
                window.context = backend.engine.encode(mel)
                window.encode_s = time.perf_counter() - started_s
    finally:
        if backend._phases is not None:
            backend._phases.decoder()


def _greedy(backend: Any, windows: list[_Window]) -> list[GreedyOutcome | Exception | None]:
    """The first temperature's hypotheses, decoded together when that is greedy argmax; None
    per item otherwise (beam search or sampling: the item decodes alone)."""
    options = backend.options
    temperatures = options.temperatures or (0.0,)
    if options.beam_size > 1 or temperatures[0] != 0:
        return [None] * len(windows)
    items = []
    for window in windows:
        initial, sot_index = backend._initial_tokens(window.prompt)
        forced = backend._prefix_tokens(window.prefix)
        max_tokens = backend.max_tokens(window.audio.size / SAMPLE_RATE_HZ)
        stops = backend.stops_on_repeat(window.frames)
        cuts = backend.cuts_repeat(window.frames, window.audio.size, bool(forced))
        items.append(GreedyItem(window.context, (*initial, *forced), sot_index, max_tokens,
                                after_prefix=bool(forced), forced_tokens=len(forced),
                                stop_on_repeat=stops, cut_repeat=stops and cuts))  # fmt: skip
    return list(greedy_batch(backend._search, items))


def _batched(backend: Any, windows: list[_Window]) -> list[Transcription | Exception]:
    _encode(backend, windows)
    try:
        try:
            firsts = _greedy(backend, windows)
        except Exception:  # a shared step failed: each item gets its own decoding instead
            logger.exception("batched decoding of %d windows failed: decoding them one by one",
                             len(windows))  # fmt: skip
            firsts = [None] * len(windows)
        results: list[Transcription | Exception] = []
        for window, first in zip(windows, firsts, strict=True):
            try:
                result = _finish(backend, window, first)
                details = {**result.details, "batch_size": float(len(windows))}
                results.append(replace(result, details=details))
            except Exception as e:  # handed back per item
                results.append(e)
        return results
    finally:
        backend.engine.end_window()


def _finish(
    backend: Any, window: _Window, first: GreedyOutcome | Exception | None
) -> Transcription:
    """What ``WhisperBackend._transcribe_window`` does after the encoder, for one item."""
    if isinstance(first, Exception):
        raise first
    full = backend.dims.n_audio_ctx
    temperatures = backend.options.temperatures or (0.0,)
    audio, prompt, prefix, frames = window.audio, window.prompt, window.prefix, window.frames
    decode_started_s = time.perf_counter()
    result = backend._decode_window(
        audio, window.context, prompt, decode_started_s - window.encode_s, decode_started_s,
        frames, temperatures if frames == full else temperatures[:1],
        backend._prefix_tokens(prefix), first=None if first is None else first.hypothesis,
    )  # fmt: skip
    if first is not None:
        own_s = result.details.get("decode_s", 0.0)  # none when rejected: the shared steps
        details = {**result.details, "decode_s": own_s + first.decode_s, "batch_decoded": 1.0}
        result = replace(result, details=details)
    if frames < full and looks_suspect(result.text, result.details):
        spent_s = result.details["encode_s"] + result.details.get("decode_s", 0.0)
        result = backend._after_suspect_window(audio, prompt, prefix, frames, result, spent_s,
                                               window.context)  # fmt: skip
    return _whole(result)


def _whole(result: Transcription) -> Transcription:
    """A window's result as ``WhisperBackend.transcribe`` returns it for a single window."""
    if result.is_empty:
        return Transcription(text="", duration_s=result.duration_s, details=result.details)
    return replace(result, text=result.text.strip())
