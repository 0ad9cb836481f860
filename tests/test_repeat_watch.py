"""The early stop on a short window's repeat (``pipeline/backends/whisper/repeat_watch.py``):
the logic on token pieces, then the real tiny.en on a dictation sentence that loops on a 6 s
window, alone and batched, on both engines."""

from __future__ import annotations

import json
import random

import pytest

from pipeline.backends.whisper.audio_context import has_repeat, looks_suspect
from pipeline.backends.whisper.repeat_watch import RepeatWatch, repeat_size_at, words_of
from tests.whisper_audio import DATA_DIR, cache_dir, load_audio  # noqa: F401


def old_has_repeat(text: str) -> bool:
    """``has_repeat`` as it was before the early stop shared its check (brute force)."""
    words = words_of(text)
    for size in range(1, len(words) // 2 + 1):
        times = 3 if size == 1 else 2
        for start in range(len(words) - size * times + 1):
            block = words[start : start + size]
            if all(words[start + k * size : start + (k + 1) * size] == block for k in range(times)):
                return True
    return False


def test_has_repeat_is_unchanged():
    rng = random.Random(5)
    for _ in range(2000):
        text = " ".join(rng.choice(["a", "b.", "c", "A,"]) for _ in range(rng.randrange(0, 9)))
        assert has_repeat(text) == old_has_repeat(text), text
    assert repeat_size_at(["x", "y", "x", "y"], 4) == 2
    assert repeat_size_at(["x", "x"], 2) == 0  # one word needs three times


def fed(pieces: list[str], forced: int = 0, cut: bool = True) -> tuple[int | None, RepeatWatch]:
    """Feed ``pieces`` (one token each; the first ``forced`` a forced prefix) to a watch: the
    index of the piece it fired on, or None."""
    vocab = {i: piece for i, piece in enumerate(pieces)}
    watch = RepeatWatch(lambda tokens: "".join(vocab[t] for t in tokens), range(forced), cut=cut)
    for index in range(forced, len(pieces)):
        if watch.add(index):
            return index, watch
    return None, watch


LOOP = [" The", " first", " item", " is", " the", " budget.", " The", " first", " item", " is",
        " the", " budget."]  # fmt: skip


def test_a_sentence_that_starts_again_stops_the_search_at_its_third_word():
    at, watch = fed(LOOP)
    assert at == 9  # " is" makes " item" complete: three words as the earlier sentence's
    assert watch.cut_tokens == 6  # the search ends at " budget."
    assert not has_repeat("".join(LOOP[: watch.cut_tokens]))


def test_a_loop_of_one_word_cuts_after_its_first_sentence():
    at, watch = fed([" Perfect.", " Perfect.", " Perfect.", " Perfect."])
    assert at == 3 and watch.cut_tokens == 1


def test_a_forced_prefix_counts_and_the_cut_is_after_it():
    at, watch = fed(LOOP, forced=3)
    assert at == 9 and watch.cut_tokens == 3  # six tokens, three of them forced
    at, watch = fed(LOOP, forced=7)  # the repeat starts inside the forced words: no cut
    assert at == 9 and watch.cut_tokens is None


@pytest.mark.parametrize(
    "pieces",
    [
        [" I", " think", " so.", " I", " know", " it", " well."],  # a sentence opening alike
        [" We", " need", " to", " go,", " go", " now.", " Go", " home."],  # a word twice
        [" It", " is", " what", " it", " is."],
        [" Go", " to", " the", " store.", " Go", " to", " the"],  # its third word may go on
        [" Go", " to", " the", " store.", " Go", " to", " the", "ater."],  # ... and did
        [" Yes.", " Yes."],
    ],
)
def test_text_said_once_or_an_incomplete_word_never_stops_the_search(pieces):
    at, _ = fed(pieces)
    assert at is None, pieces


def test_a_repeat_inside_a_sentence_stops_without_a_cut_and_would_be_retried():
    pieces = [" I", " think", " that,", " I", " think", " that", " we", " should."]
    at, watch = fed(pieces)
    assert at == 6 and watch.cut_tokens is None  # "i think that" twice: decoded again
    assert has_repeat("".join(pieces[:at])) and looks_suspect("x", {"repeat_stop": 1.0})


UNPUNCTUATED = [" you", " could", " support", " it", " by", " giving", " a", " star", " on", " Git",
                "Hub", " you", " could", " support", " it", " by", " giving", " a", " star", " on",
                " Git", "Hub", " you"]  # fmt: skip


def test_a_long_run_said_twice_is_cut_before_its_second_copy():
    """A loop with no sentence ends (demo_pauses' texts have no punctuation) is cut at a token
    boundary before the second copy, the word split over two tokens kept whole."""
    at, watch = fed(UNPUNCTUATED, forced=4)
    assert at == 22 and watch.cut_tokens == 11 - 4
    assert "".join(UNPUNCTUATED[:11]).endswith("on GitHub")
    at, watch = fed(UNPUNCTUATED, forced=12)  # the second copy starts in the forced words
    assert watch.cut_tokens is None
    at, watch = fed(UNPUNCTUATED, cut=False)
    assert at == 22 and watch.cut_tokens is None  # without the cut: stopped, decoded again


def test_a_punctuated_run_that_spans_a_sentence_end_is_cut_at_the_sentence_end_before_it():
    """dictation_dev's early final after "Maria will walk in the rooms and handle" (forced,
    misheard): tiny.en says the sentence again right, and the run "the rooms and handle the
    catering order. Maria will book" repeats across the sentence end. A cut inside it would end
    the final on "Maria will book"; it is cut at the sentence end before the second copy, the
    full window's answer ("... handle the catering order.")."""
    prefix = " to attend over two days. Maria will walk in the rooms and handle"
    said = " the catering order. Maria will book the rooms and handle the catering order."
    pieces = [" " + w for w in (prefix + said + " Maria will book the").split()]
    at, watch = fed(pieces, forced=len(prefix.split()))
    assert at is not None and watch.cut_tokens == 3  # " the", " catering", " order."


def test_a_run_said_twice_up_to_the_end_of_text_is_cut_when_the_search_ends():
    """The second copy's last word is complete only at end-of-text, which ``add`` never sees:
    ``ended`` judges it (demo_pauses: "... on GitHub The library is ... on GitHub")."""
    pieces = UNPUNCTUATED[:-1]  # ends with the second "GitHub", then end-of-text
    at, watch = fed(pieces, forced=4)
    assert at is None and watch.ended() and watch.cut_tokens == 11 - 4
    _, watch = fed(pieces, forced=4, cut=False)
    assert not watch.ended()  # without the cut: the result is retried as before
    _, watch = fed([" I", " think", " that,", " I", " think", " that."])
    assert not watch.ended()  # a short run: left as it was


def test_without_the_cut_the_watch_only_stops():
    from pipeline.backends.whisper.repeat_watch import stop

    at, watch = fed(LOOP, cut=False)
    tokens, logprobs = list(range(at + 1)), [0.0] * (at + 1)
    assert at == 9 and not stop(watch, tokens, logprobs) and len(tokens) == at + 1
    at, watch = fed(LOOP)
    assert stop(watch, tokens, logprobs) and len(tokens) == len(logprobs) == 6


# ---- the real model ---------------------------------------------------------------------------

UTTERANCE = 1  # "The first item is the budget for the spring conference." (2.8 s)


@pytest.mark.parametrize("engine", ["numpy", "mlx"])
def test_tiny_en_loop_on_a_short_window_is_cut_at_its_sentence(cache_dir, engine):  # noqa: F811
    """On a 6 s window, prompted with the sentence before it, tiny.en says this sentence again
    until the token cap. By default the early stop ends the loop sooner and the longer window
    decodes it again; with the cut (off by default) the search ends after the first sentence,
    with the words the 10 s window gives, no second pass and a fraction of the tokens, alone
    and batched; full-window searches never stop."""
    from dataclasses import replace

    from pipeline.backends.whisper.batch_windows import transcribe_batch
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

    utterances = json.loads((DATA_DIR / "dictation_dev.json").read_text())["utterances"]
    meta, prompt = utterances[UTTERANCE], utterances[UTTERANCE - 1]["text"]
    audio = load_audio("dictation_dev.wav")
    piece = audio[int((meta["start"] - 0.2) * 16_000) : int((meta["end"] + 0.1) * 16_000)]
    options = WhisperOptions(engine=engine, blas_threads=1, audio_ctx_early_final_min_s=6.0,
                             repeat_stop=False)  # fmt: skip
    backend = WhisperBackend(options=options)
    try:
        backend.early_final_request = True
        looped = backend.transcribe(piece, prompt=prompt)  # today's ladder: cap, then 10 s
        assert looped.details["audio_ctx_retry_tokens"] >= backend.max_tokens(3.0) - 2
        assert looped.details["audio_ctx"] == 500, looped.details
        backend.options = replace(options, repeat_stop=True, repeat_cut=True)
        cut = backend.transcribe(piece, prompt=prompt)
        assert cut.details["repeat_cut"] == 1.0 and "audio_ctx_retry_s" not in cut.details
        assert cut.details["audio_ctx"] == 300
        assert cut.text == looped.text == meta["text"], (cut.text, looped.text)
        assert cut.details["tokens"] < looped.details["audio_ctx_retry_tokens"] / 2
        assert cut.words[-1].text.strip() == "conference."
        backend.options = replace(options, repeat_stop=True)  # the default: no cut
        assert not WhisperOptions().repeat_cut and WhisperOptions().repeat_stop
        stopped = backend.transcribe(piece, prompt=prompt)
        assert stopped.text == looped.text and stopped.details["audio_ctx"] == 500
        assert stopped.details["audio_ctx_retry_tokens"] < looped.details["audio_ctx_retry_tokens"]
        backend.options = replace(options, repeat_stop=True, repeat_cut=True)
        batched = transcribe_batch(backend, [piece, piece], [prompt, prompt], [None, None])
        assert [r.text for r in batched] == [cut.text] * 2
        assert all(r.details["repeat_cut"] == 1.0 for r in batched)
        assert not backend.stops_on_repeat(1500) and backend.stops_on_repeat(500)
        backend.retry_suspect = False  # a partial's result is not decoded again: no stop
        assert not backend.stops_on_repeat(300)
        backend.retry_suspect = True
        backend.early_final_request = False  # a final: its own (10 s) window, no cut there
        assert not backend.cuts_repeat(500, piece.size) and backend.cuts_repeat(300, piece.size)
    finally:
        backend.close()


DEMO_PROMPT = (
    "Hey guys Welcome to the new demo of my real time transcription library designed to showcase"
    " its lightning fast capabilities As you'll see speeches transcribed almost instantly into"
    " text which I think is a pretty cool achievement given the challenges of working with"
    " Whisper I've put a lot of effort into making this tool stable efficient and easy to use"
    " and I really hope"
)
DEMO_PREFIX = (
    "you find it valuable in your projects The library is completely open source and it would"
    " mean a lot to me if you could"
)


@pytest.mark.parametrize("engine", ["numpy", "mlx"])
def test_an_early_final_after_a_forced_prefix_that_says_it_all_again_is_cut(cache_dir, engine):  # noqa: F811
    """demo_pauses 21.3-29.0 s as the daemon's early final hears it after a pause (the previous
    final's last words forced as the prefix, the speech before them the prompt): on its 10 s
    window tiny.en says the sentences after the prefix's start twice, with no full stop for
    the sentence sign to see, and ends there. ``repeat_cut_after_prefix`` (the default) cuts
    the second copy at end-of-text, alone and batched; without it the full window decodes it
    again (1,500 more frames) to the same words."""
    from dataclasses import replace

    from pipeline.backends.whisper.batch_windows import transcribe_batch
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions

    audio = load_audio("demo_pauses_16k.wav")
    piece = audio[int(21.304 * 16_000) : int(28.976 * 16_000)]
    options = WhisperOptions(engine=engine, blas_threads=1, repeat_cut_after_prefix=False)
    backend = WhisperBackend(options=options)
    try:
        backend.early_final_request = True
        retried = backend.transcribe(piece, prompt=DEMO_PROMPT, prefix=DEMO_PREFIX)
        assert retried.details["audio_ctx"] == 1500, retried.details
        assert retried.details["audio_ctx_retry_frames"] >= 500
        backend.options = replace(options, repeat_cut_after_prefix=True)
        assert WhisperOptions().repeat_cut_after_prefix
        cut = backend.transcribe(piece, prompt=DEMO_PROMPT, prefix=DEMO_PREFIX)
        assert cut.details["repeat_cut"] == 1.0 and cut.details["audio_ctx"] == 500
        assert "audio_ctx_retry_frames" not in cut.details
        assert cut.text == retried.text and cut.text.endswith("giving a star on GitHub")
        assert cut.text.count("The library is completely") == 1
        batched = transcribe_batch(backend, [piece], [DEMO_PROMPT], [DEMO_PREFIX])
        assert batched[0].text == cut.text and batched[0].details["repeat_cut"] == 1.0
        alone = backend.transcribe(piece, prompt=DEMO_PROMPT)  # no prefix: no cut, no loop
        assert alone.details.get("repeat_cut", 0.0) == 0.0
    finally:
        backend.close()


def test_the_cost_model_charges_what_the_passes_before_a_retry_computed():
    from bench.commit_latency import AUDIO_CTX_SHORT_FRAMES, MAX_TOKENS_GUESS, modeled_cpu_s

    model = (0.001, 0.01)
    once = modeled_cpu_s(model, {"audio_ctx": 500.0, "tokens": 9.0})
    capped = {"audio_ctx": 500.0, "tokens": 9.0, "audio_ctx_retry_s": 0.3}
    guessed = once + 0.001 * AUDIO_CTX_SHORT_FRAMES + 0.01 * MAX_TOKENS_GUESS
    assert modeled_cpu_s(model, capped) == pytest.approx(guessed)  # older results: the guess
    measured = {**capped, "audio_ctx_retry_frames": 300.0, "audio_ctx_retry_tokens": 25.0}
    assert modeled_cpu_s(model, measured) == pytest.approx(once + 0.3 + 0.25)
