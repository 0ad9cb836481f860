"""When words of an open segment become final while speech goes on: pure rules, no state.

A partial hypothesis covers the segment's audio from a window start (at or before the last cut)
to the newest audio; local agreement (``pipeline.local_agreement``) makes a word stable once two
consecutive hypotheses agree on it. A stable word is committed (made final) once it also ends at
least ``margin_s`` before the newest audio its hypothesis heard: the last words of a hypothesis
are the ones a cut in mid-word or the next word still change.

A commit cuts the segment at a word boundary: midway between the last committed word and the
word after it, never past the audio heard minus the margin. The committed range becomes a final
of its own; the rest continues. Partial windows keep some committed audio before the cut as
context (the words in it are recognized as committed and skipped, see
``local_agreement.words_after``) and move up to ``lead_in_s`` before the cut after a complete
sentence, or when that context grows past ``max_context_s``; with ``partial_context_s`` they
hold that much committed speech instead, from a word boundary (``sliding_window_start``). A
window never holds more than one model window of audio. Pieces of one word are never cut apart
(``continues``).

A pause in speech after a complete sentence (final punctuation) ends the sentence at once;
``ends_sentence`` reads that from the text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.audio_format import samples_to_seconds, seconds_to_samples
from pipeline.local_agreement import find_repetition
from pipeline.text_metrics import normalize_word
from pipeline.words import Word

SENTENCE_END = (".", "?", "!")  # final punctuation: the sentence before it is complete
_CLOSERS = "\"')]}»”’"  # quotes and brackets that may follow the final punctuation
CLAUSE_END = (",", ";", ":", *SENTENCE_END)  # a commit may end after these mid-speech
NUMBER_WORDS = frozenset((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    "hundred", "thousand", "million", "billion",
))  # fmt: skip
_NUMBER_JOINERS = frozenset(("and", "point"))  # "a hundred and five", "three point five"


@dataclass(frozen=True, slots=True)
class CommitOptions:
    """How eagerly words are committed while speech goes on."""

    margin_s: float = 0.5  # a stable word is final once it ends this long before the newest audio
    max_context_s: float = 10.0  # committed audio kept at the head of partial windows, at most
    # Partial windows hear this much committed audio before the uncommitted rest, always:
    # after each commit while speech goes on, the window starts at the first committed word
    # that begins within ``partial_context_s`` before the cut (its words forced as the
    # decoder's prefix), instead of growing to ``max_context_s`` and starting again
    # ``lead_in_s`` before the cut after a sentence end. 0: that older rule. Why: tiny.en
    # recognizes a word better when its window holds the speech before it. The offline pass
    # of continuous.wav over windows of 10 / 15 / 20 / 30 s: WER 0.262 / 0.261 / 0.236 / 0.223,
    # and the streamed text (windows of 1-10 s of context) 0.258; three seconds of audio after
    # a word before committing it (``margin_s`` 3, no confident commits) gave 0.251, so it is
    # the audio before the words, not after, that they lack. The figures: README, "Streamed
    # WER", and docs/performance_log.md (2026-12-04, second stop).
    partial_context_s: float = 0.0
    cut_pad_s: float = 0.1  # cut this long after the last committed word when no next word is known
    lead_in_s: float = 1.0  # audio before a cut that later windows and finals still hear
    stall_after_s: float = 6.0  # uncommitted audio after which one hypothesis may commit ...
    stall_margin_s: float = 2.0  # ... the words it heard this long before its end
    repeat_limit: int = 3  # a run of this many repeats is a repetition loop, never committed
    prefix_committed: bool = True  # partials: committed words in the window forced as a prefix
    # The rest of a segment after commits is decoded from a word boundary up to this long
    # before the last cut, the committed words there forced as the decoder's prefix (instead
    # of ``lead_in_s`` of audio cut anywhere): tiny.en given only "for" as the prefix of
    # jfk.flac's "for you, ask what you can do for your country" decoded "for your country";
    # given "country can do for", all of it. 0: ``lead_in_s`` as before. Simulated
    # (bench/commit_latency.py --simulate --cost-model), dev-set synthetic dictation (1,589
    # words): WER 0.3486 either way, engine CPU 271.5 vs 273.2 s.
    context_lead_in_s: float = 2.0
    context_lead_max_gap_s: float = 1.5  # no lead-in when the last final word ended longer ago
    # The same lead-in also after a pause: the windows and early finals after a commit at a
    # pause, and a new segment of the stream (in the previous one's audio). Off: on the same
    # dictation it raised WER 0.3486 -> 0.3719 (2 s) and 0.3707 (1 s): short new speech after
    # a forced prefix is often ended at once or continued with made-up words, and words were
    # lost; decoding whole VAD segments offline the same lead-in had gained 0.3027 -> 0.2914.
    # The lead-in's words only as the prompt, not forced (dropped from the answer as committed
    # words, ``local_agreement.words_after``), was worse still: 0.3486 -> 0.3688 (simulated,
    # session 5; not kept).
    context_lead_after_pause: bool = False
    # After a pause, the partials' windows hear the lead-in too. The daemon (asr.
    # early_final_lead_in_s, 6 s, a 3 s gap) keeps it to the early final and the rest: the
    # partials' longer windows held the early finals back (decision -> final p95 59 -> 806 ms
    # on the synthetic dictation with them, 723 ms without, 96 ms once the repeat after the
    # prefix was cut instead of decoded on 30 s, ``WhisperOptions.repeat_cut_after_prefix``).
    # Simulated dev set (bench/commit_latency.py --simulate --cost-model, 7 files, 3,150
    # words), errors: off 800 (offline 737); partials and early final 30 fewer on the
    # synthetic dictation alone; early final only, with the cut and ``prompt_skip_spelled_
    # numbers`` 780 (synthetic dictation 511 -> 489, dictation_dev 12 -> 9, continuous.wav 252
    # -> 258, the rest the same), engine CPU 0.271 -> 0.273, dictation last word -> final
    # p50 451 -> 469 ms. docs/performance_log.md (2026-12-05, second stop).
    context_lead_partials: bool = True
    # A word may be committed from the newest hypothesis alone, without waiting for the next
    # to agree (``confident_count``): when it and every uncommitted word before it are stable
    # or have a probability of at least ``confident_probability``, a word follows it, it ends
    # ``confident_margin_s`` before the newest audio that hypothesis heard, and the previous
    # hypothesis heard no other words there. Off here (the plain rule for direct callers);
    # the daemon turns it on (``asr.confident_commit``, ``SchedulerOptions.from_config``).
    # Simulated side by side (bench/commit_latency.py --simulate --cost-model), balanced, off
    # -> on (0.6, 0.2 s), last word -> committed p50 / p95, WER: continuous.wav (1,096 words)
    # 2.05 / 3.91 s, 0.2710 -> 1.73 / 4.07 s, 0.2682; monologue_dev 1.70 / 1.86 s, 0.182 ->
    # 1.60 / 1.79 s, 0.202 (2 words of 99); dictation.wav (1,589 words) WER 0.3486 -> 0.3392,
    # dictation_dev 0.088 -> 0.078, their latency unchanged; engine CPU unchanged. Other
    # settings on continuous.wav (p50 / p95 / WER): 0.8, 0.2 s: 1.76 / 4.20 s / 0.2774; 0.7:
    # 1.84 / 5.09 s / 0.2591; 0.4: 1.82 / 4.41 s / 0.2783; 0.6, 0.1 s: 1.76 / 3.96 s / 0.2619
    # (the WER spread between settings, about +-0.01, is the schedule's noise). low-latency,
    # continuous.wav: 1.82 / 3.75 s, 0.2801 -> 1.68 / 4.44 s, 0.2929; monologue_dev p50 1.88
    # -> 1.32 s, same WER; dictation_dev 0.0686 -> 0.0784 (1 word).
    confident_commit: bool = False
    confident_probability: float = 0.6
    confident_margin_s: float = 0.2
    confident_next_probability: float = 0.0  # the word after the last one committed
    # A word is over once the next has begun (``commit_policy.followed``): a stable or
    # confident word that ends within ``confident_margin_s`` of the newest audio is committed
    # all the same when the word after it started this long before the newest audio and is
    # stable or has ``confident_next_start_probability``. 0: off. Why: without punctuation
    # tiny.en ends a word where the next starts ("rain" 6.14-6.30, "and" from 6.30 s; "rain,"
    # ended 6.22 s), just over the margin. But its word times are contiguous: in the 36
    # hypotheses of monologue_dev (fresh_audio_s 0.05) 687 of 690 words start where the one
    # before ends (the 3 gaps follow punctuation), so judged by the next word's start alone
    # (probability 0) the rule is ``confident_margin_s`` of that value: 0.1 s gave the same
    # finals as ``confident_margin_s`` 0.1 on monologue_dev and dictation_dev. Only the next
    # word's probability adds to the margin. Simulated side by side (bench/commit_latency.py
    # --simulate --cost-model --why 3 [--commit fresh_audio_s=0.05] --commit
    # confident_next_start_s=0.1 [--commit confident_next_start_probability=P]), off -> 0.1 s
    # at P 0 / 0.6 / 1, last word -> committed p50 / p95, WER (offline's):
    # monologue_dev (99 words, 0.1717): 1.13 / 1.53 s, 0.1919 unchanged at P 0 and 0.6; fresh
    # 2.18 / 2.96 s, 0.2222 -> P 0: 1.85 / 2.96 s, same words; P 0.6, 1: unchanged (the
    # word after "rain" was "and" at 0.29).
    # dictation_dev (102 words, 0.1176): p95 0.52 s, 0.0882 -> P 0: 2.76 s, 0.1176 (3 words:
    # "app really slipped," committed before "by one" was heard, then "I won't weak."); P
    # 0.6: 0.51 s, 0.0980 ("walk in the rooms": the "in" was committed); P 1: unchanged.
    # continuous.wav (1,096 words, 0.2546; --no-offline with the rule), sentences over 3 s of
    # 57: 1.77 / 3.52 s, 0.2473, 9 -> P 0: 1.80 / 3.24 s, 0.2491, 6; P 0.6: 1.80 / 3.28 s,
    # 0.2436, 5; fresh 1.80 / 4.69 s, 0.2710, 9 -> P 0: 1.75 / 4.30 s, 0.2792, 7; P 0.6: 1.60 /
    # 3.88 s, 0.2673, 6. What the tail waited for (--why 3), off -> P 0.6: probability 4,
    # disagreed 2, other 3 -> probability 3, disagreed 1, other 1; fresh: probability 3,
    # empty 2, margin 1, piece 1, disagreed 1, stall 1 -> disagreed 4, empty 1, stall 1.
    # Engine CPU per audio s 0.334 -> 0.332, fresh 0.338 -> 0.343. One schedule each.
    # dictation.wav (1,589 words, --no-offline): 0.51 / 5.12 s both, 0.3153 -> P 0.6 0.3184
    # (+5 words, noise-level). Realtime it lost: bench/daemon_e2e.py --files
    # monologue_dev.wav,continuous.wav --excerpt-s 150 --profiles balanced --no-fault [--set
    # asr.confident_next_start_s=0.1], 28 sentences, two runs each on 2026-12-02 (a slow day),
    # off 2.33 / 4.60 s and 2.21 / 4.01 s (WER +0.008, +0.002 over offline), on 2.15 / 6.12 s
    # and 2.06 / 8.24 s (+0.011, +0.002), CPU ratio 4.3 -> 4.6-4.8. Off in the daemon
    # (``asr.confident_next_start_s`` 0); the key turns it on.
    confident_next_start_s: float = 0.0
    confident_next_start_probability: float = 0.6
    # After a hypothesis that left words one agreement short (uncommitted, yet ending
    # ``margin_s`` before its audio), the next partial may go this long after the last one
    # instead of the profile's interval, so they are agreed on sooner. 0: off. Simulated on
    # continuous.wav, 0.5 s: p50 2.05 -> 1.93 s, p95 3.91 -> 4.42 s, WER 0.2710 -> 0.2838,
    # engine CPU +18 %.
    agreement_interval_s: float = 0.0
    # Age-aware confident commit: a word the newest hypothesis heard at least ``settled_s``
    # before the end of its audio (so with that much right context) needs only
    # ``settled_probability``, and is committed even when the hypothesis before said other
    # words there (the newest, having heard more, is taken over the older one). 0: off.
    settled_s: float = 0.0
    settled_probability: float = 0.6
    # Local agreement looks this many hypotheses back: 2 makes a word stable when the newest
    # hypothesis agrees with either of the two before it ("A, B, A": A), where 1 (LocalAgreement-
    # 2 as published) needs two consecutive ones to agree. Off here; the daemon takes
    # ``asr.agreement_lookback`` (2). Why (bench/commit_latency.py --simulate --cost-model --why
    # 3, continuous.wav): of the 10 of 57 sentences whose last word waited over 3 s, 6 waited
    # because the hypothesis before said other words there (flip-flops such as "-set", "-sna",
    # "-set"), 1 a word under the confident probability, 3 other causes. Simulated side by
    # side, 1 -> 2 (-> 3), last word -> committed p50 / p95, WER: continuous.wav (1,096 words)
    # 1.75 / 5.91 s, 0.2546 -> 1.80 / 3.49 s, 0.2600 (-> 1.70 / 3.86 s, 0.2454); sentences over
    # 3 s 10 -> 7 (-> 6); monologue_dev (99 words) 3.14 / 4.67 s -> 2.95 / 4.15 s, 0.1717 both;
    # dictation.wav (1,589 words) WER 0.3486 -> 0.3424, latency unchanged (p50 0.59 s); engine
    # CPU per audio s 0.337 -> 0.331; dictation_dev identical (0.56 / 0.64 s, 0.0784). Again
    # on another schedule (cost model 0.0005 s/frame, 0.010 s/token, after sampling became
    # repeatable, 3281f49): continuous.wav 1.86 / 5.32 s, 0.2564 -> 1.70 / 3.49 s, 0.2473,
    # sentences over 3 s 10 -> 7. 3 was no better (dictation.wav 0.3480). low-latency,
    # continuous.wav: 1.72 / 3.70 s, 0.2993 -> 1.79 / 3.89 s, 0.2883 (over 3 s 9 -> 11: its
    # p95 did not gain). Not kept: the age-aware ``settled_s`` (1.5 s, 0.3:
    # continuous.wav 1.76 / 3.46 s, WER 0.2710; with lookback 2, 2.0 s, 0.4: 1.83 / 3.78 s,
    # 0.2600), and the stall rule sooner (``stall_after_s`` 3, ``stall_margin_s`` 1.5: 1.95 /
    # 4.07 s, 0.2701).
    agreement_lookback: int = 1
    # Local agreement compares the newest hypothesis only with those of the lookback that heard
    # at least this much less audio (``LocalAgreement.min_gap_s``); 0: any. For partials sent
    # more often than agreement should be judged. Off: partials every 0.5 s cost +70 % engine
    # CPU and the gap gave back most of their latency. Simulated, continuous.wav (cost model,
    # 2026-12-03 on an Intel Xeon; p50 / p95, WER, engine CPU s per audio s): balanced 1.89 /
    # 3.25 s, 0.2600, 0.321; partials every 0.5 s (``vad.partial_interval_s``) 1.50 / 3.00 s,
    # 0.3020, 0.545; with the gap 0.9 s and lookback 2: 1.69 / 4.51 s, 0.2646, 0.552;
    # lookback 3: 1.78 / 2.96 s, 0.2655, 0.549.
    agreement_min_gap_s: float = 0.0
    # Local agreement bridges one word the hypotheses say differently when this many words
    # after it agree (``LocalAgreement.bridge_words``); 0: off. The daemon takes
    # ``asr.agreement_bridge_words`` (0: off) with ``agreement_bridge_similar`` (words alike
    # only: the same first three letters, or one the other's start). Why: ``--why 3`` on
    # continuous.wav, "disagreed" (flip-flops such as "seem" / "seems") held 3 of 8 sentences
    # over 3 s, 5 of 9 on another schedule. Simulated, base -> bridge of 3 (any word):
    # continuous.wav (1,096 words), three cost models (default; 0.0005,0.010; 0.0004,0.008): p50 / p95
    # 1.79 / 3.88 -> 1.71 / 3.38 s, 1.71 / 3.87 -> 1.71 / 3.48 s, 1.61 / 3.70 -> 1.54 / 3.21
    # s; WER -10, 0, -8 words; sentences over 3 s 8 -> 6, 9 -> 6; engine CPU -3 % / +2 %;
    # synthetic dictation -1 word of 1,589 (latency same); dictation_dev, harvard,
    # demo_pauses, jfk unchanged; but monologue_dev (99 words) 2.95 / 4.15 -> 1.20 / 1.65 s
    # with +2 words, and 2.99 / 4.19 -> 1.47 / 2.66 s with +7 words (0.1717 -> 0.2424): the
    # newest hypothesis' word is not always the better one. Words alike only: continuous.wav
    # 1.79 / 3.88 -> 1.77 / 3.70 s, WER -4 words; monologue_dev 2.95 / 4.15 -> 2.61 / 4.05 s
    # and 2.99 / 4.19 -> 2.66 / 4.09 s, WER unchanged on both. Not the default: realtime
    # (bench/daemon_e2e.py --files monologue_dev.wav,continuous.wav --excerpt-s 150, 28
    # sentences, 526 words, load 0.3-1.1), words-alike bridge on / off: p50 / p95 1.92 / 4.77
    # vs 1.87 / 3.79 s, WER over offline +0.015 vs +0.004; one pair, and such runs move more
    # than this, but nothing in them confirms the simulated gain.
    agreement_bridge_words: int = 0
    agreement_bridge_similar: bool = False  # only words alike ("seem" / "seems")
    # Commits that respect language (``language_boundary``): a commit while speech goes on
    # never ends inside a number ("twenty | three", "1, | 000", "three point | five"), and with
    # ``clause_reach_words`` > 0 it ends at a sentence end or clause punctuation within that
    # many words of the boundary the timing rules chose (before it: fewer words now; after it:
    # the words wait for a later commit, unless ``clause_wait`` is off) rather than mid-clause.
    # Off: measured, it does not pay. Simulated side by side (bench/commit_latency.py
    # --simulate --cost-model), base -> numbers and a reach of 3 words (waiting): synthetic
    # dictation (1,589 words) WER 0.3323 -> 0.3329 (mid-clause cuts 200 -> 93 of 277 -> 176,
    # cuts inside a number such as "7 | hundred and 8", "3,100 | and 92" gone), continuous.wav (1,096) 0.2637 -> 0.2573 but p50 /
    # p95 1.79 / 3.88 -> 1.76 / 4.44 s (sentences over 3 s 8 -> 10: they waited on a clause
    # end ahead), dictation_dev +1 word of 102 (p50 561 -> 630 ms), monologue_dev +1 of 99,
    # harvard, demo_pauses, jfk unchanged: pooled 3,150 words -4. Numbers alone: dictation
    # +2 words. Numbers and a reach of 3 without waiting: continuous.wav 1.74 / 3.67 s, -1
    # word. Where the dictation loses is not the cut's place: its sentences with a commit
    # inside read +0.048 over offline (+56 words of 1,158), those without -0.037 (-16 of
    # 431); with the rule fewer are cut (130 -> 86) and those read +0.060 (+48 of 801).
    number_boundary: bool = False
    clause_reach_words: int = 0
    clause_wait: bool = True  # a clause end ahead within reach is waited for (False: only back)
    # An early final still unsent when speech resumes (no worker was free during the pause) is
    # sent anyway while another stream is in speech too, and read as one in flight is
    # (committed if its text ends a sentence, or at its cut: early_finals.COMMIT_RESUMED_EARLY);
    # off, or with one stream in speech: dropped. bench/stream_replay.py, with the round-robin
    # fix (f1cea8d) and the resumed commit, dictation p95 / over 1.5 s N = 6 3.22 / 2 -> 0.76 /
    # 1, N = 4 2.80 / 2 -> 2.86 / 1 (its module doc's table); N = 1 and 2 unchanged. Kept alone
    # too (before s8): synthetic dictation WER 0.3335 -> 0.3398 (+10 words of 1,589), so one
    # stream alone never keeps it.
    keep_unsent_early: bool = True
    # Clause gaps: a confirmed pause of a segment that speech came back after within
    # ``clause_gap_s`` of silence (a pause shorter than this, not a sentence end a speaker
    # stops at). Once a segment has had ``hold_after_clause_gaps`` of them, an early final
    # whose text ends a sentence is no longer committed at its pause: it is held as one ending
    # mid-sentence is (the segment's final if speech does not resume), since tiny.en ends the
    # audio it is given with a full stop wherever that audio stops; a stable sentence end of
    # the partials still commits at the pause. 0: off. Simulated side by side
    # (bench/commit_latency.py --simulate --cost-model --set profile=P --commit
    # hold_after_clause_gaps=N [--commit clause_gap_s=G]), last word -> final p50 / p95, WER,
    # engine CPU s per audio s, off -> on. low-latency (150 ms pause), N = 1: continuous.wav
    # (1,096 words) 1.65 / 3.61 s, 0.2892, 0.352 -> 1.84 / 4.05 s, 0.2536, 0.358 (early finals
    # wasted 39 -> 63); monologue_dev 1.47 / 1.83 s, 0.2424 -> 1.79 / 3.56 s, 0.2020;
    # dictation_dev 0.423 / 0.709 s, 0.098 -> 0.431 / 0.623 s, 0.069; synthetic dictation.wav
    # (1,589 words) 0.405 / 5.23 s, 0.3499, 0.369 -> 0.590 / 5.22 s, 0.3247, 0.348 (its short
    # pauses between sentences count as gaps: its sentence ends then wait). N = 1 with G 0.22:
    # dictation.wav 0.419 s, 0.3512; continuous.wav 1.81 / 4.05 s, 0.2536. N = 2: dictation.wav
    # 0.407 / 4.56 s, 0.3461, 0.351; continuous.wav 1.81 / 4.05 s, 0.2536, 0.357; monologue_dev
    # and dictation_dev unchanged (2 gaps come after the short file's false cuts). balanced (200 ms pause), N = 1: continuous.wav 1.76 / 3.48 s,
    # 0.2409 -> 1.95 / 3.26 s, 0.2518: its pauses are sentence ends; off there. Realtime, one
    # pair (bench/daemon_e2e.py --files monologue_dev.wav,continuous.wav --excerpt-s 150
    # --profiles low-latency --no-fault [--set asr.hold_after_clause_gaps=0], 2026-12-02 18:34
    # and 18:37), N = 2 against off: 28 sentences 1.71 / 2.84 s against 1.63 / 2.66 s, the
    # excerpt's WER +0.047 against +0.012 over offline (427 words; monologue +0.091 both): the
    # opposite of the simulation. The whole of continuous.wav (bench/daemon_e2e.py --files
    # continuous.wav --profiles low-latency --no-fault [--set asr.hold_after_clause_gaps=2],
    # 18:51 and 18:58): N = 2 1.70 / 15.96 s, +0.040 over offline, against off 1.74 / 3.71 s,
    # +0.051 (1,096 words): a point of WER for a sentence held 16 s. Off in every profile; the
    # key (``asr.hold_after_clause_gaps``) turns it on.
    hold_after_clause_gaps: int = 0
    clause_gap_s: float = 0.3
    # Fewer mid-speech commits of short pieces: no commit while speech goes on until the
    # newest hypothesis heard ``first_commit_min_s`` of a piece (the speech since the
    # segment's start or its last commit at a pause) with nothing cut from it yet, so a short
    # utterance is decoded whole; ``commit_min_s``: the same for every commit (the uncommitted
    # audio since the last cut); ``first_commit_margin_s``: the first commit of a piece needs
    # its words to end this long before the newest audio (instead of ``margin_s`` /
    # ``confident_margin_s``). 0: off. Off: measured, it does not pay. Simulated side by side
    # (bench/commit_latency.py --simulate --cost-model), first_commit_min_s 0 -> 3 s, errors
    # (offline's), last word -> committed p50 / p95: synthetic dictation 530 -> 529 of 1,589
    # words (484), commits 373 -> 215, 585 / 5,326 -> 598 / 5,729 ms; continuous.wav 293 ->
    # 300 of 1,096 (284), 1.78 / 3.76 -> 1.82 / 3.86 s; dictation_dev 8 -> 9 of 102;
    # monologue_dev 17 both. The dictation's loss is not its short committed pieces: the
    # sentences it loses most read the same decoded whole, and follow a misheard one-word
    # final given as their whole prompt (``prompt_recent_chars`` below).
    first_commit_min_s: float = 0.0
    commit_min_s: float = 0.0
    first_commit_margin_s: float = 0.0
    # A long uncommitted stretch (``--why`` on continuous.wav: its sentences over 3 s waited on
    # hypotheses a partial interval apart, the worker mostly idle): once the newest hypothesis
    # heard at least ``long_uncommitted_s`` of uncommitted audio, the next partial may go
    # ``long_interval_s`` after the last one instead of the profile's interval. 0: off.
    # Off: it gains latency but costs the monologue words. Simulated side by side
    # (bench/commit_latency.py --simulate --cost-model), 0 -> 2.5 s, errors (offline's),
    # last word -> committed p50 / p95: continuous.wav (1,096 words, offline 284) 293 -> 267,
    # 1.78 / 3.76 -> 1.66 / 3.51 s (last final as prompt); with prompt_recent_chars 400, 272
    # -> 269, 1.83 / 3.87 -> 1.64 / 3.51 s, and on cost model 0.0005,0.010 306 -> 286, 1.86 /
    # 4.20 -> 1.78 / 3.61 s; monologue_dev (99 words) 17 -> 20 on all three, p95 4.15 -> 3.27
    # s; synthetic dictation 505 -> 508 (530 -> 541 with the last final as prompt), p50 573
    # ms both; engine CPU +1-2 %; pooled 3,152 words 6 -> 10 over offline. 3.5 s:
    # continuous.wav 303, 1.83 / 4.24 s; monologue_dev 24. Realtime pair (bench/daemon_e2e.py
    # --files monologue_dev.wav,continuous.wav --excerpt-s 150 --profiles balanced --no-fault,
    # 28 sentences, 526 words, load 1.5-1.8), 2.5 s / off: p50 / p95 1.67 / 3.70 vs 1.78 /
    # 4.02 s, WER over offline +0.032 vs +0.013 (monologue_dev +0.071 vs 0.000).
    long_uncommitted_s: float = 0.0
    long_interval_s: float = 0.5
    # Requests carry the words the newest hypothesis said after the committed ones
    # (``TranscribeRequest.draft``; greedy decoding checks them several tokens per decoder pass,
    # ``whisper/drafted_greedy.py``). Off here; the daemon turns it on (``asr.draft_decoding``).
    drafts: bool = False
    # What a segment is prompted with. The core's prompt is the stream's last final alone: a
    # one-word answer tiny.en misheard ("Never." decoded "Neemah.") is then the whole prompt,
    # and the next sentences follow it ("The Neemah one saw eye not the pack..."; decoded
    # offline: "The room was so high that the pack..."). With ``prompt_recent_chars`` > 0 the
    # prompt is instead the tail, at most that long, of the stream's recent finals, as the
    # offline pass is prompted with its previous window's text; ``prompt_min_probability`` > 0
    # leaves out of the prompt each final whose words' mean probability is under it. 0: off
    # (the core's prompt); the daemon takes ``asr.prompt_recent_chars`` (400). Simulated side
    # by side (bench/commit_latency.py --simulate --cost-model), off -> 400 chars, errors
    # (offline's): synthetic dictation 530 -> 505 of 1,589 words (484), continuous.wav 293 ->
    # 272 of 1,096 (284), demo_pauses 9 -> 2 of 171 (6), dictation_dev 8 -> 10 of 102 (12),
    # jfk 5 -> 4 of 22 (0), monologue_dev 17, harvard 0 both: pooled over offline +0.0184 ->
    # +0.0019 (58 -> 6 words of 3,152); dictation p50 / p95 585 / 5,326 -> 573 / 5,236 ms,
    # engine CPU per audio s 0.325 -> 0.290; continuous.wav 1.78 / 3.76 -> 1.83 / 3.87 s,
    # 0.331 -> 0.340. Again at de50b46: dictation 530 -> 504 (200 chars: 525). Realtime
    # (bench/daemon_e2e.py --files monologue_dev.wav,continuous.wav
    # --excerpt-s 150 --profiles balanced --no-fault, 28 sentences, 526 words, load 1.6):
    # p50 / p95 1.78 / 4.02 s, WER over offline +0.013 (continuous +0.016, monologue 0.000),
    # against 1.96 / 4.38 s and +0.046 before (one run each; that figure moved between +0.004
    # and +0.046 on the same code). ``prompt_min_probability`` (off: it does not pay) 0.5
    # alone (the last sure final): dictation 530 -> 518, p50 642 ms, CPU 0.357; with 400
    # chars: 505 -> 519, dictation_dev 10 both.
    prompt_recent_chars: int = 0
    prompt_min_probability: float = 0.0
    # A final that spells a large number out ("forty one thousand dollars") is left out of the
    # prompt: tiny.en follows the prompt's number style, so one such final (often a sampled
    # retry) turned the next minute's numbers into words.
    prompt_skip_spelled_numbers: bool = False
    # A short pause (silence shorter than the VAD's pause: between sentences of continuous
    # speech) moves the segment's next partial to it (``commits.short_pause``): it covers the
    # audio up to the pause and goes ``short_pause_delay_s`` later, in place of the cadence's
    # next one; nothing is cut there (``vad.pause_ms`` 150 cut a piece at each such pause and
    # cost the monologue 7 words). Off: no VAD event calls it yet (the simulation's hint,
    # ``bench/commit_latency.py --simulate --pause-hint-ms``, reads the VAD's silence). Why:
    # ``--why 3`` on continuous.wav at 9bfe4e0, 9 of 57 sentences waited over 3 s, 5 on
    # hypotheses that disagreed at their end; the silence after a sentence is 0.03-0.15 s
    # there (reference gaps), so only 3 of those 9 have 0.12 s of it. Simulated side by side
    # (--cost-model), off -> on (hint 80 ms, 0.3 s), last word -> committed p50 / p95, errors
    # (offline's): continuous.wav (1,096 words, offline 284) 1.76 / 4.07 -> 1.76 / 3.65 s,
    # 283 -> 292 (81 partials moved); on cost model 0.0005,0.010 1.86 / 3.87 -> 1.78 / 3.60 s, 289 -> 285
    # (sentences over 3 s 9 -> 7); monologue_dev (99) 2.95 / 4.15 -> 1.69 / 3.02 s, 17 -> 18;
    # dictation_dev and jfk unchanged; synthetic dictation (1,589, offline 484) 501 -> 506,
    # p50 / p95 571 / 5,226 -> 569 / 5,271 ms; engine CPU 0.338 -> 0.328 (no partial added):
    # pooled over offline +0.0035 -> about +0.008 (demo_pauses and harvard not rerun). 0.5 s:
    # continuous.wav 1.95 / 3.69 s, 269 errors; monologue_dev 1.56 / 1.94 s, 21. Not
    # kept as built first: one more partial at the pause (hint 120 ms), its hypothesis one
    # more for agreement: monologue_dev 1.44 / 1.72 s but 17 -> 25 errors (pieces cut at its
    # commas: "of the land | landflavs", "far looked the farms"), continuous.wav with its
    # words by the pause needing no margin 2.04 / 3.78 s, 299 errors, CPU +9 % (72 more
    # partials in 362 s); read alone, committed only when it ends a sentence by the pause
    # and is confident: 2 of 72 did, 1.79 / 3.99 s, 297 errors.
    short_pause_partial: bool = False
    short_pause_delay_s: float = 0.3
    # A sentence's last words in continuous speech. ``--why`` on continuous.wav: the 9 of 57
    # sentences over 3 s waited on words tiny.en said differently in consecutive hypotheses at
    # probabilities of 0.1-0.5 ("the mortgage which is off." / "the morning is witching off."
    # for "the body switches off.", "time zones" / "time loans"; read with
    # ``bench/commit_latency.py --hypotheses``). Two rules, off here; the daemon turns the first
    # on (``SchedulerOptions.from_config``), the second stays off:
    # - A partial timed by a sentence end (``commits._hurry_sentence_end``): after a hypothesis
    #   whose uncommitted words hold a sentence end (a word ending in ``.``, ``?`` or ``!``,
    #   not its last word: Whisper ends nearly every window with a full stop), the segment's
    #   next partial goes once the newest audio is ``sentence_end_delay_s`` past that word (at
    #   once when it already is: the hypothesis heard it and left it uncommitted, and the next
    #   one breaks the tie) instead of a partial interval after the last one; at most
    #   ``sentence_end_tries`` such partials per sentence end. 0: off.
    # - Agreement on where a sentence ends rather than on its words
    #   (``sentence_boundary_count``): when the newest hypothesis and the one before both end
    #   a sentence (a word after it in both) within ``boundary_tolerance_s`` of each other,
    #   the newest one's words up to its sentence end (at most ``boundary_max_words`` of them
    #   unagreed) are committed, whatever the two said before it, once it ends
    #   ``confident_margin_s`` before the newest audio. 0: off.
    # Simulated side by side on three schedules (bench/commit_latency.py --simulate
    # --cost-model [MODEL] --file continuous.wav [--commit sentence_end_delay_s=0.5]
    # [--commit boundary_tolerance_s=0.3]), continuous.wav (1,096 words, offline 284 errors),
    # last word -> committed p50 / p95, errors, sentences over 3 s of 57, mean; off -> timed
    # partial (0.5 s) -> both (0.3 s):
    # default cost model: 1.86 / 3.78 s, 288, 9, 2.08 s -> 1.88 / 3.69 s, 269, 10, 2.06 s ->
    #   1.76 / 3.49 s, 274, 8, 1.97 s;
    # 0.0005,0.010: 1.79 / 3.94 s, 267, 11, 2.04 s -> 1.79 / 3.76 s, 277, 7, 1.97 s -> 1.75 /
    #   3.76 s, 277, 6, 1.93 s;
    # 0.0004,0.008: 1.89 / 3.70 s, 264, 8, 2.02 s -> 1.83 / 3.60 s, 273, 6, 1.96 s -> 1.72 /
    #   3.88 s, 280, 5, 1.96 s.
    # The timed partial: p95 -0.09 to -0.18 s on all three, errors 819 -> 819 summed (each schedule
    # moves +-10-20 words by itself), engine CPU per audio s +0.002 to +0.006: on in the daemon;
    # synthetic dictation (1,589 words, offline 484) 507 / 5,123 -> 511 / 5,123 ms, 501 errors both,
    # CPU 0.295 -> 0.296. Both: p50 -0.04 to -0.17 s, but errors 819 -> 831 summed and p95 +0.18 s
    # on one schedule: the sentence-end agreement stays off. Both on, default cost model, the other
    # dev files: synthetic dictation (1,589 words, offline 484) 507 / 5,123 -> 509 / 5,096 ms, 501
    # -> 502 errors, CPU 0.295 -> 0.296; monologue_dev, dictation_dev, jfk, demo_pauses, harvard:
    # the same finals (monologue_dev's 6 sentences never trigger them). The sentence-end agreement
    # alone (default cost model): 1.88 / 3.78 s, 276 errors, 9 over 3 s. The timed partial counting
    # a hypothesis' last word as a sentence end: monologue_dev 1.13 / 1.53 -> 1.54 / 1.85 s, CPU
    # 0.338 -> 0.428 (a partial after nearly every one). Measured and not kept (monologue_dev,
    # default cost model, 19 errors, offline 17): partials 0.5 s apart (``long_uncommitted_s`` 0.01)
    # 25 errors, CPU 0.338 -> 0.586; with agreement only between hypotheses that heard at least 0.8
    # s apart (so that two hypotheses of nearly the same audio do not agree on one guess) 26,
    # lookback 3 27; with ``confident_margin_s`` 0.5 25, without confident commits 22: faster
    # partials lose words whatever agrees them. And a tentative pause's early final that ends a
    # sentence committed at its cut when speech resumes, for a stream alone too
    # (``sentence_ends.SHORT_PAUSE_SENTENCES`` does it while sharing): monologue_dev 1.13 / 1.53 ->
    # 1.68 / 2.30 s, 19 -> 25 errors (a commit at a pause restarts the windows).
    sentence_end_delay_s: float = 0.0
    sentence_end_tries: int = 1
    # A due partial waits for fresh audio (``partial_cadence.PartialCadence.due``): while the
    # newest audio the scheduler knows reached it longer than this ago, at most 0.3 s. 0: off.
    # Why it exists: the realtime / simulation gap on monologue_dev (realtime p50 / p95 1.6-1.9 /
    # 2.2-4.1 s against the simulation's 1.13 / 1.53 s) is the partials' phase against the VAD's
    # 0.25 s SpeechOngoing reports, not engine time or dispatch. Traced (scheduler and worker
    # hooks, 4 realtime runs): partials went on time (1.00-1.02 s apart, IPC 0-4 ms each way),
    # engine wall 1.08-1.28x the cost model (replies 0.05-0.1 s later). But the simulation
    # dispatches in the 20 ms tick just before each report, so its partials hear 0.24 s stale
    # audio; realtime lands either side. Where the 4th partial heard to 3.42 s instead of 3.17
    # s it agreed "water high in the mountains" (no comma) with the 6th, the unpunctuated
    # forced prefix kept every later hypothesis unpunctuated, word ends moved to the next
    # word's start ("rain" 6.30 s, "rain," 6.22 s: over the confident margin of a partial that
    # heard 6.43 s) and no sentence end was seen: 3 of 4 realtime runs, p50 / p95 1.61 / 2.25,
    # 1.83 / 3.74, 1.58 / 2.18 s; the 4th heard 3.17 s, kept the punctuation, 1.07 / 1.77 s.
    # fresh_audio_s 0.05 puts the simulation in that regime: monologue_dev 1.13 / 1.53 -> 2.18
    # / 2.96 s with realtime's texts ("cities far looked", "reour so that"); continuous.wav
    # 1.88 / 3.69 s, WER 0.2454 -> 1.80 / 4.69 s, 0.2710. Off: it does not pay.
    fresh_audio_s: float = 0.0
    # A mid-speech commit stops before the first word the newest hypothesis gives a probability
    # under ``unsure_hold_probability`` (agreed or not), while that word ends within
    # ``unsure_hold_s`` of the newest audio (0: however old), so that a pause's early final
    # decodes it again. Why: dictation_dev's "the phone loses its" was committed as "uses" (two
    # partials agreed at 0.60 and 0.54) where the offline pass read "loses". 0: off. Simulated
    # (bench/commit_latency.py --simulate --cost-model --no-offline --commit
    # unsure_hold_probability=P --commit unsure_hold_s=S), errors on dictation_dev (102 words) /
    # monologue_dev (99) / continuous.wav (1,096) / the synthetic dictation (1,589), continuous
    # p50 / p95: off 12 / 18 / 259 / 511, 1.85 / 3.40 s; P 0.6 unlimited 10 / 18 / 246 / 505,
    # 3.29 / 6.35 s (monologue p50 1.50 -> 3.77 s); 0.4 unlimited 10 / 18 / 256 / 509, 3.15 /
    # 5.85 s; 0.6, 1 s 10 / 18 / 259 / 514, 1.85 / 3.48 s; 0.6, 1.5 s 10 / 18 / 256 / 502, 2.00
    # / 3.72 s; 0.6, 2 s 10 / 19 / 257 / 502, 2.19 / 3.98 s; 0.4, 2 s 10 / 18 / 249 / 514, 2.07
    # / 3.73 s. A stable word is never revised by later partials, so holding it only helps where
    # a pause follows soon; in continuous speech it only waits. Of the four files' 2,886 words,
    # 800 errors off; the holds of 1.5-2 s saved 9-14 for 0.15-0.35 s more on the continuous
    # p50 (already over its target), the unlimited 0.6 saved 21 for 1.4 s: off.
    unsure_hold_probability: float = 0.0
    unsure_hold_s: float = 0.0
    boundary_tolerance_s: float = 0.0
    boundary_max_words: int = 4  # at most this many of those words unagreed

    def __post_init__(self) -> None:
        for name in (
            "margin_s",
            "max_context_s",
            "cut_pad_s",
            "lead_in_s",
            "stall_after_s",
            "stall_margin_s",
            "context_lead_in_s",
            "context_lead_max_gap_s",
            "confident_margin_s",
            "agreement_interval_s",
            "settled_s",
            "first_commit_min_s",
            "commit_min_s",
            "first_commit_margin_s",
            "long_uncommitted_s",
            "long_interval_s",
            "short_pause_delay_s",
            "sentence_end_delay_s",
            "boundary_tolerance_s",
            "fresh_audio_s",
            "confident_next_start_s",
            "clause_gap_s",
            "hold_after_clause_gaps",
            "prompt_recent_chars",
            "agreement_min_gap_s",
            "agreement_bridge_words",
            "clause_reach_words",
            "sentence_end_tries",
            "unsure_hold_s",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        for name in (
            "confident_probability",
            "confident_next_probability",
            "confident_next_start_probability",
            "settled_probability",
            "prompt_min_probability",
            "unsure_hold_probability",
        ):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.agreement_lookback < 1:
            raise ValueError(
                f"agreement_lookback must be at least 1, got {self.agreement_lookback}"
            )
        if self.repeat_limit < 2:
            raise ValueError(f"repeat_limit must be at least 2, got {self.repeat_limit}")


def committable(
    stable: Sequence[Word], committed_count: int, heard_end_s: float, margin_s: float
) -> int:
    """How many leading words of ``stable`` are final now (never fewer than ``committed_count``).

    ``stable``: the segment's stable words in order (absolute times); ``heard_end_s``: the end of
    the audio the newest hypothesis heard. Words are committed in order, so the count stops at
    the first word that ends within ``margin_s`` of the newest audio.
    """
    count = committed_count
    limit_s = heard_end_s - margin_s
    while count < len(stable) and stable[count].end_s <= limit_s:
        count += 1
    while count > committed_count and count < len(stable) and continues(stable[count]):
        count -= 1  # never cut a word from the piece that continues it ("re" | "-hour")
    return count


def confident_count(
    rest: Sequence[Word],
    agreed: int,
    heard_end_s: float,
    previous: Sequence[Word] | None,
    previous_heard_end_s: float | None,
    probability: float,
    margin_s: float,
    next_probability: float = 0.0,
    settled_s: float = 0.0,
    settled_probability: float = 0.0,
    next_start_s: float = 0.0,
    next_start_probability: float = 0.0,
) -> int:
    """How many leading words of ``rest`` one hypothesis may commit on its own confidence.

    ``rest``: the newest hypothesis' uncommitted words in order (absolute times), the first
    ``agreed`` of them stable (two hypotheses agreed on them); ``heard_end_s``: the end of the
    audio it heard; ``previous``: the hypothesis before it, its words after the stable prefix
    (None: there was none), which heard up to ``previous_heard_end_s``.

    A word is committed when it ends ``margin_s`` before ``heard_end_s``, it and every word
    before it are stable or have at least ``probability``, and a word follows it in the
    hypothesis with at least ``next_probability``: so never a hypothesis' last word, whose end
    a cut in mid-word or the next word still change. No word after the stable ones is
    committed when the previous hypothesis contradicts this one: after the stable prefix the
    two differ from their first word on, so any word the previous one heard ``margin_s``
    before its own end (not one its cut may have changed) is a word this one revised. A word
    is never cut from the piece that continues it (``continues``).

    ``settled_s`` > 0 (age-aware): a word that ends ``settled_s`` before ``heard_end_s`` needs
    only ``settled_probability`` and is committed whatever the previous hypothesis said there.

    ``next_start_s`` > 0: a word that ends within ``margin_s`` of ``heard_end_s`` is committed
    all the same when the word after it started ``next_start_s`` before ``heard_end_s`` and is
    itself stable or has at least ``next_start_probability`` (``followed``): the word is over
    once the next has begun, whatever end time Whisper gave it.
    """
    settled_limit_s = heard_end_s - settled_s if settled_s > 0 else float("-inf")
    usable = len(rest)
    if (
        previous
        and previous_heard_end_s is not None
        and previous[0].end_s <= previous_heard_end_s - margin_s
    ):
        usable = agreed
        while usable < len(rest) and rest[usable].end_s <= settled_limit_s:
            usable += 1  # heard long enough ago: the newest hypothesis is taken
    limit_s = heard_end_s - margin_s
    count = 0
    while (
        count < usable
        and count + 1 < len(rest)
        and (
            rest[count].end_s <= limit_s
            or followed(
                rest, count, agreed, heard_end_s, next_start_s, next_start_probability
            )
        )
        and (
            count < agreed
            or rest[count].probability >= probability
            or (rest[count].end_s <= settled_limit_s
                and rest[count].probability >= settled_probability)
        )
        and (count + 1 < agreed or rest[count + 1].probability >= next_probability)
    ):  # fmt: skip
        count += 1
    while count > 0 and continues(rest[count]):
        count -= 1
    return count


def followed(
    rest: Sequence[Word],
    index: int,
    agreed: int,
    heard_end_s: float,
    next_start_s: float,
    probability: float,
) -> bool:
    """Whether ``rest[index]`` is over because the word after it has begun: that word starts
    at least ``next_start_s`` (> 0) before ``heard_end_s`` and is stable (one of the first
    ``agreed``) or has at least ``probability``. Judged by the next word's start, not this
    one's end: without punctuation Whisper stretches a word's end to the next word's start
    ("rain" 6.30 s, "rain," 6.22 s, "and" from 6.30 s)."""
    following = index + 1
    if next_start_s <= 0 or following >= len(rest):
        return False
    word = rest[following]
    return word.start_s <= heard_end_s - next_start_s and (
        following < agreed or word.probability >= probability
    )


def sentence_boundary_count(
    rest: Sequence[Word],
    agreed: int,
    heard_end_s: float,
    previous: Sequence[Word] | None,
    previous_heard_end_s: float | None,
    margin_s: float,
    tolerance_s: float,
    max_words: int,
) -> int:
    """How many leading words of ``rest`` (the newest hypothesis' uncommitted words, the first
    ``agreed`` of them stable) are final because the hypothesis before it (``previous``, its
    words after the stable prefix, heard up to ``previous_heard_end_s``) ends a sentence at
    the same place: up to the newest one's first sentence end, when a word follows it in both,
    the two ends lie within ``tolerance_s``, it ends ``margin_s`` before ``heard_end_s`` and
    at most ``max_words`` of the words up to it are unagreed. 0: none."""
    if not previous or previous_heard_end_s is None:
        return 0
    end = next((i for i, w in enumerate(rest[:-1]) if ends_sentence(w.text)), None)
    if end is None or rest[end].end_s > heard_end_s - margin_s or end + 1 - agreed > max_words:
        return 0
    end_s = rest[end].end_s
    if not any(
        ends_sentence(w.text) and abs(w.end_s - end_s) <= tolerance_s for w in previous[:-1]
    ):
        return 0
    return end + 1


def awaits_agreement(rest: Sequence[Word], heard_end_s: float, margin_s: float) -> bool:
    """Whether ``rest`` (a hypothesis' uncommitted words, in order) holds a word, not its last,
    that ends ``margin_s`` before ``heard_end_s``: the next agreeing hypothesis commits it."""
    return any(word.end_s <= heard_end_s - margin_s for word in rest[:-1])


def continues(word: Word) -> bool:
    """Whether ``word`` continues the word before it: Whisper words start with a space, and a
    piece without one ("hour" of "re|hour") belongs to the previous word, as does one that
    starts with a hyphen or an apostrophe ("-hour", "'s"), or the rest of a number (",000")."""
    text = word.text
    stripped = text.strip()
    if not stripped:
        return False
    if stripped[0] in ",." and stripped[1:2].isdigit():
        return not text[0].isspace()  # the rest of a number: "68" | ",000", "3" | ".5"
    return stripped[0] in "-'’" or (not text[0].isspace() and stripped[0] not in ",.?!")


def cut_after(last: Word, following: Word | None, limit_s: float, pad_s: float) -> float:
    """Stream seconds where the audio is cut after the committed word ``last``.

    Midway to ``following`` (the first word not committed) when it starts later; ``pad_s`` after
    ``last`` when it is not known; never before ``last`` ends, never past ``limit_s`` unless
    ``last`` itself ends later.
    """
    if following is not None:
        cut_s = (
            (last.end_s + following.start_s) / 2 if following.start_s > last.end_s else last.end_s
        )
    else:
        cut_s = last.end_s + pad_s
    return max(last.end_s, min(cut_s, limit_s))


def ends_sentence(text: str) -> bool:
    """Whether ``text`` ends with final punctuation (a closing quote or bracket may follow)."""
    return text.rstrip().rstrip(_CLOSERS).endswith(SENTENCE_END)


def partial_window(
    window_start_index: int, newest_index: int, window_samples: int
) -> tuple[int, int]:
    """[start, end) of the next partial request: from the window start to the newest audio, at
    most ``window_samples`` (the oldest uncommitted audio is never skipped; commits move the
    start up)."""
    start = min(window_start_index, newest_index)
    return start, min(newest_index, start + max(window_samples, 1))


def window_start_after_commit(
    window_start_index: int,
    cut_index: int,
    last_committed: Word,
    max_context_samples: int,
    lead_in_samples: int,
) -> int:
    """Where partial windows start after a commit cut at ``cut_index``: ``lead_in_samples``
    before the cut after a complete sentence, or once more than ``max_context_samples`` of
    committed audio would lie before it; otherwise unchanged (the committed words before the
    cut stay as context). The lead-in keeps a word whose timestamps put it after the cut
    although it was spoken before (Whisper's word times drift by a few tenths of a second)."""
    if ends_sentence(last_committed.text) or cut_index - window_start_index > max_context_samples:
        return max(window_start_index, cut_index - lead_in_samples)
    return window_start_index


def sliding_window_start(
    committed: Sequence[Word],
    window_start_index: int,
    cut_index: int,
    context_s: float,
    pad_s: float,
) -> int | None:
    """Where partial windows start after a commit cut at ``cut_index`` so that they hear
    ``context_s`` of the committed speech before it: ``pad_s`` before the first committed word
    that begins at most ``context_s`` before the cut (never inside the word before it), never
    back before ``window_start_index``. None when no whole word begins there (a window would
    start inside a word: the caller keeps its older rule)."""
    start_index = lead_in_start_index(committed, cut_index, context_s, math.inf, pad_s)
    return None if start_index is None else max(window_start_index, start_index)


def without_repetition_loop(words: Sequence[Word], repeat_limit: int = 3) -> list[Word]:
    """``words`` up to a repetition loop (Whisper's "I think I think I think ..."), the repeated
    words kept once."""
    words = list(words)
    loop = find_repetition([normalize_word(w.text) for w in words], repeat_limit)
    if loop is None:
        return words
    return words[: loop.start + loop.ngram_words]


def lead_in_words(
    words: Sequence[Word], start_s: float, lead_in_s: float, max_gap_s: float
) -> list[Word]:
    """The last of ``words`` (final, in order, stream seconds) that a window starting at a word
    boundary up to ``lead_in_s`` before ``start_s`` hears again: those starting at or after
    ``start_s - lead_in_s``. None when the last word ended more than ``max_gap_s`` before
    ``start_s`` (the window would hear mostly silence), or when a word's piece would be cut from
    the word it continues."""
    if lead_in_s <= 0 or not words or start_s - words[-1].end_s > max_gap_s:
        return []
    first = len(words)
    while first > 0 and words[first - 1].start_s >= start_s - lead_in_s:
        first -= 1
    while first < len(words) and continues(words[first]):
        first += 1  # a piece of the word before it ("'s", "-hour"): start after the whole word
    return list(words[first:])


def lead_in_start_s(words: Sequence[Word], lead: Sequence[Word], pad_s: float) -> float:
    """Where a window hearing ``lead`` (the last of ``words``) again starts: ``pad_s`` before
    its first word, never before the end of the word before it."""
    first = lead[0]
    index = len(words) - len(lead)
    before_end_s = words[index - 1].end_s if index > 0 else 0.0
    return max(0.0, min(first.start_s, max(before_end_s, first.start_s - pad_s)))


def lead_in_start_index(
    words: Sequence[Word], index: int, lead_in_s: float, max_gap_s: float, pad_s: float
) -> int | None:
    """Where a window that hears the last of ``words`` again before ``index`` starts: at the
    ``lead_in_words`` (up to ``lead_in_s`` before ``index``, none after a gap over
    ``max_gap_s``), ``pad_s`` before the first (``lead_in_start_s``), never after ``index``.
    None when there are no such words."""
    lead = lead_in_words(words, samples_to_seconds(index), lead_in_s, max_gap_s)
    if not lead:
        return None
    return min(index, seconds_to_samples(lead_in_start_s(words, lead, pad_s)))


def is_number(word: Word) -> bool:
    """Whether ``word`` is (part of) a number: digits ("25", "10:30", "$40", "1,") or a number
    word ("twenty", "twenty-three")."""
    bare = word.text.strip().rstrip(",.?!;:%" + _CLOSERS).lstrip("$£€#(\"'“‘")
    if not bare:
        return False
    if bare[0].isdigit() or bare[-1].isdigit():
        return True
    return all(part in NUMBER_WORDS for part in bare.lower().split("-"))


SPELLED_LARGE_NUMBERS = frozenset((
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred",
    "thousand", "million", "billion",
))  # fmt: skip


def spells_large_number(words: Sequence[Word]) -> bool:
    """Whether ``words`` say a number of twenty or more in words ("forty one", "5 hundred",
    "twenty-nine") rather than digits."""
    for word in words:
        bare = word.text.strip().strip(",.?!;:%\"'()").lower()
        if any(part in SPELLED_LARGE_NUMBERS for part in bare.split("-")):
            return True
    return False


def ends_clause(word: Word) -> bool:
    """Whether ``word`` ends with a sentence end or clause punctuation (",", ";", ":")."""
    return word.text.rstrip().rstrip(_CLOSERS).endswith(CLAUSE_END)


def splits_number(words: Sequence[Word], count: int) -> bool:
    """Whether ending a commit after the first ``count`` of ``words`` would cut a number apart:
    a number followed by more of it ("twenty | three", "1, | 000", "hundred | and five",
    "three point | five"), or a number that is the last word known (the next may continue it).
    A number that ends a sentence ("in 1990.") is whole."""
    if count <= 0:
        return False
    last = words[count - 1]
    if last.text.rstrip().rstrip(_CLOSERS).endswith(SENTENCE_END):
        return False
    bare = last.text.strip().rstrip(",;:").lower()
    following = words[count] if count < len(words) else None
    if is_number(last):
        if following is None:
            return not last.text.rstrip().endswith((";", ":"))  # "1," may go on "000"
        if is_number(following):
            return True
        after = words[count + 1] if count + 1 < len(words) else None
        joiner = following.text.strip().lower() in _NUMBER_JOINERS
        return joiner and (after is None or is_number(after))
    if bare in _NUMBER_JOINERS and count >= 2 and is_number(words[count - 2]):
        return following is None or is_number(following)
    return False


def language_boundary(
    words: Sequence[Word],
    committed: int,
    count: int,
    *,
    numbers: bool,
    clause_reach_words: int,
    clause_wait: bool = True,
) -> int:
    """Where a commit of ``words[committed:count]`` ends instead, so that it respects language
    (never below ``committed``; ``committed`` means wait). ``words``: the hypothesis in order,
    words after ``count`` included (they show where a number or clause goes on).

    With ``clause_reach_words`` > 0, a boundary that is not after a clause end moves to one
    within that many words: to the nearest after it (the words wait; a commit up to an
    earlier clause end still goes; only with ``clause_wait``) or else the nearest before it. With ``numbers``, the
    boundary then moves back until it does not cut a number apart (``splits_number``)."""
    if count <= committed:
        return count
    if clause_reach_words > 0 and not ends_clause(words[count - 1]):
        ahead = (
            next(
                (
                    j
                    for j in range(count + 1, min(len(words), count + clause_reach_words) + 1)
                    if ends_clause(words[j - 1])
                ),
                None,
            )
            if clause_wait
            else None
        )
        behind = next(
            (j for j in range(count - 1, committed, -1) if ends_clause(words[j - 1])), None
        )
        if ahead is not None:
            count = behind if behind is not None else committed
        elif behind is not None and count - behind <= clause_reach_words:
            count = behind
    while numbers and count > committed and splits_number(words, count):
        count -= 1
    return count
