"""Merging overlapping chunk results: seams, edge words, and a simulated-chunking property test."""

from __future__ import annotations

import itertools
import random

import pytest

from pipeline.audio_format import SAMPLE_RATE_HZ
from pipeline.chunking import Chunk, ChunkingOptions, split_span
from pipeline.merging import ChunkWords, MergeOptions, merge_chunks, merged_text
from pipeline.text_metrics import normalize_words, word_error_rate
from pipeline.words import Word


def word(text: str, start_s: float, end_s: float, probability: float = 0.9) -> Word:
    return Word(start_s, end_s, " " + text, probability)


def spoken(text: str, start_s: float = 0.0, pitch_s: float = 0.5) -> list[Word]:
    """Words of ``text`` every ``pitch_s`` seconds from ``start_s``, each 0.4 s long."""
    return [
        word(t, start_s + i * pitch_s, start_s + i * pitch_s + 0.4)
        for i, t in enumerate(text.split())
    ]


def heard(
    words: list[Word], start_s: float, end_s: float, shift_s: float = 0.0
) -> tuple[Word, ...]:
    """What a chunk [start_s, end_s) hears of ``words``: those wholly inside it, shifted."""
    return tuple(w.shifted(shift_s) for w in words if w.start_s >= start_s and w.end_s <= end_s)


def texts(words: tuple[Word, ...] | list[Word]) -> list[str]:
    return [w.text.strip() for w in words]


def assert_sorted_non_overlapping(words: tuple[Word, ...]) -> None:
    for before, after in itertools.pairwise(words):
        assert before.start_s <= after.start_s
        assert before.end_s <= after.start_s + 1e-9
    for w in words:
        assert w.start_s <= w.end_s


# 36 words, 0.5 s apart: 0.0 .. 17.9 s.
SENTENCE = (
    "the quick brown fox jumps over the lazy dog while seven small birds sing "
    "their morning song above the quiet river and the old man slowly walks "
    "home along the narrow path under tall green trees"
)
ORIGINAL = spoken(SENTENCE)


def two_chunks(shift_s: float = 0.0) -> list[ChunkWords]:
    return [
        ChunkWords(0, 0.0, 10.0, heard(ORIGINAL, 0.0, 10.0)),
        ChunkWords(1, 8.0, 18.0, heard(ORIGINAL, 8.0, 18.0, shift_s)),
    ]


def test_single_chunk_is_identity() -> None:
    chunk = ChunkWords(0, 0.0, 18.0, tuple(ORIGINAL))
    assert merge_chunks([chunk]) == tuple(ORIGINAL)


def test_no_chunks_and_silent_chunks_give_nothing() -> None:
    assert merge_chunks([]) == ()
    assert merge_chunks([ChunkWords(0, 0.0, 10.0, ()), ChunkWords(1, 8.0, 18.0, ())]) == ()


def test_exact_duplicates_in_the_overlap_are_kept_once() -> None:
    merged = merge_chunks(two_chunks())
    assert merged == tuple(ORIGINAL)


@pytest.mark.parametrize("shift_s", [-0.4, -0.2, 0.15, 0.3, 0.45])
def test_shifted_timestamps_are_matched(shift_s: float) -> None:
    merged = merge_chunks(two_chunks(shift_s))
    assert texts(merged) == SENTENCE.split()
    assert_sorted_non_overlapping(merged)


def test_out_of_order_input_is_sorted_by_chunk_index() -> None:
    chunks = [
        ChunkWords(0, 0.0, 10.0, heard(ORIGINAL, 0.0, 10.0)),
        ChunkWords(1, 8.0, 16.0, heard(ORIGINAL, 8.0, 16.0)),
        ChunkWords(2, 14.0, 18.0, heard(ORIGINAL, 14.0, 18.0)),
    ]
    assert merge_chunks(chunks[::-1]) == merge_chunks(chunks) == tuple(ORIGINAL)


def test_a_chunk_given_twice_is_an_error() -> None:
    chunk = ChunkWords(0, 0.0, 10.0, ())
    with pytest.raises(ValueError, match="given twice"):
        merge_chunks([chunk, chunk])


def test_chunk_ending_before_it_starts_is_an_error() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        ChunkWords(0, 5.0, 4.0, ())


def test_disagreeing_words_take_the_one_further_from_its_chunk_edge() -> None:
    left = [word("we", 8.2, 8.4), word("saw", 8.6, 8.8), word("their", 9.6, 9.9, 0.6)]
    right = [word("wee", 8.2, 8.4, 0.5), word("saw", 8.6, 8.8), word("there", 9.6, 9.9)]
    merged = merge_chunks(
        [ChunkWords(0, 0.0, 10.0, tuple(left)), ChunkWords(1, 8.0, 18.0, tuple(right))]
    )
    # "we"/"wee" lies near the right chunk's start: the left chunk's word wins; "their"/"there"
    # lies near the left chunk's end: the right chunk's word wins.
    assert texts(merged) == ["we", "saw", "there"]


