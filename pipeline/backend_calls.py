"""How a worker hands one request to its backend: the request's marks and its forced prefix.

A ``TranscribeRequest`` (or a batch of them) tells the backend what kind of work it is, through
attributes the Whisper backend reads while it runs (other backends have none, and nothing is
set on them):

- a partial: ``partial_request`` (the partials' shorter encoder floor,
  ``asr.audio_ctx_partial_min_s``) and ``retry_suspect`` off (an empty short-window result is
  handed back marked ``suspect`` instead of decoded again over the full window: the next
  partial supersedes it); a preview (a segment's first partial over less than
  ``asr.partial_min_audio_s``, shown and never agreed on) also ``preview_request``: any suspect
  short-window result of it (a loop, a rejected text) comes back marked instead of decoded again;
- an early final: ``early_final_request`` (``asr.audio_ctx_early_final_min_s``);
- a draft (the words the segment's newest hypothesis said after the request's prefix):
  ``draft_text``, checked by greedy search several tokens per decoder pass (same text, fewer
  passes: ``whisper/drafted_greedy.py``).

Used by ``TranscriptionService`` for one request and by ``batch_requests`` for a batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from pipeline.words import Transcription


@contextmanager
def request_marks(
    backend: Any, *, partial: bool, early_final: bool, preview: bool = False, draft: str = ""
) -> Iterator[bool]:
    """The backend marked for a partial (a ``preview`` too) and/or an early final, and given
    the request's ``draft`` where it takes one, while the block runs, unmarked after it; yields
    whether the full-window retry was turned off (a partial on a backend that retries)."""
    no_retry = partial and getattr(backend, "retry_suspect", None) is True
    wanted = {
        "partial_request": partial,
        "preview_request": partial and preview,
        "early_final_request": early_final,
    }
    marks = [name for name, on in wanted.items() if on and hasattr(backend, name)]
    drafted = bool(draft) and hasattr(backend, "draft_text")
    if no_retry:
        backend.retry_suspect = False
    for name in marks:
        setattr(backend, name, True)
    if drafted:
        backend.draft_text = draft
    try:
        yield no_retry
    finally:
        if no_retry:
            backend.retry_suspect = True
        for name in marks:
            setattr(backend, name, False)
        if drafted:
            backend.draft_text = ""


def transcribe_one(
    backend: Any, audio: np.ndarray, prompt: str | None, prefix: str | None
) -> Transcription:
    """``backend.transcribe``, with ``prefix`` forced where the backend takes one."""
    if prefix and getattr(backend, "supports_prefix", False):
        return backend.transcribe(audio, prompt=prompt, prefix=prefix)
    return backend.transcribe(audio, prompt=prompt)
