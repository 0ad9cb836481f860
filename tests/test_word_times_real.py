"""Word times of the real tiny.en (both engines) against a recording whose sentence times are
exact: the dev monologue's first three sentences (0.8-17.8 s, pauses of 0.12-0.15 s between
them; the reference JSON's times were checked against the audio's energy to +-0.04 s).

A word's time is where the alignment heads attend while the decoder emits it. Taking the
attention rows one token late (the bug this guards) put every word where the next token
attended: sentence ends came out ~0.4 s late, and the commit and merge rules that cut audio at
word boundaries cut into the next word.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests import whisper_audio
from tests.whisper_audio import DATA_DIR, RATE_HZ

cache_dir = whisper_audio.cache_dir

EXCERPT_S = 18.5
TOLERANCE_S = 0.25


@pytest.fixture(scope="module")
def monologue() -> tuple[np.ndarray, list[dict]]:
    audio = whisper_audio.load_audio("monologue_dev.wav")[: int(EXCERPT_S * RATE_HZ)]
    utterances = json.loads((DATA_DIR / "monologue_dev.json").read_text())["utterances"]
    return audio, [u for u in utterances if u["end"] <= EXCERPT_S]


def _sentence_ends(words, sentences: list[dict]) -> list[int]:
    """Index in ``words`` of each sentence's last word, matched by spelling in order (tiny.en
    spells the last words of these three right: "rain", "stones", "birds")."""
    normalized = [w.text.strip(" ,.-").lower() for w in words]
    found, after = [], 0
    for sentence in sentences:
        last = sentence["text"].split()[-1].strip(",.").lower()
        index = normalized.index(last, after)
        found.append(index)
        after = index + 1
    return found


@pytest.mark.parametrize("engine", ["numpy", "mlx"])
def test_sentence_edges_are_timed_where_they_were_said(cache_dir, monologue, engine):
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

    audio, sentences = monologue
    assert len(sentences) == 3
    words = WhisperBackend("", WhisperOptions(engine=engine)).transcribe(audio).words
    ends = _sentence_ends(words, sentences)
    for sentence, index in zip(sentences, ends, strict=True):
        assert abs(words[index].end_s - sentence["end"]) <= TOLERANCE_S, (words[index], sentence)
    # the word after a sentence's end starts the next sentence (its first word is not always
    # spelled right: "As" was "and")
    for sentence, index in zip(sentences[1:], ends, strict=False):
        assert abs(words[index + 1].start_s - sentence["start"]) <= TOLERANCE_S, (
            words[index + 1], sentence)  # fmt: skip
