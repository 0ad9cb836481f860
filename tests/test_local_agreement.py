"""Local agreement: stable prefixes of partial hypotheses."""

from __future__ import annotations

import dataclasses
import random

import pytest

from pipeline.local_agreement import (
    EMPTY_PARTIAL,
    LocalAgreement,
    PartialText,
    Repetition,
    find_repetition,
)
from pipeline.words import Word


def hypothesis(text: str, start_s: float = 0.0, pitch_s: float = 0.4) -> list[Word]:
    """Whisper-style words of ``text``, one every ``pitch_s`` seconds from ``start_s``."""
    return [
        Word(start_s + i * pitch_s, start_s + i * pitch_s + 0.3, " " + t, 0.9)
        for i, t in enumerate(text.split())
    ]


def test_first_hypothesis_is_all_unstable() -> None:
    agreement = LocalAgreement()
    partial = agreement.update(hypothesis("hello world"))
    assert partial.stable == ""
    assert partial.unstable == "hello world"
    assert partial.stable_words == ()
    assert [w.text for w in partial.unstable_words] == [" hello", " world"]


def test_words_two_hypotheses_agree_on_become_stable() -> None:
    agreement = LocalAgreement()
    agreement.update(hypothesis("the quick brown"))
    partial = agreement.update(hypothesis("the quick brown fox"))
    assert partial.stable == "the quick brown"
    assert partial.unstable == "fox"
    assert partial.text == "the quick brown fox"


def test_stable_prefix_grows_with_the_audio() -> None:
    agreement = LocalAgreement()
    texts = [
        "hello",
        "hello world",
        "hello world how",
        "hello world how are you",
        "hello world how are you",
    ]
    stables = [agreement.update(hypothesis(t)).stable for t in texts]
    assert stables == ["", "hello", "hello world", "hello world how", "hello world how are you"]


def test_agreement_stops_at_the_first_disagreement() -> None:
    agreement = LocalAgreement()
    agreement.update(hypothesis("we saw their dog run"))
    partial = agreement.update(hypothesis("we saw there dog run"))
    assert partial.stable == "we saw"
    assert partial.unstable == "there dog run"


def test_normalized_words_agree_across_case_and_punctuation() -> None:
    agreement = LocalAgreement()
    agreement.update(hypothesis("Hello, world"))
    partial = agreement.update(hypothesis("hello World! again"))
    assert partial.stable == "hello World!"  # the newest hypothesis's spelling
    assert partial.unstable == "again"


def test_stable_words_are_never_retracted() -> None:
    agreement = LocalAgreement()
    agreement.update(hypothesis("we saw their dog"))
    agreement.update(hypothesis("we saw their dog"))
    assert agreement.partial.stable == "we saw their dog"
    # A later hypothesis rewrites a stable word: the stable text stands, nothing is repeated.
    partial = agreement.update(hypothesis("we saw there dog running"))
    assert partial.stable == "we saw their dog"
    assert partial.unstable == "running"
    partial = agreement.update(hypothesis("we saw there dog running fast"))
    assert partial.stable == "we saw their dog running"
    assert partial.unstable == "fast"


def test_shorter_hypothesis_keeps_the_stable_prefix() -> None:
    agreement = LocalAgreement()
    agreement.update(hypothesis("one two three"))
    agreement.update(hypothesis("one two three"))
    partial = agreement.update(hypothesis("one two"))
    assert partial.stable == "one two three"
    assert partial.unstable == ""


def test_empty_hypothesis_breaks_agreement_but_keeps_stable() -> None:
    agreement = LocalAgreement()
    agreement.update(hypothesis("one two"))
    agreement.update(hypothesis("one two three"))
    assert agreement.update([]).stable == "one two"
    # "three" was last agreed two hypotheses ago, not consecutively: still unstable.
    partial = agreement.update(hypothesis("one two three four"))
    assert partial.stable == "one two"
    assert partial.unstable == "three four"
    assert agreement.update(hypothesis("one two three four")).stable == "one two three four"


def test_timestamp_jitter_does_not_matter() -> None:
    agreement = LocalAgreement()
    agreement.update(hypothesis("alpha beta gamma"))
    partial = agreement.update(hypothesis("alpha beta gamma delta", start_s=0.15, pitch_s=0.43))
    assert partial.stable == "alpha beta gamma"
    assert partial.stable_words[0].start_s == pytest.approx(0.15)  # newest timing kept


def test_window_hypotheses_are_located_by_their_words_and_times() -> None:
    # Later hypotheses transcribe only the newest audio: they start inside the stable text.
    agreement = LocalAgreement()
    agreement.update(hypothesis("a b c d e"))
    agreement.update(hypothesis("a b c d e f"))
    assert agreement.partial.stable == "a b c d e"
    window = [w for w in hypothesis("a b c d e f g") if w.start_s >= 0.8]  # "c d e f g"
    partial = agreement.update(window)
    assert partial.stable == "a b c d e f"
    assert partial.unstable == "g"
    window = [w for w in hypothesis("a b c d e f g h") if w.start_s >= 1.2]  # "d e f g h"
    partial = agreement.update(window)
    assert partial.stable == "a b c d e f g"
    assert partial.unstable == "h"


def test_window_without_anchor_words_falls_back_to_time() -> None:
    agreement = LocalAgreement()
    agreement.update(hypothesis("one two three"))
    agreement.update(hypothesis("one two three"))
    # Only audio after the stable words, nothing to anchor on.
    later = hypothesis("four five", start_s=1.2)
    agreement.update(later)
    partial = agreement.update(later)
    assert partial.stable == "one two three four five"


