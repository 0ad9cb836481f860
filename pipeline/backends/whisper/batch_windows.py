"""Several requests' windows through Whisper with one encoder call, then decoded one by one.

``transcribe_batch(backend, audios, prompts)`` gives, per item, what
``WhisperBackend.transcribe(audio, prompt)`` gives: each window gets its own shortened encoder
length (``audio_context.py``), the encoder runs once over all of them stacked
(``batch_encoder.py``), then each is decoded alone (greedy or beam, temperature fallback, the
guards, word timestamps) and a short window with a suspect result is decoded again over the
full window, alone. Silent audio and audio longer than one window take the single path.

An item that fails while decoding is returned as its exception, so one bad item does not fail
the others; an encoder failure fails them all (raised).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from pipeline.backends.whisper.audio_context import looks_suspect
from pipeline.backends.whisper.batch_encoder import encode_batch
from pipeline.backends.whisper.features import log_mel_spectrogram
from pipeline.words import Transcription

SAMPLE_RATE_HZ = 16_000
_SILENCE_RMS = 1e-4  # as ``whisper_mlx._SILENCE_RMS``: digital silence needs no encoder pass


def transcribe_batch(
    backend: Any, audios: list[np.ndarray], prompts: list[str | None]
) -> list[Transcription | Exception]:
    """Per item, ``backend.transcribe(audio, prompt)``'s answer or the exception it raised."""
    if len(audios) != len(prompts):
        raise ValueError(f"{len(audios)} audios but {len(prompts)} prompts")
    audios = [np.asarray(audio, dtype=np.float32).reshape(-1) for audio in audios]
    out: list[Transcription | Exception | None] = [None] * len(audios)
    batched: list[int] = []
    window_samples = int(30.0 * SAMPLE_RATE_HZ)
    for item, audio in enumerate(audios):
        quiet = audio.size == 0 or float(np.sqrt(np.mean(np.square(audio)))) < _SILENCE_RMS
        if quiet or audio.size > window_samples:
            out[item] = _single(backend, audio, prompts[item])
        else:
            batched.append(item)
    if len(batched) == 1:
        out[batched[0]] = _single(backend, audios[batched[0]], prompts[batched[0]])
    elif batched:
        for item, result in zip(batched, _batched(backend, audios, prompts, batched), strict=True):
            out[item] = result
    return [result for result in out if result is not None]


def _single(backend: Any, audio: np.ndarray, prompt: str | None) -> Transcription | Exception:
    try:
        return backend.transcribe(audio, prompt=prompt)
    except Exception as e:  # handed back per item
        return e


def _batched(
    backend: Any, audios: list[np.ndarray], prompts: list[str | None], items: list[int]
) -> list[Transcription | Exception]:
    started_s = time.perf_counter()
    full = backend.dims.n_audio_ctx
    frames = [backend._audio_ctx.frames(audios[item].size, full) for item in items]
    mels = [
        log_mel_spectrogram(audios[item], backend.dims.n_mels, 2 * count)
        for item, count in zip(items, frames, strict=True)
    ]
    if backend._phases is not None:
        backend._phases.encoder()
    contexts = encode_batch(backend.engine, mels)
    if backend._phases is not None:
        backend._phases.decoder()
    encoded_s = time.perf_counter()
    temperatures = backend.options.temperatures or (0.0,)
    results: list[Transcription | Exception] = []
    for item, count, context in zip(items, frames, contexts, strict=True):
        audio = audios[item]
        prompt = prompts[item] if backend.options.use_prompt else None
        try:
            result = backend._decode_window(
                audio, context, prompt, started_s, encoded_s, count,
                temperatures if count == full else temperatures[:1],
            )  # fmt: skip
            if count < full and looks_suspect(result.text, result.details):
                first_s = time.perf_counter() - started_s
                result = backend._encode_and_decode(
                    audio, prompt, full, time.perf_counter(), temperatures
                )
                result = replace(result, details={**result.details, "audio_ctx_retry_s": first_s})
            details = {**result.details, "batch_size": float(len(items))}
            results.append(replace(result, details=details))
        except Exception as e:  # handed back per item
            results.append(e)
        finally:
            backend.engine.end_window()
    return results
