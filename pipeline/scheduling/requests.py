"""Building the transcription requests of a segment: final chunks, partials and windows.

Prompts: a request is conditioned on the stream's previous final text as published when the
request is made (segments never wait for it). Only a segment's first chunk gets it, since the
audio of later chunks follows other speech; partials get it too. A window read after the one
before it is prompted with that window's words instead.
"""

from __future__ import annotations

from pipeline.chunking import Chunk
from pipeline.messages.work import TranscribeRequest
from pipeline.scheduling.request_ids import (
    chunk_request_id,
    partial_request_id,
    window_request_id,
)
from pipeline.scheduling.segment import Segment


def chunk_request(
    segment: Segment, chunk: Chunk, chunk_count: int, attempt: int, prompt: str,
    prefix: str = "", draft: str = "",
) -> TranscribeRequest:  # fmt: skip
    """Attempt ``attempt`` (from 1) of ``chunk`` (one of ``chunk_count``) of an ended segment;
    only the first chunk gets ``prompt``, ``prefix`` (committed words heard at its head) and
    ``draft`` (the words the newest partial said after them)."""
    return TranscribeRequest(
        request_id=chunk_request_id(segment.stream_id, segment.segment_id, chunk.index, attempt),
        stream_id=segment.stream_id,
        segment_id=segment.segment_id,
        chunk_index=chunk.index,
        chunk_count=chunk_count,
        ring_name=segment.ring_name,
        start_index=chunk.start_index,
        end_index=chunk.end_index,
        is_partial=False,
        prompt=prompt if chunk.index == 0 else "",
        prefix=prefix if chunk.index == 0 else "",
        draft=draft if chunk.index == 0 else "",
    )


def partial_request(
    segment: Segment, serial: int, start_index: int, end_index: int, prompt: str,
    prefix: str = "", draft: str = "",
) -> TranscribeRequest:  # fmt: skip
    """Partial number ``serial`` of an open segment, over ``[start_index, end_index)``;
    ``prefix``: the committed words heard at the window's head, forced as its first words;
    ``draft``: the words the newest hypothesis said after them."""
    return TranscribeRequest(
        request_id=partial_request_id(segment.stream_id, segment.segment_id, serial),
        stream_id=segment.stream_id,
        segment_id=segment.segment_id,
        chunk_index=0,
        chunk_count=1,
        ring_name=segment.ring_name,
        start_index=start_index,
        end_index=end_index,
        is_partial=True,
        prompt=prompt,
        prefix=prefix,
        draft=draft,
    )


def window_request(
    segment: Segment, window: int, attempt: int, start_index: int, end_index: int, prompt: str
) -> TranscribeRequest:
    """Attempt ``attempt`` of window number ``window`` (from 0) of a segment read window after
    window, over ``[start_index, end_index)``, prompted with the words before it."""
    return TranscribeRequest(
        request_id=window_request_id(segment.stream_id, segment.segment_id, window, attempt),
        stream_id=segment.stream_id,
        segment_id=segment.segment_id,
        chunk_index=0,
        chunk_count=1,
        ring_name=segment.ring_name,
        start_index=start_index,
        end_index=end_index,
        is_partial=False,
        prompt=prompt,
    )


def prompt_tail(text: str, max_chars: int) -> str:
    """The end of ``text``, at most ``max_chars`` long, starting at a word boundary."""
    if len(text) <= max_chars:
        return text
    tail = text[len(text) - max_chars :] if max_chars else ""
    cut = tail.find(" ")
    return tail[cut + 1 :] if 0 <= cut < len(tail) - 1 else tail
