"""Sentence ends confirmed first: while streams share the pool, the hypothesis that can commit a
sentence's last word goes as soon as it can, past the partial budget and the worker kept for
finals.

A word is committed while speech goes on once two hypotheses agree on it and it ends
``CommitOptions.margin_s`` before the newest audio the second one heard
(``commits.CommittedSegments``). A sentence followed by a pause shorter than the VAD's
``vad.pause_ms`` is one utterance with the next to the VAD, so no early final commits it: its
last word waits for that second hypothesis. Alone, a stream's partials come every
``partial_interval_s``; while N streams share the pool they come every ~N x cost / budget seconds,
round-robin, and the worker kept for finals (``streams.reserve_for_finals``) stays idle meanwhile.
Traced on ``bench/stream_replay.py`` at N = 4 (dictation-01, "... out of wood and string." then
0.22 s of silence, "The bakery ..."): the hypothesis of 18.64 s heard the sentence's last word,
unsure ("spring" at 0.15), the partial that agreed went at 20.28 s behind two batches of other
streams' partials while the second worker stayed free, and the sentence was final 2.86 s after
its last word.

So after each hypothesis, the first sentence end among its uncommitted words (a word ending in
``.``, ``?`` or ``!``) awaits confirmation (``PartialCadence.await_confirmation``): once the
newest audio is ``margin_s`` past that word (the earliest a hypothesis can commit it), the
segment's next partial is due whatever its interval, goes first among the due partials, and is a
``Flight.urgent`` one: the scheduler sends it past the partial budget and onto the worker kept
for finals (not past shedding). One confirming partial per sentence end (a later hypothesis
that still disagrees waits for the round-robin), and only while another stream is in speech
(alone, partials are never held back and a stream's figures stay as they were).

Measured on ``bench/stream_replay.py --seconds 30`` (default mix, simulated clock, 2 workers),
base 9bfe4e0 -> with this; dictation p50 / p95 / utterances over 1.5 s, continuous p50 / p95, s;
engine s per stream-second:

| N | dictation | continuous | engine |
| --- | --- | --- | --- |
| 1 | 0.569 / 0.632 / 0 -> the same | | 0.411 -> 0.411 |
| 2 | 0.569 / 0.652 / 0 -> 0.584 / 0.652 / 0 | 2.51 / 3.81 -> 2.09 / 3.81 | 0.350 -> 0.427 |
| 4 | 0.623 / 2.86 / 1 -> 0.625 / 1.22 / 0 | 3.69 / 4.88 -> 2.12 / 3.38 | 0.270 -> 0.319 |
| 6 | 0.637 / 0.76 / 1 -> 0.661 / 0.98 / 1 | 2.70 / 6.20 -> 2.67 / 6.18 | 0.202 -> 0.230 |

"... wood and string." (N = 4): the partial that agreed on its last word went at 18.90 s
(answered 19.12 s, 1.22 s after the word) instead of 20.28 s. Variants measured (N = 4 / N = 6 dictation p95, continuous p50 / p95): with no bound on
confirming partials per sentence end, 1.22 / 0.76 s, 2.00 / 3.38 and 3.07 / 8.06 s (the
N = 6 continuous streams lose their turns to the dictation streams' sentence ends); past the
budget but not the reserve, 3.74 / 0.74 s, continuous 2.44 / 5.50 and 2.80 / 9.16 s (the
reserve is the worker that is free); a cancelled or unsent confirming partial made urgent
again, 1.18 / 1.00 s, continuous 3.38 / 5.76 and 3.22 / 6.32 s, 36 pre-emptions at N = 6
against 25. Also measured (on that last variant) and left off, for the continuous streams: the
due partials ordered by their last request time less the uncommitted audio they hold (the
stream with the most speech waiting to be committed first): N = 4 continuous p50 3.38 -> 1.87 s,
p95 5.76 s either way (a sentence whose hypotheses never agree: "switches off" heard as
"longest witch", "mongets witch", "morning switching off"), N = 6 3.22 / 6.32 -> 3.29 / 6.32 s.
And on this set: a confirming partial cut last by pre-emption (``cancels`` cuts the newest
first, which is usually it): N = 4 the same, N = 6 dictation p50 0.661 -> 0.692 s, continuous
p50 2.67 -> 3.21 s (p95 6.18 s either way); not kept. No confirming partial once the awaited
sentence end is committed meanwhile (by an early final at a pause; the awaited end is only
renewed by the next hypothesis): N = 4 dictation p95 1.22 -> 1.28 s, continuous 2.12 / 3.38 ->
2.38 / 5.58 s, N = 6 continuous p50 2.67 -> 3.79 s, engine 0.230 -> 0.220; not kept (those
partials, sent soon after a pause, likely serve the words after it too; not traced).

**A sentence end at a short pause** (``SHORT_PAUSE_SENTENCES``). The confirming partial keys on
a hypothesis's ``.``/``?``/``!``, so it depends on what tiny.en hears in one schedule: at ddb9c47
the same "... wood and string." (0.22 s of silence, then "The bakery ...") read 1.22-1.40 s on
some replays and 2.24 s on others, where every hypothesis heard "spring the" with no full stop.
The VAD heard that silence: after ``vad.pause_decode_ms`` it sent a tentative pause and the early
final decoded the audio up to it ("... wood and spring.", answered 18.38 s), but speech resumed
at 18.11 s, 30 ms before the pause would have been confirmed, so it was dropped; the sentence's
last word then waited for two agreeing partials (final 20.14 s, 2.24 s). Now, while another
stream is in speech, such an early final is kept past the resume and committed at its cut (the
middle of the silence the VAD heard) when its text ends a sentence; one that ends mid-sentence
is dropped as before (``SHORT_PAUSE_ANY_TEXT`` commits it too), and a stream alone drops both
(its partials are never held back). Measured on ``bench/stream_replay.py --levels 1,2,4,6
--seconds 30 --schedules 3 --levers off,noshortpause`` (each level N > 1 replayed with the
streams' starts shifted three ways, ``schedule_offsets``); without -> with, worst / median over
the schedules, dictation p95 (utterances over 1.5 s in the worst), continuous p95, s; engine s
per stream-second, median:

| N | dictation | continuous | engine |
| --- | --- | --- | --- |
| 1 | 0.532 -> 0.532 (one schedule) | | 0.465 -> 0.465 |
| 2 | 0.621 / 0.592 -> 0.641 / 0.564 | 3.83 / 3.81 -> 3.59 / 2.53 | 0.491 -> 0.451 |
| 4 | 2.24 (1) / 0.96 -> 0.784 (0) / 0.732 | 3.60 / 3.34 -> 5.10 / 3.50 | 0.339 -> 0.345 |
| 6 | 1.075 (1) / 0.949 -> 0.963 (0) / 0.924 | 10.88 / 6.32 -> 6.22 / 6.12 | 0.233 -> 0.233 |

Schedules passing the issue's rule: N = 4 2 of 3 -> 3 of 3, N = 6 3 -> 3 (with an utterance
over 1.5 s in two of them before, none after). The continuous p95 moves with the schedule by
several seconds either way (one sentence each: N = 4's 5.10 s is continuous-01's first
sentence in one schedule, 3.50 and 2.00 s in the others). Realtime it depends on a free worker:
a tentative pause's early final pre-empts nothing, so one unsent at the resume is still dropped.
``bench/streams.py --seconds 30 --levels 4 --log-level debug`` (08:07 UTC, load 2.9): that
sentence 1.67 s, no early final at its pause (both workers on partials, s3/3/p72 and s4/0/p67,
from the tentative decision to the resume 70 ms later); its last word waited for partial
commits. Keeping such an unsent early final past the resume and sending it on the next free
worker (``streams.short_pause_unsent``, as ``keep_unsent_early`` does at a confirmed pause) is
coded and left off: the replay rarely has the case, and on ``--levels 4,6 --schedules 3 --levers
shortpauseunsent`` against the daemon's set (starved segments on), worst / median, N = 4
dictation p95 0.878 / 0.784 -> 0.881 / 0.784 s, continuous p50 2.10 / 1.50 -> 2.61 / 1.87 s,
p95 5.02 / 3.50 -> 4.54 / 3.75 s; N = 6 dictation 1.001 / 0.787 -> 0.976 / 0.941 s, continuous
p50 2.69 / 2.67 -> 2.59 / 2.36 s, p95 4.10 / 3.78 -> 3.87 / 3.52 s; early finals 32 -> 35-39,
engine 0.238 -> 0.241: schedule churn, no clear gain on the replay; the key is there for a
realtime A/B.

**Starved segments** (``streams.starved_s``). At N = 6 the continuous streams starve: the
dictation streams' early finals and confirming partials go first, and a continuous stream's one long
segment waits behind the round-robin and the partial budget (continuous p95 6.1-6.3 s on every
schedule; at ddb9c47 continuous-02's first sentence waited from 9.64 to 14.12 s for a partial).
Ordering the due partials by uncommitted audio alone did not pay (above); what does is a bound
on the wait: once a segment's speech has waited ``starved_s`` uncommitted (since its stream's
last commit, or the segment's start) while another stream is in speech, its due partial (still
at most one per ``partial_interval_s``) goes after the confirming ones, the longest wait first,
and, with ``streams.starved_priority`` full, is urgent (past the budget and the worker kept for
finals, not past shedding). Measured with full on ``bench/stream_replay.py --levels 2,4,6
--seconds 30 --schedules 3 --levers starvedS:full``
against the set above (short-pause sentence ends on); worst / median over the schedules,
dictation p95 (none over 1.5 s in any), continuous p50 and p95, s; engine s per stream-second:

| starved_s | N = 4 dictation | N = 4 continuous p50 / p95 | N = 6 dictation | N = 6 continuous p50 / p95 | engine N = 4 / 6 |
| --- | --- | --- | --- | --- | --- |
| off | 0.784 / 0.732 | 2.10 / 1.61, 5.10 / 3.50 | 0.963 / 0.924 | 2.88 / 2.74, 6.22 / 6.12 | 0.345 / 0.233 |
| 2.0 | 0.838 / 0.784 | 2.58 / 2.16, 4.70 / 3.06 | 0.981 / 0.869 | 2.92 / 2.66, 6.20 / 5.32 | 0.367 / 0.261 |
| 2.5 | 0.878 / 0.784 | 1.82 / 1.55, 5.02 / 3.34 | 0.924 / 0.923 | 2.92 / 2.36, 4.82 / 3.61 | 0.354 / 0.249 |
| 3.0 | 0.878 / 0.784 | 2.10 / 1.50, 5.02 / 3.50 | 1.001 / 0.787 | 2.69 / 2.67, 4.10 / 3.78 | 0.347 / 0.238 |

N = 2 is unchanged (2.5 s: every figure the same; two streams rarely defer a partial). 3.0 s,
the continuous target of issue 10, gave the best worst case at N = 6 for the least engine time
(2.0 s sends so many urgent partials that they crowd each other, and the reserve, out). It is
off in the daemon all the same (b51cb34 had it on): a starved partial passes the partial budget,
so once every stream starves the budget holds nothing back, and eight continuous streams on two
workers kept the pool busy 0.988 of the time against the budget's share of 0.75
(``tests/test_partial_budget.py``, which the full suite caught).

Bounds that keep the budget (``streams.starved_priority``; all three keep the eight streams of
``tests/test_partial_budget.py`` under 0.8 busy, full 0.988): order (first among the due
partials only), reserve (past the worker kept for finals, held by the budget), one (past both,
one in flight over the pool). ``bench/stream_replay.py --levels 2,4,6 --seconds 30 --schedules
3 --levers starved3.0:PRIORITY`` (N = 2: every figure as off) and ``--levels 4,6 --cost-scale
1.3``, against off at e853253's code; worst / median, dictation p95 (utterances over 1.5 s in
the worst), continuous p50 and p95, s:

| priority | N = 4 dictation | N = 4 continuous | N = 6 dictation | N = 6 continuous |
| --- | --- | --- | --- | --- |
| off | 0.784 / 0.732 | 2.10 / 1.61, 5.10 / 3.50 | 0.924 / 0.916 | 2.96 / 2.88, 6.04 / 5.92 |
| order | 0.784 / 0.732 | 2.10 / 1.80, 5.10 / 3.50 | 1.004 / 0.963 | 2.98 / 2.75, 8.06 / 5.86 |
| reserve | 0.878 / 0.784 | 1.93 / 1.84, 5.02 / 3.50 | 1.055 (1) / 0.924 | 3.46 / 3.14, 7.52 / 4.10 |
| one | 0.878 / 0.784 | 1.93 / 1.50, 5.12 / 3.50 | 0.924 / 0.772 | 2.49 / 2.33, 5.72 / 5.14 |
| off, x1.3 | 3.76 (1) / 1.48 | 2.49 / 2.44, 4.27 / 3.90 | 1.163 (1) / 1.124 | 4.05 / 3.76, 11.02 / 9.54 |
| order, x1.3 | 1.48 (0) / 1.121 | 2.48 / 2.44, 4.94 / 4.27 | 1.223 (0) / 1.124 | 3.71 / 3.52, 10.45 / 9.16 |
| reserve, x1.3 | 2.62 (1) / 1.064 | 2.34 / 2.28, 5.14 / 3.90 | 1.143 (1) / 1.124 | 3.66 / 2.88, 8.48 / 8.20 |
| one, x1.3 | 2.62 (1) / 1.064 | 3.27 / 2.34, 5.14 / 4.28 | 1.203 (1) / 1.081 | 3.28 / 3.02, 6.60 / 5.86 |

One is the only bound that improves the N = 6 continuous streams on both loads (worst p95 6.04
-> 5.72 s, 11.02 -> 6.60 s; p50 too) with dictation p95 under 1.5 s wherever off is; at x1.3
its N = 4 continuous p95 is worse (3.90 -> 4.28 s median). Order and reserve make N = 6's
worst continuous p95 worse at x1.0 (8.06 / 7.52 s: held by the budget, a starved partial goes
no sooner, and going first it delays the others). Still off in the daemon: to be A/B'd realtime
(``--set streams.starved_s=3.0 --set streams.starved_priority=one``) before it goes on.
The bound does not reach the 3 s target: with 3.0 s, the N = 6 sentences over 3 s are spread
over all three continuous streams (nine over the three schedules, 3.2-4.1 s; each waits for a
last partial commit a few words after the sentence end); not traced further.

**A tentative early final pre-empting a partial** (``streams.tentative_preempts``, off).
Realtime's '... wood and string.' (above) found both workers on partials from the tentative
decision to the resume. On: while sharing, an unsent tentative early final counts as final work
waiting, so the scheduler cancels the newest partial in flight for it. The replay shows the
case with the workers busier (``--cost-scale 1.3``). ``bench/stream_replay.py --levels 4,6
--seconds 30 --schedules 3 --cost-scale 1.3 --levers off,tentativepreempts`` (and
``tentativepreempts+spareurgent``: urgent partials, confirming or starved, never cancelled,
``SegmentScheduler.spare_urgent_partials``). Worst / median over the schedules, s:

| lever | N = 4 dictation p95 | N = 4 continuous p95 | N = 6 dictation p95 | N = 6 continuous p95 | pre-emptions N = 4 / 6 | engine N = 4 / 6 |
| --- | --- | --- | --- | --- | --- | --- |
| off | 2.62 (1 over 1.5 s) / 1.064 | 5.14 / 3.90 | 1.16 / 1.12 | 6.80 / 5.30 | 17-22 / 17-22 | 0.367 / 0.256 |
| tentativepreempts | 1.061 (0) / 1.021 | 6.00 / 5.10 | 1.081 / 1.080 | 8.30 / 5.70, 1 missed | 22-27 / 33-44 | 0.368 / 0.254 |
| + spareurgent | 2.345 (3) / 1.323 | 5.14 / 4.92 | 1.396 / 1.204 | 6.72 / 6.26 | 3-6 / 3-6 | 0.364 / 0.262 |

It trades the continuous streams for the dictation ones: N = 4's dictation passes every
schedule, but the continuous p95 median goes 3.90 -> 5.10 s (N = 4) and 5.30 -> 5.70 s (N = 6,
a sentence missed, the issue's rule 3 -> 2 schedules); the cancelled partials are mostly the
continuous streams' urgent ones. Sparing urgent partials leaves too few to cancel and the
dictation gets worse than off. Left off, both; not measured at ``--cost-scale 1.0`` (time).

**The levers with ``one``** (``bench/stream_replay.py --seconds 30 --schedules 3 --levers
off,starved3.0:one[+tentativepreempts][+shortpauseunsent]``, ``--cost-scale`` 1.0 and 1.4,
the second as slow as a loaded realtime machine; off and one at x1.0 from the table above).
Worst / median over the schedules: dictation p95 (utterances over 1.5 s in the worst),
continuous p50 and p95, s; nothing missed in any run. N = 2 (measured for x1.0 one + each
lever alone, x1.4 off and one): dictation p95 0.601 / 0.552, 0.661 / 0.564, 0.852 / 0.852 s
(one as off), continuous p95 3.59 / 2.53 s or under x1.0, 4.14 / 2.69 (off) 4.09 / 2.69 (one)
x1.4. The N = 4 cells marked * ran with ``asr.confident_next_start_s`` 0.1 (the daemon's
since dc895c4, which landed during these runs); every other cell with it off:

| x | lever | N = 4 dictation | N = 4 continuous | N = 6 dictation | N = 6 continuous |
| --- | --- | --- | --- | --- | --- |
| 1.0 | one + tentativepreempts | 0.821 / 0.632 | 2.12 / 2.09, 3.32 / 2.68 | 0.881 / 0.844 | 2.73 / 2.63, 6.14 / 4.88 |
| 1.0 | one + shortpauseunsent | 0.938 / 0.784 | 2.84 / 2.61, 5.18 / 5.12 | 0.976 / 0.941 | 2.01 / 1.96, 3.52 / 3.32 |
| 1.0 | one + both | 0.861 / 0.784* | 2.22 / 2.10, 5.14 / 3.40* | 0.844 / 0.681 | 2.66 / 2.30, 4.76 / 4.04 |
| 1.4 | off | 1.200 / 1.143 | 3.71 / 2.82, 6.38 / 5.34 | 1.315 (1) / 1.209 | 4.84 / 3.78, 11.74 / 11.10 |
| 1.4 | one | 1.180 / 1.143 | 3.92 / 2.60, 7.10 / 5.00 | 1.209 (0) / 1.064 | 3.66 / 3.47, 9.78 / 6.68 |
| 1.4 | one + tentativepreempts | 1.101 / 1.004* | 3.17 / 2.79, 5.72 / 4.62* | 1.101 / 1.101 | 3.52 / 3.50, 7.84 / 6.68 |
| 1.4 | one + shortpauseunsent | 1.218 / 1.123* | 3.79 / 2.50, 6.98 / 5.04* | 1.309 (1) / 1.275 | 3.52 / 2.98, 7.84 / 6.30 |
| 1.4 | one + both | 1.221 / 1.004 | 3.40 / 2.90, 5.68 / 4.58 | 1.255 (1) / 1.224 | 4.76 / 2.68, 7.74 / 5.48 |

On the replay ``one`` does not cost the N = 6 dictation its p95 at either load (x1.4: the
one utterance over 1.5 s, "... wood and string.", 2.10 and 3.00 s off, is under it with one);
its dictation p50 rises (x1.4, N = 6: 0.729 / 0.832 / 0.761 -> 0.744 / 0.869 / 0.903 s). A
realtime A/B that read N = 6 dictation p95 1.64 -> 2.95 s with one (one run each, one
utterance) is not reproduced. Tried against it and not kept (code removed): with one, only
the starved segment whose partial goes past the budget goes first among the due partials, the
other starved segments keeping their round-robin place (they had gone before the dictation
streams' partials): x1.4 N = 6 dictation 1.303 / 1.209 s, p50 0.809 / 0.845 / 0.845 s,
continuous 3.17 / 2.87, 9.70 / 6.64 s: no better for the dictation, the same continuous.
"""