def test_dissimilar_words_at_the_same_time_are_one_word() -> None:
    left = [word("cat", 9.5, 9.8)]
    right = [word("hat", 9.52, 9.8), word("sat", 10.5, 10.8)]
    merged = merge_chunks(
        [ChunkWords(0, 0.0, 10.0, tuple(left)), ChunkWords(1, 8.0, 18.0, tuple(right))]
    )
    assert texts(merged) == ["hat", "sat"]


def test_half_word_at_the_end_of_a_chunk_is_replaced_by_the_whole_word() -> None:
    left = [word("streaming", 8.5, 9.2), word("transcri", 9.6, 10.0, 0.3)]
    right = [
        word("streaming", 8.5, 9.2),
        word("transcription", 9.6, 10.5),
        word("works", 10.6, 11.0),
    ]
    merged = merge_chunks(
        [ChunkWords(0, 0.0, 10.0, tuple(left)), ChunkWords(1, 8.0, 18.0, tuple(right))]
    )
    assert texts(merged) == ["streaming", "transcription", "works"]


def test_half_word_at_the_start_of_a_chunk_is_replaced_by_the_whole_word() -> None:
    left = [word("live", 7.2, 7.5), word("transcription", 7.6, 8.3), word("works", 8.6, 9.0)]
    right = [word("scription", 8.0, 8.3, 0.2), word("works", 8.6, 9.0)]
    merged = merge_chunks(
        [ChunkWords(0, 0.0, 10.0, tuple(left)), ChunkWords(1, 8.0, 18.0, tuple(right))]
    )
    assert texts(merged) == ["live", "transcription", "works"]


def test_unmatched_low_probability_edge_guess_is_dropped() -> None:
    left = [word("we", 8.5, 8.8), word("go", 9.0, 9.3), word("uh", 9.8, 10.0, 0.2)]
    right = [word("we", 8.5, 8.8), word("go", 9.0, 9.3), word("home", 10.5, 10.9)]
    merged = merge_chunks(
        [ChunkWords(0, 0.0, 10.0, tuple(left)), ChunkWords(1, 8.0, 18.0, tuple(right))]
    )
    assert texts(merged) == ["we", "go", "home"]


def test_unmatched_confident_word_is_kept() -> None:
    # The right chunk missed "now" (it was still settling in); the left chunk heard it clearly.
    left = [word("now", 8.1, 8.4), word("we", 8.5, 8.8), word("go", 9.0, 9.3)]
    right = [word("we", 8.5, 8.8), word("go", 9.0, 9.3), word("home", 10.5, 10.9)]
    merged = merge_chunks(
        [ChunkWords(0, 0.0, 10.0, tuple(left)), ChunkWords(1, 8.0, 18.0, tuple(right))]
    )
    assert texts(merged) == ["now", "we", "go", "home"]
    # The left chunk missed the word cut by its end; the right chunk has it whole.
    left = [word("we", 8.5, 8.8), word("go", 9.0, 9.3)]
    right = [word("we", 8.5, 8.8), word("go", 9.0, 9.3), word("home", 9.7, 10.2)]
    merged = merge_chunks(
        [ChunkWords(0, 0.0, 10.0, tuple(left)), ChunkWords(1, 8.0, 18.0, tuple(right))]
    )
    assert texts(merged) == ["we", "go", "home"]


def test_chunk_with_nothing_in_the_overlap_keeps_the_other_chunks_words() -> None:
    left = [word("a", 7.0, 7.2), word("b", 8.5, 8.8), word("c", 9.6, 9.9, 0.3)]
    right = [word("d", 10.5, 10.9)]
    merged = merge_chunks(
        [ChunkWords(0, 0.0, 10.0, tuple(left)), ChunkWords(1, 8.0, 18.0, tuple(right))]
    )
    assert texts(merged) == ["a", "b", "c", "d"]


def test_silent_chunk_between_two_chunks() -> None:
    chunks = [
        ChunkWords(0, 0.0, 10.0, tuple(spoken("one two three", 1.0))),
        ChunkWords(1, 8.0, 18.0, ()),
        ChunkWords(2, 16.0, 26.0, tuple(spoken("four five", 20.0))),
    ]
    assert texts(merge_chunks(chunks)) == ["one", "two", "three", "four", "five"]