def test_repetition_loop_never_becomes_stable() -> None:
    agreement = LocalAgreement()
    loop = "so I think I think I think I think I think"
    agreement.update(hypothesis(loop))
    partial = agreement.update(hypothesis(loop))
    assert partial.stable == "so"
    assert partial.unstable == "I think"  # the repeated words shown once
    partial = agreement.update(hypothesis(loop + " I think"))
    assert partial.stable == "so"


def test_single_word_loop_is_caught() -> None:
    agreement = LocalAgreement()
    agreement.update(hypothesis("and the the the the the"))
    partial = agreement.update(hypothesis("and the the the the the the"))
    assert partial.stable == "and"
    assert partial.unstable == "the"


def test_repeats_below_the_limit_are_ordinary_words() -> None:
    agreement = LocalAgreement()
    agreement.update(hypothesis("very very good"))
    partial = agreement.update(hypothesis("very very good indeed"))
    assert partial.stable == "very very good"


def test_loop_after_stable_repeated_words() -> None:
    agreement = LocalAgreement()
    agreement.update(hypothesis("no no"))
    agreement.update(hypothesis("no no"))
    assert agreement.partial.stable == "no no"
    partial = agreement.update(hypothesis("no no no no no"))
    assert partial.stable == "no no"
    assert partial.unstable == ""
    partial = agreement.update(hypothesis("no no no no no"))
    assert partial.stable == "no no"


def test_three_way_agreement() -> None:
    agreement = LocalAgreement(agreement_count=3)
    agreement.update(hypothesis("one two"))
    assert agreement.update(hypothesis("one two three")).stable == ""
    assert agreement.update(hypothesis("one two three")).stable == "one two"
    assert agreement.update(hypothesis("one two three four")).stable == "one two three"


def test_reset_starts_a_new_segment() -> None:
    agreement = LocalAgreement()
    agreement.update(hypothesis("first segment"))
    agreement.update(hypothesis("first segment"))
    agreement.reset()
    assert agreement.partial == EMPTY_PARTIAL
    partial = agreement.update(hypothesis("second"))
    assert partial.stable == ""
    assert partial.unstable == "second"


def test_partial_text_is_frozen() -> None:
    partial = PartialText("a", "b", (), ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        partial.stable = "c"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"agreement_count": 1}, "agreement_count"),
        ({"repeat_limit": 1}, "repeat_limit"),
        ({"max_ngram_words": 0}, "max_ngram_words"),
        ({"anchor_tolerance_s": -1.0}, "anchor_tolerance_s"),
    ],
)
def test_invalid_parameters_are_rejected(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LocalAgreement(**kwargs)  # type: ignore[arg-type]


def test_find_repetition() -> None:
    assert find_repetition([]) is None
    assert find_repetition(["a", "b", "c", "d"]) is None
    assert find_repetition(["a", "a", "b"]) is None
    assert find_repetition(["x", "a", "a", "a"]) == Repetition(start=1, ngram_words=1, repeats=3)
    assert find_repetition(["x", "a", "b", "a", "b", "a", "b", "y"]) == Repetition(1, 2, 3)
    assert find_repetition(
        ["a", "b", "c", "d", "a", "b", "c", "d", "a", "b", "c", "d"]
    ) == Repetition(0, 4, 3)
    # 5-grams are longer than looked for
    assert find_repetition(("a b c d e " * 3).split()) is None
    assert find_repetition(["a", "b", "a", "b"], repeat_limit=2) == Repetition(0, 2, 2)


@pytest.mark.parametrize("seed", range(30))
def test_random_hypotheses_keep_the_invariants(seed: int) -> None:
    """Noisy growing hypotheses: stable only grows, and is a prefix of the truth when the noise
    never repeats in two consecutive hypotheses."""
    rng = random.Random(seed)
    vocabulary = [f"word{i}" for i in range(20)]
    truth: list[str] = []
    while len(truth) < 40:  # no word twice in a row: no repetition loop in the truth
        choice = rng.choice(vocabulary)
        if not truth or choice != truth[-1]:
            truth.append(choice)
    agreement = LocalAgreement()
    previous_stable: tuple[Word, ...] = ()
    for step in range(1, 45):
        heard = truth[: min(step, len(truth))]
        words = hypothesis(" ".join(heard))
        # The newest few words are guessed wrong, differently each time.
        for i in range(max(0, len(words) - 3), len(words)):
            if rng.random() < 0.5:
                words[i] = dataclasses.replace(words[i], text=f" noise{step}x{i}")
        partial = agreement.update(words)
        assert partial.stable_words[: len(previous_stable)] == previous_stable
        previous_stable = partial.stable_words
        stable = [w.text.strip() for w in partial.stable_words]
        assert stable == truth[: len(stable)]
    assert len(previous_stable) >= len(truth) - 3


def test_with_lookback_the_newest_may_agree_with_the_hypothesis_before_the_previous() -> None:
    plain, lookback = LocalAgreement(), LocalAgreement(lookback=2)
    for text in ("the set of", "the sna of bees", "the set of bees dance"):  # A, B, A
        plain_partial = plain.update(hypothesis(text))
        partial = lookback.update(hypothesis(text))
    assert plain_partial.stable == "the"  # consecutive ones only share "the"
    assert partial.stable == "the set of"  # the newest agrees with the first on three words
    assert partial.unstable == "bees dance"
    # the one that did not agree keeps only its words heard after the stable ones
    partial = lookback.update(hypothesis("the set of bees dance slowly"))
    assert partial.stable == "the set of bees dance"
    with pytest.raises(ValueError, match="lookback"):
        LocalAgreement(agreement_count=3, lookback=2)
    with pytest.raises(ValueError, match="lookback"):
        LocalAgreement(lookback=0)