from __future__ import annotations

from dataclasses import replace

from pipeline.audio_format import samples_to_seconds, seconds_to_samples
from pipeline.messages.base import Message
from pipeline.messages.work import TranscribeResult
from pipeline.scheduling.commit_policy import CommitOptions, ends_sentence
from pipeline.scheduling.commit_state import CommitState, EarlyFinal
from pipeline.scheduling.commits import CommittedSegments
from pipeline.scheduling.flights import WorkReply
from pipeline.scheduling.options import SharingOptions
from pipeline.scheduling.segment import Segment, SegmentKey
from pipeline.scheduling.work_kind import Flight

CONFIRM_SENTENCE_ENDS = True  # off: the commits as in CommittedSegments
# A segment's first partial takes its place in the round-robin from its stream's last partial
# (of its earlier segment) instead of going before every segment already served (its last
# request None sorts first): round-robin over streams, not segments. Traced at N = 6 on
# bench/stream_replay.py: continuous-02's one long segment waited from 9.64 to 14.12 s for a
# partial while the dictation streams' new segments went first. Off: measured, it does not pay
# (on the set with confirming partials; N = 2 unchanged, N = 4 dictation p95 1.22 s either way,
# continuous p50 / p95 2.12 / 3.38 -> 2.12 / 3.46 s, N = 6 dictation p50 / p95 0.661 / 0.983
# -> 0.678 / 0.983 s, continuous 2.67 / 6.18 s either way: the stream's confirming partial had
# been cancelled by two early finals at 9.78 s, and the streams that went before it had
# waited longer than it).
ROUND_ROBIN_STREAMS = False
# A sentence end at a short pause: an early final decoded at a tentative pause (the VAD heard
# ``vad.pause_decode_ms`` of silence) whose text ends a sentence is committed at its cut when
# speech resumes before the pause is confirmed, while another stream is in speech (alone it is
# dropped, as before). ``SHORT_PAUSE_ANY_TEXT``: whatever its text (as ``COMMIT_RESUMED_EARLY``
# does at a confirmed pause): measured and left off, --levels 4,6 --schedules 3 --levers
# shortpauseany against the daemon's set, worst / median: dictation p95 N = 4 0.878 / 0.784 ->
# 1.552 (2 over 1.5 s) / 0.784 s, N = 6 1.001 / 0.787 -> 1.621 (3 over) / 1.001 s; continuous
# p95 N = 4 5.02 / 3.50 -> 4.74 / 4.54 s, N = 6 4.10 / 3.78 -> 5.44 / 4.35 s (a cut at every
# mid-sentence short pause restarts the window; the sentence's end then waits for partials).
SHORT_PAUSE_SENTENCES = True
SHORT_PAUSE_ANY_TEXT = False
# The levers measured for streams sharing the pool (a short pause's early final unsent at the
# resume, a tentative one pre-empting a partial, starved segments) are configuration:
# ``options.SharingOptions``, the ``streams`` keys of the same names (figures: module doc).


