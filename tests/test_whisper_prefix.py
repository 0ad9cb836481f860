"""A partial's committed words forced as a decoder prefix (real model, real audio, both engines).

Forcing the words known to lead the audio must give the same words after them, with the same
times, while the decoder generates only those words; the request carries the prefix on the wire
and the scheduler fills it with the committed words a partial window hears.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.messages import codec
from pipeline.messages.work import TranscribeRequest
from pipeline.words import Word
from tests import whisper_audio
from tests.whisper_audio import RATE_HZ

PREFIX_WORDS = 5  # "And so my fellow Americans,"
cache_dir = whisper_audio.cache_dir
jfk = whisper_audio.jfk


@pytest.fixture(scope="module")
def numpy_backend(cache_dir):
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

    return WhisperBackend("", WhisperOptions(engine="numpy", blas_threads=1))


@pytest.mark.parametrize("engine", ["numpy", "mlx"])
def test_prefix_gives_the_same_new_words_for_fewer_decoded_tokens(numpy_backend, jfk, engine):
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions
    from pipeline.merging import merged_text

    if engine == "mlx":
        pytest.importorskip("mlx.core")
        backend = WhisperBackend("", WhisperOptions(engine="mlx", blas_threads=1))
    else:
        backend = numpy_backend
    plain = backend.transcribe(jfk)
    assert len(plain.words) > PREFIX_WORDS + 5, plain.text
    prefix = merged_text(plain.words[:PREFIX_WORDS])
    forced = backend.transcribe(jfk, prefix=prefix)

    assert forced.text == plain.text
    assert [w.text for w in forced.words] == [w.text for w in plain.words]
    for ours, theirs in zip(forced.words[PREFIX_WORDS:], plain.words[PREFIX_WORDS:], strict=True):
        assert abs(ours.start_s - theirs.start_s) <= 0.1, (ours, theirs)
        assert abs(ours.end_s - theirs.end_s) <= 0.1, (ours, theirs)
    prefix_tokens = forced.details["prefix_tokens"]
    assert prefix_tokens >= PREFIX_WORDS
    assert forced.details["tokens"] == plain.details["tokens"] - prefix_tokens


def test_prefix_of_silence_ends_at_once(numpy_backend, jfk):
    """Nothing said after the prefix: end-of-text may be the first decoded token (it is
    suppressed there without a prefix), so the result is the prefix alone, not a made-up word."""
    backend = numpy_backend
    audio = np.concatenate([jfk, np.zeros(RATE_HZ, np.float32)])
    said = backend.transcribe(audio).text
    result = backend.transcribe(audio, prefix=said)
    assert result.text == said
    assert result.details["tokens"] == 0  # end-of-text first


def test_request_carries_the_prefix_and_old_requests_decode():
    request = TranscribeRequest("p-1", "main", 3, 0, 1, "ring", 0, 16_000, True, "Hi.", "So")
    assert codec.decode(codec.encode(request)) == request
    old = TranscribeRequest("p-2", "main", 3, 0, 1, "ring", 0, 16_000, True, "Hi.")
    assert codec.decode(codec.encode(old)).prefix == ""


def test_partial_prefix_is_the_committed_words_in_its_window():
    from pipeline.scheduling.commit_policy import CommitOptions
    from pipeline.scheduling.commit_state import CommitState
    from pipeline.scheduling.commits import CommittedSegments

    state = CommitState(context_text="", window_start_index=0, last_end_index=0)
    state.committed.extend(
        [Word(0.0, 0.4, " One", 0.9), Word(0.5, 0.9, " two", 0.9), Word(1.0, 1.5, " three.", 0.9)]
    )
    segments = CommittedSegments(CommitOptions())
    assert segments._prefix_after(state, int(0.8 * RATE_HZ)) == "two three."
    assert segments._prefix_after(state, int(1.6 * RATE_HZ)) == ""
    off = CommittedSegments(CommitOptions(prefix_committed=False))
    assert off._prefix_after(state, 0) == ""


def test_service_forces_a_partial_requests_prefix(numpy_backend, jfk, tmp_path):
    """Through the worker's transcription service and a real ring: the request's prefix reaches
    the decoder (fewer decoded tokens, same words)."""
    from pipeline.merging import merged_text
    from pipeline.messages.work import TranscribeResult
    from pipeline.ring import AudioRing
    from pipeline.scheduling.request_ids import partial_request_id
    from pipeline.transcription_service import TranscriptionService

    ring = AudioRing.create("prefix", jfk.size * 2, RATE_HZ, tmp_path)
    ring.write(jfk)
    service = TranscriptionService(numpy_backend)

    def request(serial: int, prefix: str) -> TranscribeRequest:
        return TranscribeRequest(
            request_id=partial_request_id("main", 1, serial), stream_id="main", segment_id=1,
            chunk_index=0, chunk_count=1, ring_name=ring.name, start_index=0,
            end_index=jfk.size, is_partial=True, prefix=prefix,
        )  # fmt: skip

    try:
        plain = service.handle(request(1, ""))
        assert isinstance(plain, TranscribeResult)
        forced = service.handle(request(2, merged_text(plain.words[:PREFIX_WORDS])))
        assert isinstance(forced, TranscribeResult)
        assert [w.text for w in forced.words] == [w.text for w in plain.words]
        assert forced.details["prefix_tokens"] >= PREFIX_WORDS
        assert forced.details["tokens"] == plain.details["tokens"] - forced.details["prefix_tokens"]
    finally:
        service.close()
        ring.close()


def test_a_rest_whose_lead_in_repeats_the_prompt_keeps_its_words(numpy_backend, jfk):
    """The daemon's case on jfk.flac: after "you ask what you" was committed, the segment's rest
    is read from 1 s before the cut, prompted with the text before that. Prompted only, tiny.en
    takes the lead-in for the prompt's "can do for" and decodes just "your country"; with the
    lead-in's committed words forced as the prefix (what the scheduler now sends) every word
    after them is there, timed after them."""
    rest = jfk[135_808:176_000]  # 8.49 s to the end
    prompt = "And so my fellow Americans, ask not what your country can do for"
    result = numpy_backend.transcribe(rest, prompt=prompt, prefix="you ask what you")
    words = [w.text.strip(" .,").lower() for w in result.words]
    assert words == ["you", "ask", "what", "you", "can", "do", "for", "your", "country"], words
    assert result.words[4].start_s >= result.words[3].end_s - 0.05
