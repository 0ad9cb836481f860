"""Pauses inside an open segment: commit a complete sentence, or decode an early final.

A mixin of ``commits.CommittedSegments`` (which owns the per-segment ``CommitState``, the commit
itself and the prompts). The VAD says when silence begins inside a segment (``paused``). If the
stable text then ends a sentence, it is committed at once, cut inside the silence. Otherwise an
early final of the uncommitted audio up to the silence is decoded right away. If its text ends a
sentence it is committed as soon as it comes back; if the segment ends first (no speech since
the pause), it is the segment's final, so no decode is left after the VAD's end decision. If
speech resumes (``resumed``) and the text ends mid-sentence, it is committed at its cut while
another stream is in speech too (``COMMIT_RESUMED_EARLY``); with this stream alone in speech
it is dropped and counted as wasted (``early_finals_wasted``). An early final still unsent at
the resume (every worker was busy through the pause) is kept and sent on the same terms
(``CommitOptions.keep_unsent_early``, also only while another stream is in speech).

Why only while sharing. Alone, a stream's partials are never held back, so partials over the
whole sentence commit it at its end at once; a cut at a mid-sentence pause restarts the window
there (a partial needs ``partial_min_audio`` of it again), and the sentence end then waits for an
early final: dictation_dev (``bench/commit_latency.py --simulate --cost-model``) p50 / p95 561 /
641 -> 662 / 715 ms and +1 word of 102 when committed alone too. While streams share the pool,
partials come every few seconds and the sentence waits for them instead: on
``bench/stream_replay.py`` "The temperature dropped to 43 degrees last night." (the early final
heard no full stop; N = 6) waited 2.00 s for partial commits (1.56 s with the round-robin fix
of ``partial_cadence``); committed at the resume, 0.62 s. Figures of the set in
``bench/stream_replay.py``'s module doc.

An early final's window starts where the partials' does, so after a commit mid-sentence it
still hears the committed words (context); they are forced as its decoder prefix, as the
partials' are (``CommitOptions.prefix_committed``), so only the words after them are decoded:
on dictation_dev 116 -> 76 decoded tokens over 14 early finals (the profile's comment has the
latency and WER).

Decoded at a tentative pause. The VAD first sends a tentative pause after
``vad.pause_decode_ms`` of silence (half of ``vad.pause_ms``: 100 of 200 ms on balanced, 75 of
150 on low-latency), naming where the pause will be confirmed if the silence goes on
(``SpeechPaused.confirm_index``), and the early final is decoded from then on, its window ending
at the confirmed pause's cut: the same audio, sooner. (Ending it at the tentative decision
instead, 128 against 112 ms into the silence, made tiny.en loop on one dictation_dev sentence, a
second pass on the full window, 1.06 s decision -> final in realtime.) It is committed only once
the pause is confirmed (``_tentative_confirmed``: at once if it has answered), and dropped,
counted as wasted, if speech resumes first; it pre-empts no partial (speculative, it is not
final work yet). In continuous speech most short gaps are not pauses: once speech resumed after
``TENTATIVE_MISSES`` of a segment's last ``TENTATIVE_LOOKBACK`` tentative pauses, its early
finals wait for confirmed pauses again. Measured side by side (``bench/commit_latency.py
--simulate --cost-model``, ``--set vad.pause_decode_ms=0`` against the default), sentence end ->
final:

| file (words) | p50 / p95 ms, before -> after | errors | early finals wasted | engine s / audio s |
| --- | --- | --- | --- | --- |
| dictation_dev (102) | 570 / 603 -> 489 / 519 | 9 -> 9 | 1 -> 1 | 0.220 -> 0.220 |
| synthetic dictation (1,589) | 572 / 5,227 -> 507 / 5,123 | 501 -> 501 | 1 -> 14 | 0.292 -> 0.296 |
| continuous.wav (1,096) | 1,758 / 4,074 -> 1,878 / 3,790 | 283 -> 276 | 9 -> 26 | 0.338 -> 0.350 |
| monologue_dev (99) | 2,947 / 4,146 -> 1,127 / 1,534 | 17 -> 19 | 0 -> 2 | 0.330 -> 0.338 |
| dictation_dev, low-latency | 475 / 737 -> 437 / 692 | 10 -> 10 | 1 -> 2 | 0.293 -> 0.296 |

The synthetic dictation's decision -> final p95 went 673 -> 573 ms. Measured before the window
fix (the early final's window to the tentative decision): low-latency continuous.wav 1,751 /
3,522 -> 1,763 / 3,237 ms, 321 -> 314 errors, 44 early finals wasted; and without the segment's
look-back, continuous.wav 1,910 / 3,928 ms with 298 errors and 52 early finals wasted. The
monologue's and continuous.wav's latencies move with the schedule (noise of about +-10 errors on
continuous.wav): the tentative pause's claim is the dictation's sentence ends, ~40-80 ms sooner
with the same words.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from pipeline.audio_format import samples_to_seconds
from pipeline.local_agreement import words_after
from pipeline.merging import merged_text
from pipeline.messages.base import Message
from pipeline.messages.work import TranscribeRequest, TranscribeResult
from pipeline.scheduling.commit_policy import ends_sentence, without_repetition_loop
from pipeline.scheduling.commit_state import CommitState, EarlyFinal
from pipeline.scheduling.flights import WorkReply
from pipeline.scheduling.request_ids import partial_request_id
from pipeline.scheduling.requests import partial_request
from pipeline.scheduling.segment import Segment, SegmentKey
from pipeline.scheduling.work_kind import Flight
from pipeline.words import Word

if TYPE_CHECKING:
    from pipeline.scheduling.commit_policy import CommitOptions
    from pipeline.scheduling.work_kind import Core

MIN_EARLY_SAMPLES = 4_800  # no early final for less uncommitted audio than this (0.3 s)
# An early final that ends mid-sentence is committed when speech resumes after its pause (its
# words end at a silence the VAD saw, so the cut is clean); off: dropped, the sentence waits for
# partial commits. See the module doc for the measured figures.
COMMIT_RESUMED_EARLY = True
# No early final at a tentative pause once speech resumed after TENTATIVE_MISSES of the segment's
# last TENTATIVE_LOOKBACK tentative pauses (continuous speech: its short gaps are not pauses).
TENTATIVE_LOOKBACK = 3
TENTATIVE_MISSES = 2


class EarlyFinals:
    """Pause handling for ``CommittedSegments``; the hooks below are implemented there."""

    core: Core
    commit_options: CommitOptions
    commit_resumed_early: bool = COMMIT_RESUMED_EARLY
    _states: dict[SegmentKey, CommitState]
    _early_ids: set[str]  # request ids of early finals in flight
    _finals: dict[SegmentKey, tuple[tuple[Word, ...], str]]  # segment finals known without chunks

    def _commit(
        self,
        segment: Segment,
        state: CommitState,
        cut_index: int,
        words: list[Word],
        now_s: float,
        *,
        at_pause: bool,
    ) -> list[Message]:
        raise NotImplementedError

    def _prompt_before(self, state: CommitState, start_index: int) -> str:
        raise NotImplementedError

    def _prefix_after(self, state: CommitState, start_index: int) -> str:
        raise NotImplementedError

    def _draft_after(self, state: CommitState) -> str:
        raise NotImplementedError

    def _final_start(self, segment: Segment) -> int:
        raise NotImplementedError

    def _decode_rest(self, segment: Segment, now_s: float) -> None:
        """The ended segment's rest is decoded the usual way (chunks)."""
        raise NotImplementedError

    # ---- VAD events -----------------------------------------------------------------------

    def paused(
        self,
        segment: Segment,
        pause_index: int,
        decided_index: int,
        pause_number: int,
        now_s: float,
        *,
        confirm_index: int | None = None,
    ) -> list[Message]:
        """Silence began at ``pause_index`` inside the open segment (seen up to
        ``decided_index``): commit a complete sentence now, or decode an early final."""
        state = self._states.get(segment.key)
        if state is None or not segment.is_open:
            return []
        if confirm_index is not None:  # a tentative pause
            state.tentative_pause = pause_number
            if sum(state.tentative_resumed) >= TENTATIVE_MISSES:  # (the last few, kept bounded)
                return []  # speech went on after most of this segment's recent short pauses
            cut_index = min((pause_index + confirm_index) // 2, decided_index)
            return self._decode_at_tentative_pause(segment, state, cut_index, pause_number)
        self._settle_tentative(state, pause_number, resumed=False)
        state.confirmed_pause = (pause_number, pause_index)
        early = state.early
        if early is not None and early.tentative and early.pause_number == pause_number:
            return self._tentative_confirmed(segment, state, early, now_s)
        cut_index = min((pause_index + decided_index) // 2, segment.newest_index)
        if cut_index - segment.start_index < MIN_EARLY_SAMPLES:
            return []
        rest = self._stable_sentence(state)
        if rest:
            self.core.counters.endpoint_commits += 1
            return self._commit(segment, state, cut_index, rest, now_s, at_pause=True)
        self._drop_early(state, wasted=False)  # one still in flight is counted when it returns
        state.early = EarlyFinal(pause_number, cut_index)
        return []

    def _count_clause_gap(
        self, state: CommitState, pause_number: int, resume_index: int | None
    ) -> None:
        """Speech came back at ``resume_index`` after confirmed pause ``pause_number``: a clause
        gap when the silence was shorter than ``CommitOptions.clause_gap_s``."""
        confirmed, state.confirmed_pause = state.confirmed_pause, None
        if confirmed is None or confirmed[0] != pause_number or resume_index is None:
            return
        if samples_to_seconds(resume_index - confirmed[1]) < self.commit_options.clause_gap_s:
            state.clause_gaps += 1

    def _holds_sentence_ends(self, state: CommitState) -> bool:
        """Whether an early final's sentence end waits (``hold_after_clause_gaps``)."""
        hold_after = self.commit_options.hold_after_clause_gaps
        return 0 < hold_after <= state.clause_gaps

    @staticmethod
    def _settle_tentative(state: CommitState, pause_number: int, *, resumed: bool) -> None:
        """Record how tentative pause ``pause_number`` ended: confirmed, or speech resumed."""
        if state.tentative_pause != pause_number:
            return
        state.tentative_pause = None
        state.tentative_resumed = (*state.tentative_resumed, resumed)[-TENTATIVE_LOOKBACK:]

    def _stable_sentence(self, state: CommitState) -> list[Word]:
        """The uncommitted words, when all are stable and end a sentence (else none)."""
        partial = state.agreement.partial
        rest = list(partial.stable_words[state.committed_count :])
        if rest and not partial.unstable_words and ends_sentence(rest[-1].text):
            return rest
        return []

    def _decode_at_tentative_pause(
        self, segment: Segment, state: CommitState, cut_index: int, pause_number: int
    ) -> list[Message]:
        """A tentative pause (``vad.pause_decode_ms``): the early final is planned now, its window
        ending at ``cut_index``, the confirmed pause's cut (the same audio); it is committed only
        once the pause is confirmed, dropped if speech resumes first."""
        cut_index = min(cut_index, segment.newest_index)
        if cut_index - segment.start_index < MIN_EARLY_SAMPLES:
            return []
        self._drop_early(state, wasted=False)
        state.early = EarlyFinal(pause_number, cut_index, tentative=True)
        return []

    def _tentative_confirmed(
        self, segment: Segment, state: CommitState, early: EarlyFinal, now_s: float
    ) -> list[Message]:
        """The pause of a tentative early final is confirmed: commit a complete stable sentence
        at once (as at any pause), else the early final when it has answered (or on arrival)."""
        rest = self._stable_sentence(state)
        if rest:
            self.core.counters.endpoint_commits += 1
            self._drop_early(state, wasted=early.words is not None)  # in flight: on return
            return self._commit(segment, state, early.cut_index, rest, now_s, at_pause=True)
        early.tentative = False
        if early.words is None:
            return []  # read on arrival
        return self._early_words(segment, state, early, list(early.words), now_s)

    def resumed(
        self, segment: Segment, pause_number: int, now_s: float, *, resume_index: int | None = None
    ) -> list[Message]:
        """Speech came back after a pause: an early final that ends mid-sentence is wasted."""
        state = self._states.get(segment.key)
        if state is None:
            return []
        state.silent_tail = False
        self._count_clause_gap(state, pause_number, resume_index)
        self._settle_tentative(state, pause_number, resumed=True)
        early = state.early
        if early is None or early.pause_number != pause_number:
            return []
        if early.tentative:  # speech came back before the pause was confirmed
            self._drop_early(state, wasted=early.words is not None)
            return []
        keep = self.commit_options.keep_unsent_early and self._sharing(segment)
        if early.words is None and (early.serial or keep):
            early.resumed = True  # in flight (or kept unsent): read when it comes back
            return []
        if early.words is not None:  # answered, held as the segment's final: speech went on
            return self._resumed_early(segment, state, early, now_s)
        self._drop_early(state, wasted=False)
        return []

    def _resumed_early(
        self, segment: Segment, state: CommitState, early: EarlyFinal, now_s: float
    ) -> list[Message]:
        """An early final whose text ends mid-sentence, and speech resumed after its pause:
        committed at its cut while another stream is in speech too (``commit_resumed_early``),
        else dropped as wasted."""
        assert early.words is not None
        if not (
            self.commit_resumed_early
            and early.words
            and segment.is_open
            and early.cut_index > segment.start_index
            and self._sharing(segment)
        ):
            self._drop_early(state, wasted=True)
            return []
        self.core.counters.early_finals_used += 1
        out = self._commit(segment, state, early.cut_index, list(early.words), now_s, at_pause=True)
        state.silent_tail = False  # speech goes on after the pause
        state.early = None
        return out

    def _sharing(self, segment: Segment) -> bool:
        """Another stream is in speech too (its partials share the pool with this one's)."""
        return any(other.stream_id != segment.stream_id for other in self.core.open_segments())

    def _early_flights(self, free: list[str], now_s: float) -> list[Flight]:
        """Early finals due now, one per free role (the roles used are taken from ``free``)."""
        flights: list[Flight] = []
        for segment in self.core.segments():
            state = self._states.get(segment.key)
            if not free or state is None:
                continue
            early = state.early
            if early is None or early.serial:
                continue
            if early.resumed and not self.commit_options.keep_unsent_early:
                continue  # speech came back before it was sent: dropped
            if early.cut_index <= min(state.window_start_index, segment.start_index):
                state.early = None  # nothing left before the pause (committed meanwhile)
                if state.awaiting_early:
                    state.awaiting_early = False
                    self._decode_rest(segment, now_s)  # the rest is decoded the usual way
                continue
            if early.resumed and not segment.is_open:
                state.early = None  # kept unsent, but the segment ended: decoded the usual way
                continue
            flights.append(self._early_flight(free.pop(0), segment, state, early))
        return flights

    # ---- early finals, sent ----------------------------------------------------------------

    def _early_flight(
        self, role: str, segment: Segment, state: CommitState, early: EarlyFinal
    ) -> Flight:
        state.serial += 1
        early.serial = state.serial
        start_index = min(state.window_start_index, segment.start_index)
        if self.commit_options.context_lead_in_s and self.commit_options.context_lead_after_pause:
            # as the rest's chunks: from a word boundary of the committed words
            # (``CommitOptions.context_lead_in_s``)
            start_index = min(start_index, self._final_start(segment))
        # the committed words before the window are its prompt; those in it are forced as its
        # first words, as for partials
        prompt = self._prompt_before(state, start_index)
        prefix = self._prefix_after(state, start_index)
        request = partial_request(
            segment,
            state.serial,
            start_index,
            early.cut_index,
            prompt,
            prefix,
            self._draft_after(state),
        )
        request_id = partial_request_id(segment.stream_id, segment.segment_id, state.serial) + "e"
        # a final, with its own encoder floor (asr.audio_ctx_early_final_min_s)
        request = dataclasses.replace(request, request_id=request_id, is_partial=False,
                                      early_final=True)  # fmt: skip
        self._early_ids.add(request_id)
        self.core.counters.early_finals_requested += 1
        return Flight(role, request, segment.key, self, state.serial)

    def _early_answered(self, flight: Flight, reply: WorkReply, now_s: float) -> list[Message]:
        segment = self.core.segment(flight.segment)
        state = self._states.get(flight.segment)
        early = state.early if state is not None else None
        if segment is None or state is None or early is None or early.serial != flight.index:
            self.core.counters.early_finals_wasted += 1
            return []
        if not isinstance(reply, TranscribeResult):
            return self._early_failed(flight, now_s)
        request = flight.request
        assert isinstance(request, TranscribeRequest)
        offset_s = samples_to_seconds(request.start_index)
        words = without_repetition_loop(
            [w.shifted(offset_s) for w in reply.words if w.text.strip()],
            self.commit_options.repeat_limit,
        )
        words = words_after(state.committed, words) if state.committed else words
        early.words = tuple(words)
        if early.tentative and segment.is_open:
            return []  # held until the pause is confirmed (or dropped at a resume)
        return self._early_words(segment, state, early, words, now_s)

    def _early_words(
        self,
        segment: Segment,
        state: CommitState,
        early: EarlyFinal,
        words: list[Word],
        now_s: float,
    ) -> list[Message]:
        if not segment.is_open:
            if state.awaiting_early:
                self._take_early(segment, state, early)
                return self.core.complete_if_done(segment, now_s)
            self._drop_early(state, wasted=True)  # speech had resumed: decoded the usual way
            return []
        if (
            words
            and ends_sentence(words[-1].text)
            and early.cut_index > segment.start_index
            and not self._holds_sentence_ends(state)
        ):
            self.core.counters.early_finals_used += 1
            out = self._commit(segment, state, early.cut_index, words, now_s, at_pause=True)
            state.silent_tail = not early.resumed
            state.early = None
            return out
        if early.resumed:
            return self._resumed_early(segment, state, early, now_s)
        return []  # held: the segment's final if it ends before speech resumes

    def _take_early(self, segment: Segment, state: CommitState, early: EarlyFinal) -> None:
        """The segment ended with no speech after the pause: the early final is its final."""
        assert early.words is not None
        self.core.counters.early_finals_used += 1
        self._finals[segment.key] = (early.words, merged_text(early.words))
        state.early = None
        state.awaiting_early = False

    def _early_failed(self, flight: Flight, now_s: float) -> list[Message]:
        segment = self.core.segment(flight.segment)
        state = self._states.get(flight.segment)
        if state is None or state.early is None or state.early.serial != flight.index:
            return []
        state.early = None
        self.core.counters.early_finals_wasted += 1
        if segment is not None and state.awaiting_early:
            state.awaiting_early = False
            self._decode_rest(segment, now_s)  # decode the rest the usual way
        return []

    def _drop_early(self, state: CommitState, *, wasted: bool) -> None:
        if state.early is not None and wasted:
            self.core.counters.early_finals_wasted += 1
        state.early = None

    def _early_waiting(self) -> int:
        """Early finals planned and not sent yet (final work waiting for a worker)."""
        return sum(
            1
            for state in self._states.values()
            if state.early is not None
            and not state.early.serial
            and not state.early.resumed
            and not state.early.tentative  # speculative: sent to a free worker, pre-empts nothing
        )