class SentenceEndsFirst(CommittedSegments):
    """``CommittedSegments`` whose sentence ends are confirmed first while sharing (module doc)."""

    confirm_sentence_ends: bool = CONFIRM_SENTENCE_ENDS
    round_robin_streams: bool = ROUND_ROBIN_STREAMS
    short_pause_sentences: bool = SHORT_PAUSE_SENTENCES
    short_pause_any_text: bool = SHORT_PAUSE_ANY_TEXT

    def __init__(
        self, options: CommitOptions | None = None, sharing: SharingOptions | None = None
    ) -> None:
        super().__init__(options)
        self.sharing = sharing if sharing is not None else SharingOptions()
        # segments whose starved partial went past the budget and is in flight (``one``)
        self._starved_urgent: set[SegmentKey] = set()
        self._stream_partial_s: dict[str, float] = {}  # a stream's last partial, ended segments
        # early finals of short pauses kept past their resume: (segment, pause number)
        self._short_pause_early: set[tuple[SegmentKey, int]] = set()

    def _early_waiting(self) -> int:
        """Early finals waiting for a worker, a sharing stream's tentative one too
        (``SharingOptions.tentative_preempts``)."""
        waiting = super()._early_waiting()
        if not self.sharing.tentative_preempts:
            return waiting
        for segment in self.core.open_segments():
            state = self._states.get(segment.key)
            early = state.early if state is not None else None
            if (
                early is not None
                and early.tentative
                and not early.serial
                and not early.resumed
                and self._sharing(segment)
            ):
                waiting += 1
        return waiting

    def resumed(
        self, segment: Segment, pause_number: int, now_s: float, *, resume_index: int | None = None
    ) -> list[Message]:
        """Speech came back: an early final of a tentative (short) pause is kept while
        sharing, committed at its cut if its text ends a sentence (``SHORT_PAUSE_SENTENCES``)."""
        state = self._states.get(segment.key)
        early = state.early if state is not None else None
        if (
            self.short_pause_sentences
            and early is not None
            and early.tentative
            and early.pause_number == pause_number
            and segment.is_open
            and self._sharing(segment)
        ):
            if early.words is not None:  # answered: its text is known
                if self.short_pause_any_text or (
                    early.words and ends_sentence(early.words[-1].text)
                ):
                    early.tentative = False  # committed at its cut below (_resumed_early)
            elif early.serial or self.sharing.short_pause_unsent:  # in flight (unsent): on arrival
                early.tentative = False
                self._short_pause_early.add((segment.key, early.pause_number))
        return super().resumed(segment, pause_number, now_s, resume_index=resume_index)

    def _resumed_early(
        self, segment: Segment, state: CommitState, early: EarlyFinal, now_s: float
    ) -> list[Message]:
        short = (segment.key, early.pause_number) in self._short_pause_early
        self._short_pause_early.discard((segment.key, early.pause_number))
        if short and not self.short_pause_any_text:  # ends mid-sentence: dropped, as before
            self._drop_early(state, wasted=True)
            return []
        return super()._resumed_early(segment, state, early, now_s)

    def _partial_answered(self, flight: Flight, reply: WorkReply, now_s: float) -> list[Message]:
        out = super()._partial_answered(flight, reply, now_s)
        state = self._states.get(flight.segment)
        if state is not None and isinstance(reply, TranscribeResult):
            partial = state.agreement.partial
            rest = [*partial.stable_words[state.committed_count :], *partial.unstable_words]
            end_s = next((w.end_s for w in rest if ends_sentence(w.text)), None)
            state.cadence.await_confirmation(end_s, self.commit_options.margin_s)
        return out

    def ended(self, segment: Segment, now_s: float) -> None:
        self._short_pause_early = {k for k in self._short_pause_early if k[0] != segment.key}
        state = self._states.get(segment.key)
        if self.round_robin_streams and state is not None and state.last_request_s is not None:
            self._stream_partial_s[segment.stream_id] = state.last_request_s  # read only then
        super().ended(segment, now_s)

    def forget_stream(self, stream_id: str) -> None:
        self._stream_partial_s.pop(stream_id, None)
        self._short_pause_early = {k for k in self._short_pause_early if k[0][0] != stream_id}
        super().forget_stream(stream_id)

    def _due_partials(self, now_s: float) -> list[tuple[Segment, CommitState]]:
        due = super()._due_partials(now_s)
        if self.round_robin_streams:
            last_s = self._stream_partial_s
            due.sort(
                key=lambda item: (
                    item[1].last_request_s
                    if item[1].last_request_s is not None
                    else last_s.get(item[0].stream_id, float("-inf")),
                    item[0].order,
                )
            )
        if self.sharing.starved_s > 0:
            starved = sorted(
                (item for item in due if self._starved(item[0])),
                key=lambda item: -self._waited(item[0]),
            )
            keys = {segment.key for segment, _ in starved}
            due = [*starved, *(item for item in due if item[0].key not in keys)]
        if not self.confirm_sentence_ends:
            return due
        confirming = [
            (segment, state)
            for segment in self.core.open_segments()
            if (state := self._states.get(segment.key)) is not None
            and self._confirming(segment, state)
        ]
        if not confirming:
            return due
        first = {segment.key for segment, _ in confirming}
        return [*confirming, *(item for item in due if item[0].key not in first)]

    def _confirming(self, segment: Segment, state: CommitState) -> bool:
        """Whether the segment's next partial confirms a sentence end now (module doc)."""
        return (
            not state.busy
            and (state.early is None or state.early.resumed)  # none over a pause's silence
            and state.cadence.confirming(samples_to_seconds(segment.newest_index))
            and self._has_new_audio(segment, state)
            and self._sharing(segment)
        )

    def _partial_flight(
        self, role: str, segment: Segment, state: CommitState, now_s: float
    ) -> Flight:
        confirming = self.confirm_sentence_ends and self._confirming(segment, state)
        starved = self._starved(segment)
        flight = super()._partial_flight(role, segment, state, now_s)
        self._starved_urgent.discard(segment.key)
        if not (confirming or starved) or getattr(flight.request, "preview", False):
            return flight
        if confirming:
            state.cadence.confirm_sent()
            return replace(flight, urgent=True)
        return self._starved_flight(flight)

    def _starved_flight(self, flight: Flight) -> Flight:
        """A starved segment's partial, as ``SharingOptions.starved_priority`` says (it is
        already first among the due partials: ``_due_partials``)."""
        priority = self.sharing.starved_priority
        if priority == "reserve":
            return replace(flight, past_reserve=True)
        if priority == "one":
            self._starved_urgent = {
                key
                for key in self._starved_urgent
                if (state := self._states.get(key)) is not None and state.busy
            }  # those answered, cancelled or handed back are no longer in flight
            if self._starved_urgent:
                return flight  # one is in flight already: this one waits its turn
            self._starved_urgent.add(flight.segment)
        if priority in ("one", "full"):
            return replace(flight, urgent=True)
        return flight  # order

    def _waited(self, segment: Segment) -> int:
        """Samples of the segment's speech not yet committed (since its stream's last commit,
        or its start)."""
        committed = self._committed_until.get(segment.stream_id, 0)
        return segment.newest_index - max(segment.start_index, committed)

    def _starved(self, segment: Segment) -> bool:
        """Whether the segment's speech has waited ``starved_s`` uncommitted while sharing."""
        return (
            self.sharing.starved_s > 0
            and self._waited(segment) >= seconds_to_samples(self.sharing.starved_s)
            and self._sharing(segment)
        )
