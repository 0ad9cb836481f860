"""Greedy decoding with a draft (``whisper/drafted_greedy.py``) on the real model and audio:
the same text and word times as plain greedy decoding, in fewer decoder passes, on both engines.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.backend_calls import request_marks, transcribe_one
from tests import whisper_audio
from tests.whisper_audio import RATE_HZ

cache_dir = whisper_audio.cache_dir

PROMPT = "Earlier words of the talk."
STARTS_S = (9.0, 24.0)  # two 7 s windows of monologue_dev (the tests below take the first)


@pytest.fixture(scope="module", params=["numpy", "mlx"])
def backend(request, cache_dir):
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

    return WhisperBackend("", WhisperOptions(engine=request.param))


@pytest.fixture(scope="module")
def monologue() -> np.ndarray:
    return whisper_audio.load_audio("monologue_dev.wav")


def partial(backend, audio: np.ndarray, draft: str = "", prefix: str | None = None):
    with request_marks(backend, partial=True, early_final=False, draft=draft):
        return transcribe_one(backend, audio, PROMPT, prefix)


def timed_words(result) -> list[tuple[str, float, float]]:
    return [(w.text, round(w.start_s, 3), round(w.end_s, 3)) for w in result.words]


@pytest.mark.parametrize("start_s", STARTS_S)
def test_a_previous_hypothesis_as_draft_gives_the_same_words_in_fewer_passes(
    backend, monologue, start_s
) -> None:
    begin = int(start_s * RATE_HZ)
    previous = partial(backend, monologue[begin : begin + 6 * RATE_HZ])  # a second less audio
    audio = monologue[begin : begin + 7 * RATE_HZ]
    plain = partial(backend, audio)
    drafted = partial(backend, audio, draft=previous.text)
    assert plain.text and drafted.text == plain.text
    assert timed_words(drafted) == timed_words(plain)
    details = drafted.details
    assert details["draft_accepted"] > 0
    assert details["decoder_steps"] < plain.details["tokens"]  # fewer passes than tokens
    assert "decoder_steps" not in plain.details


def test_a_wrong_draft_changes_nothing_but_its_cost(backend, monologue) -> None:
    audio = monologue[: 7 * RATE_HZ]
    plain = partial(backend, audio)
    drafted = partial(backend, audio, draft="Completely unrelated words about cooking pasta.")
    assert drafted.text == plain.text and timed_words(drafted) == timed_words(plain)
    assert drafted.details["draft_accepted"] == 0


def test_the_draft_follows_the_prefix(backend, monologue) -> None:
    """With committed words forced as the prefix, the draft is what comes after them."""
    audio = monologue[: 7 * RATE_HZ]
    plain = partial(backend, audio)
    words = plain.text.split()
    assert len(words) > 6
    prefix, rest = " ".join(words[:3]), " ".join(words[3:])
    forced = partial(backend, audio, prefix=prefix)
    drafted = partial(backend, audio, draft=rest, prefix=prefix)
    assert drafted.text == forced.text and timed_words(drafted) == timed_words(forced)
    assert drafted.details["draft_accepted"] > 0


def test_the_draft_is_cleared_after_the_request(backend) -> None:
    with request_marks(backend, partial=True, early_final=False, draft="some words"):
        assert backend.draft_text == "some words"
    assert backend.draft_text == ""
