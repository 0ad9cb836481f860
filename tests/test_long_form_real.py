"""The sequential long-form pass on real continuous speech with the real model: no passage lost.

The opening of the dev set's continuous talk (espeak-ng, en-gb-scotland+f3, seed 7): tiny.en
reads its first 30 s window as one sentence and stops, and called the next full window
(prompted) silence. The pass used to seek to the window's end after both, losing about 40 of the
opening's 100 words (WER 0.93 on the file's first minute, 0.64 on all 6 minutes; 0.43 / 0.24
with the seek rules of ``pipeline.long_form``).
"""

from __future__ import annotations

import difflib
import shutil
from functools import cache

import numpy as np
import pytest

from pipeline.long_form import transcribe_long
from pipeline.text_metrics import normalize_words

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make system-deps)"
)

SENTENCES = (
    "The first public libraries were small rooms with a few shelves of books that could not be "
    "taken home.",
    "Over time they grew into large buildings with reading rooms, maps, newspapers and "
    "collections of music.",
    "Today a library is also a place where people come to use a computer, to print a document "
    "or to ask for help with a form.",
    "Many libraries lend tools, games and even musical instruments, and some offer classes for "
    "children and adults.",
    "Librarians say that the busiest hours are right after school and on rainy weekends.",
    "Although more and more books are read on screens, the number of visitors has stayed high "
    "in most towns.",
)
GAP_S = 0.06  # between sentences: continuous speech (the dev set's gaps are 0.03-0.15 s)


@cache
def talk() -> np.ndarray:
    """The sentences in one voice, 1 s of lead-in, low noise: about 40 s at 16 kHz."""
    from bench.devset.synth import Voice, synthesize

    voice = Voice("en-gb-scotland", "f3", 150, 35)
    gap = np.zeros(int(GAP_S * 16_000), dtype=np.float32)
    pieces = [np.zeros(16_000, dtype=np.float32)]
    for sentence in SENTENCES:
        pieces += [synthesize(sentence, voice) * np.float32(0.7), gap]
    audio = np.concatenate(pieces)
    noise = np.random.default_rng(7).standard_normal(len(audio)).astype(np.float32) * 0.0015
    return audio + noise


@cache
def backend():
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

    return WhisperBackend(options=WhisperOptions(blas_threads=1))


def longest_missing_run(reference: str, hypothesis: str) -> list[str]:
    """The longest run of reference words that the hypothesis lacks (deleted or replaced)."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    matcher = difflib.SequenceMatcher(a=ref, b=hyp, autojunk=False)
    runs = [ref[i1:i2] for tag, i1, i2, _, _ in matcher.get_opcodes() if tag != "equal"]
    return max(runs, key=len, default=[])


def test_no_passage_of_continuous_speech_is_skipped() -> None:
    audio = talk()
    assert len(audio) / 16_000 > 35  # more than one 30 s window
    result = transcribe_long(backend(), audio)
    reference = " ".join(SENTENCES)
    missing = longest_missing_run(reference, result.text)
    # tiny.en misreads words here and there on this voice; a skipped passage is a sentence long
    assert len(missing) <= 6, f"a passage was lost: {' '.join(missing)!r} in {result.text!r}"
    found = set(normalize_words(result.text))
    for sentence in SENTENCES:  # every sentence is at least mostly there
        words = normalize_words(sentence)
        assert sum(w in found for w in words) >= len(words) // 2, (sentence, result.text)
    starts = [w.start_s for w in result.words]
    assert starts == sorted(starts)
    assert result.words[-1].end_s <= len(audio) / 16_000 + 0.1