def test_word_straddling_the_seam_is_kept_once() -> None:
    # Overlap [8, 10], midpoint 9: "across" straddles it, and the right chunk times it 0.2 s later.
    left = [word("right", 8.4, 8.8), word("across", 8.8, 9.3)]
    right = [word("right", 8.6, 9.0), word("across", 9.0, 9.5), word("it", 9.6, 9.8)]
    merged = merge_chunks(
        [ChunkWords(0, 0.0, 10.0, tuple(left)), ChunkWords(1, 8.0, 18.0, tuple(right))]
    )
    assert texts(merged) == ["right", "across", "it"]
    assert_sorted_non_overlapping(merged)


def test_words_timed_past_their_chunk_edge_are_kept_once() -> None:
    left = [word("almost", 9.0, 9.5), word("there", 9.7, 10.3)]  # timed past the left chunk's end
    right = [word("almost", 9.0, 9.5), word("there", 9.7, 10.3), word("now", 10.4, 10.7)]
    merged = merge_chunks(
        [ChunkWords(0, 0.0, 10.0, tuple(left)), ChunkWords(1, 8.0, 18.0, tuple(right))]
    )
    assert texts(merged) == ["almost", "there", "now"]


def test_repeated_words_in_the_overlap_are_not_collapsed() -> None:
    original = spoken("and the the cat sat on the the mat", 7.5, 0.4)
    merged = merge_chunks(
        [
            ChunkWords(0, 0.0, 10.0, heard(original, 0.0, 10.0)),
            ChunkWords(1, 8.0, 18.0, heard(original, 8.0, 18.0, 0.2)),
        ]
    )
    assert texts(merged) == ["and", "the", "the", "cat", "sat", "on", "the", "the", "mat"]


def test_real_seam_with_edge_distorted_times_is_kept_once() -> None:
    # Whisper tiny.en on lecture_60s_16k.wav cut at 10 s with 2 s overlap: the left chunk squeezes
    # its last words against its end, the right chunk stretches its first word back to its start.
    left = [
        Word(6.68, 9.38, " sonny.", 0.53),
        Word(9.58, 9.8, " That", 0.76),
        Word(9.8, 9.92, " is", 0.98),
        Word(9.92, 9.98, " to", 0.86),
        Word(9.98, 9.98, " say,", 0.97),
    ]
    right = [
        Word(8.0, 9.8, " That", 0.84),
        Word(9.8, 10.0, " is", 0.99),
        Word(10.0, 10.5, " to", 0.98),
        Word(10.5, 11.1, " say", 1.0),
        Word(11.1, 11.58, " much", 0.79),
    ]
    merged = merge_chunks(
        [ChunkWords(0, 0.0, 10.0, tuple(left)), ChunkWords(1, 8.0, 18.0, tuple(right))]
    )
    assert merged_text(merged) == "sonny. That is to say much"
    assert_sorted_non_overlapping(merged)


def test_chunks_without_overlap_are_concatenated() -> None:
    chunks = [
        ChunkWords(0, 0.0, 10.0, heard(ORIGINAL, 0.0, 10.0)),
        ChunkWords(1, 10.0, 20.0, heard(ORIGINAL, 10.0, 20.0)),
    ]
    assert merge_chunks(chunks) == tuple(ORIGINAL)


def test_from_relative_and_from_chunk_shift_word_times() -> None:
    relative = [word("hi", 0.5, 0.8)]
    from_relative = ChunkWords.from_relative(3, 24.0, 34.0, relative)
    assert from_relative.words == (word("hi", 24.5, 24.8),)
    chunk = Chunk(3, 24 * SAMPLE_RATE_HZ, 34 * SAMPLE_RATE_HZ)
    assert ChunkWords.from_chunk(chunk, relative) == from_relative


def test_overlapping_output_words_are_trimmed() -> None:
    chunk = ChunkWords(0, 0.0, 10.0, (word("a", 1.0, 2.0), word("b", 1.5, 2.5)))
    merged = merge_chunks([chunk])
    assert merged == (word("a", 1.0, 1.5), word("b", 1.5, 2.5))


def test_merged_text_joins_whisper_and_plain_words() -> None:
    assert merged_text([]) == ""
    assert merged_text([Word(0, 1, " Hello", 1), Word(1, 2, " world.", 1)]) == "Hello world."
    assert merged_text([Word(0, 1, "Hello", 1), Word(1, 2, "world", 1)]) == "Hello world"
    assert (
        merged_text(
            [
                Word(0, 1, " It", 1),
                Word(1, 2, "'s", 1),
                Word(2, 3, " fine", 1),
                Word(3, 4, ",", 1),
                Word(4, 5, " do", 1),
                Word(5, 6, "n't", 1),
                Word(6, 7, "  ", 1),
                Word(7, 8, "stop", 1),
                Word(8, 9, "!", 1),
            ]
        )
        == "It's fine, don't stop!"
    )


