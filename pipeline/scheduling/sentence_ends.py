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
"""

from __future__ import annotations

from dataclasses import replace

from pipeline.audio_format import samples_to_seconds
from pipeline.messages.base import Message
from pipeline.messages.work import TranscribeResult
from pipeline.scheduling.commit_policy import CommitOptions, ends_sentence
from pipeline.scheduling.commit_state import CommitState
from pipeline.scheduling.commits import CommittedSegments
from pipeline.scheduling.flights import WorkReply
from pipeline.scheduling.segment import Segment
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


class SentenceEndsFirst(CommittedSegments):
    """``CommittedSegments`` whose sentence ends are confirmed first while sharing (module doc)."""

    confirm_sentence_ends: bool = CONFIRM_SENTENCE_ENDS
    round_robin_streams: bool = ROUND_ROBIN_STREAMS

    def __init__(self, options: CommitOptions | None = None) -> None:
        super().__init__(options)
        self._stream_partial_s: dict[str, float] = {}  # a stream's last partial, ended segments

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
        state = self._states.get(segment.key)
        if self.round_robin_streams and state is not None and state.last_request_s is not None:
            self._stream_partial_s[segment.stream_id] = state.last_request_s  # read only then
        super().ended(segment, now_s)

    def forget_stream(self, stream_id: str) -> None:
        self._stream_partial_s.pop(stream_id, None)
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
        flight = super()._partial_flight(role, segment, state, now_s)
        if not confirming or getattr(flight.request, "preview", False):
            return flight
        state.cadence.confirm_sent()
        return replace(flight, urgent=True)