# --- property test: simulated chunking of a known word sequence --------------------------------

VOCABULARY = [
    "the",
    "a",
    "and",
    "to",
    "of",
    "in",
    "it",
    "is",
    "that",
    "we",
    "you",
    "they",
    "this",
    "for",
    "on",
    "with",
    "as",
    "at",
    "be",
    "are",
    "was",
    "have",
    "not",
    "but",
    "all",
    "can",
    "said",
    "there",
    "their",
    "what",
    "when",
    "will",
    "an",
    "one",
    "about",
    "would",
    "like",
    "so",
    "time",
    "streaming",
    "speech",
    "recognition",
    "transcription",
    "model",
    "audio",
    "chunk",
    "overlap",
    "window",
    "daemon",
    "merge",
    "seam",
    "partial",
    "final",
    "stable",
    "word",
    "segment",
    "river",
    "morning",
    "quiet",
    "narrow",
    "slowly",
]


def mishearing(rng: random.Random) -> str:
    """A made-up word: a misheard word that equals no spoken one (nor another mishearing)."""
    return "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(rng.randint(2, 7)))


def simulate_speech(rng: random.Random, duration_s: float) -> list[Word]:
    words: list[Word] = []
    t = rng.uniform(0.0, 1.0)
    while t < duration_s:
        length_s = rng.uniform(0.12, 0.6)
        words.append(word(rng.choice(VOCABULARY), t, t + length_s, rng.uniform(0.7, 1.0)))
        t += length_s + (rng.uniform(0.8, 3.0) if rng.random() < 0.05 else rng.uniform(0.02, 0.35))
    return words


def simulate_chunk(
    rng: random.Random, original: list[Word], chunk: Chunk, span_end_s: float
) -> ChunkWords:
    """What a backend might return for ``chunk``: seam words dropped, cut or misheard; jitter."""
    start_s, end_s = chunk.start_s, chunk.end_s
    # Distance to the nearest seam (an edge shared with another chunk, not the span's own ends).
    seam_starts_s = [start_s] if start_s > 0.0 else []
    seam_ends_s = [end_s] if end_s < span_end_s else []
    shift_s = rng.uniform(-0.2, 0.2)
    out: list[Word] = []
    for w in original:
        if w.end_s <= start_s or w.start_s >= end_s:
            continue
        jitter_s = shift_s + rng.uniform(-0.03, 0.03)
        text = w.text.strip()
        cut_start, cut_end = w.start_s < start_s, w.end_s > end_s
        if cut_start or cut_end:
            fate = rng.random()
            if fate < 0.35:
                continue  # the backend skipped the cut word
            if fate < 0.8 and len(text) >= 2:
                keep = rng.randint(1, len(text) - 1)
                text = text[-keep:] if cut_start else text[:keep]
                w = Word(
                    max(w.start_s, start_s),
                    min(w.end_s, end_s),
                    " " + text,
                    rng.uniform(0.05, 0.45),
                )
        elif (
            min([w.start_s - s for s in seam_starts_s] + [e - w.end_s for e in seam_ends_s] + [9.9])
            < 0.5
            and rng.random() < 0.3
        ):
            other = mishearing(rng)
            w = Word(w.start_s, w.end_s, " " + other, rng.uniform(0.1, 0.45))
        out.append(w.shifted(jitter_s))
    return ChunkWords(chunk.index, start_s, end_s, tuple(out))


@pytest.mark.parametrize("seed", range(200))
def test_simulated_chunking_merges_back_to_the_original(seed: int) -> None:
    rng = random.Random(seed)
    original = simulate_speech(rng, rng.uniform(15.0, 70.0))
    chunk_s = rng.uniform(6.0, 14.0)
    options = ChunkingOptions.from_seconds(chunk_s, rng.uniform(1.5, 3.0))
    end_index = int((original[-1].end_s + rng.uniform(0.0, 1.0)) * SAMPLE_RATE_HZ)
    chunks = split_span(0, end_index, options)
    results = [simulate_chunk(rng, original, chunk, chunks[-1].end_s) for chunk in chunks]
    rng.shuffle(results)

    merged = merge_chunks(results, MergeOptions())

    reference = merged_text(original)
    hypothesis = merged_text(merged)
    assert normalize_words(hypothesis) == normalize_words(reference), (
        f"seed {seed}: WER {word_error_rate(reference, hypothesis):.3f}"
    )
    assert_sorted_non_overlapping(merged)
    for got, want in zip(merged, original, strict=True):
        assert abs(got.start_s - want.start_s) < 0.7
