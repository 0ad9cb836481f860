"""Chunked finals plus commits while speech goes on, early finals at pauses (Whisper).

One ``FinalWork`` that extends ``chunked.ChunkedSegments`` with the work done while a segment
is open; it replaces ``partials.Partials``. Dispatch order: final chunks first, then early finals,
then partials (a partial is never sent while final work waits).

- Partials cover the uncommitted audio: from a window start (the last cut, or before it as
  context: ``CommitOptions.partial_context_s`` of committed speech, or the older growing
  context) to the newest audio, never more than one model window, prompted with the stream's
  text before the window; the committed words inside the window are forced as the decoder's
  prefix (``CommitOptions.prefix_committed``), so a partial generates only the new words. Their words go through local agreement (``pipeline.local_agreement``).
- Commits (``commit_policy``): stable words that end ``margin_s`` before the newest audio the
  hypothesis heard become a final of their own at once (``core.commit``): the segment is cut at
  that word boundary and goes on from the cut. When hypotheses keep disagreeing and more than
  ``stall_after_s`` is uncommitted, the newest hypothesis' words heard ``stall_margin_s`` before
  its end are committed instead, so commits never stall. With ``confident_commit`` (the
  daemon's default), words the newest hypothesis alone is confident of are committed without
  waiting for the next to agree (``commit_policy.confident_count``). A segment that a
  restarted VAD detects again starts after the stream's committed audio.
- A sentence's last words (``CommitOptions.sentence_end_delay_s``, the daemon's default): a
  hypothesis that heard a sentence end and left it uncommitted brings the next partial at once
  instead of a partial interval later. (``boundary_tolerance_s``, off: two hypotheses that end
  a sentence at the same place commit the newest one's words up to it.)
- Pauses (``early_finals.EarlyFinals``): a complete sentence is committed when silence begins;
  otherwise an early final of the audio up to the silence is decoded at once.
- The segment's final covers what is left after the last cut: chunks decoded at its end from
  a word boundary up to ``context_lead_in_s`` before the cut, the committed words there forced
  as the prefix and dropped from the result (``lead_in_s`` before the cut when that is off), an
  early final, or nothing when everything up to the silence was committed and speech never
  resumed. ``context_lead_after_pause`` (off) does the same after pauses and across segments.
- Prompts: a segment is prompted with the tail of the stream's recent finals
  (``CommitOptions.prompt_recent_chars``), not the last final alone, so one misheard short
  final does not steer the sentences after it.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from pipeline.audio_format import samples_to_seconds, seconds_to_samples
from pipeline.local_agreement import LocalAgreement, words_after
from pipeline.merging import merged_text
from pipeline.messages.base import Message
from pipeline.messages.work import TranscribeRequest, TranscribeResult
from pipeline.scheduling.chunked import ChunkedSegments
from pipeline.scheduling.commit_policy import (
    CommitOptions,
    awaits_agreement,
    committable,
    confident_count,
    continues,
    cut_after,
    ends_sentence,
    language_boundary,
    lead_in_start_index,
    lead_in_start_s,
    lead_in_words,
    partial_window,
    sentence_boundary_count,
    sliding_window_start,
    spells_large_number,
    window_start_after_commit,
)
from pipeline.scheduling.commit_state import CommitState
from pipeline.scheduling.early_finals import EarlyFinals
from pipeline.scheduling.first_partial import PREVIEW_TRIES, is_preview, partial_min_samples
from pipeline.scheduling.flights import WorkReply
from pipeline.scheduling.partial_cadence import SAME_END_S
from pipeline.scheduling.requests import partial_request, prompt_tail
from pipeline.scheduling.segment import Segment, SegmentKey
from pipeline.scheduling.work_kind import Flight
from pipeline.words import Word

logger = logging.getLogger(__name__)

RECENT_WORDS = 40  # final words kept per stream for the next segment's lead-in
# a hypothesis word that starts up to this long before the last committed word ends still
# follows it in a draft (word times drift between hypotheses)
DRAFT_TOLERANCE_S = 0.05


class CommittedSegments(EarlyFinals, ChunkedSegments):
    """Chunked finals, partials of the uncommitted audio, commits and early finals."""

    def __init__(self, options: CommitOptions | None = None) -> None:
        super().__init__()
        self.commit_options = options or CommitOptions()
        self._states: dict[SegmentKey, CommitState] = {}
        self._early_ids: set[str] = set()  # request ids of early finals in flight
        self._finals: dict[SegmentKey, tuple[tuple[Word, ...], str]] = {}  # known without chunks
        self._committed_until: dict[str, int] = {}  # stream -> end of its last committed part
        self._recent_words: dict[str, list[Word]] = {}  # stream -> its last final words
        self._prompt_texts: dict[str, list[str]] = {}  # stream -> recent finals fit to prompt
        self.short_pauses = 0  # short pauses that moved a segment's next partial (short_pause)

    # ---- segment lifecycle ------------------------------------------------------------------

    def began(self, segment: Segment) -> None:
        # A VAD restarted while a segment was open detects its audio again from that segment's
        # start: what was committed of it is published already and is not transcribed twice.
        committed_until = self._committed_until.get(segment.stream_id, 0)
        restarted = segment.start_index < committed_until
        if restarted:
            logger.info(
                "%s/%d starts after its committed audio, at %d", *segment.key, committed_until
            )
            segment.start_index = committed_until
            segment.newest_index = max(segment.newest_index, committed_until)
        state = CommitState(
            context_text=self._stream_prompt(segment.stream_id),
            window_start_index=segment.start_index,
            last_end_index=segment.start_index,
            piece_start_index=segment.start_index,
            agreement=LocalAgreement(
                lookback=self.commit_options.agreement_lookback,
                bridge_words=self.commit_options.agreement_bridge_words,
                bridge_similar=self.commit_options.agreement_bridge_similar,
                min_gap_s=self.commit_options.agreement_min_gap_s,
            ),
        )
        self._states[segment.key] = state
        if not restarted and self.commit_options.context_lead_after_pause:
            self._lead_into(segment, state)

    def _lead_into(self, segment: Segment, state: CommitState) -> None:
        """A new segment hears the end of the stream's previous final again: its windows start
        at a word boundary up to ``context_lead_in_s`` before it, those words forced as the
        prefix (taken as committed, so never published again) and left out of the prompt.
        Only when they are the end of the published text the prompt is made of."""
        options = self.commit_options
        words = self._recent_words.get(segment.stream_id, [])
        lead = lead_in_words(
            words,
            samples_to_seconds(segment.start_index),
            options.context_lead_in_s,
            options.context_lead_max_gap_s,
        )
        while lead and not state.context_text.endswith(merged_text(lead)):
            lead = lead[1:]  # only the words of the published text the prompt is made of
        lead_text = merged_text(lead)
        if not lead_text:
            return
        start_index = seconds_to_samples(lead_in_start_s(words, lead, options.cut_pad_s))
        if start_index >= segment.start_index:
            return
        state.context_text = state.context_text[: -len(lead_text)].rstrip()
        state.committed.extend(lead)
        state.agreement.seed(state.committed)
        state.committed_count = len(state.agreement.partial.stable_words)
        self._lead_from(state, start_index)

    def _lead_from(self, state: CommitState, start_index: int) -> None:
        """The requests after a pause start at ``start_index`` (a lead-in in the final words
        before it): the early final and the rest, and the partials with
        ``CommitOptions.context_lead_partials``."""
        state.lead_start_index = start_index
        if self.commit_options.context_lead_partials:
            state.window_start_index = start_index

    def ended(self, segment: Segment, now_s: float) -> None:
        state = self._states.get(segment.key)
        early = state.early if state is not None else None
        if state is not None and state.silent_tail:
            self._finals[segment.key] = ((), "")  # nothing was said after the last cut
        elif state is not None and early is not None and not early.resumed:
            if early.words is not None:
                self._take_early(segment, state, early)  # the core completes it next
            else:
                state.awaiting_early = True  # in flight or about to be sent
        else:
            super().ended(segment, now_s)

    def forget(self, segment: Segment) -> None:
        final = self.final_words(segment) if not segment.is_open else None
        if final is not None and final[0]:
            self._remember(segment.stream_id, final[0])
        super().forget(segment)
        self._states.pop(segment.key, None)
        self._finals.pop(segment.key, None)

    def forget_stream(self, stream_id: str) -> None:
        self._committed_until.pop(stream_id, None)
        self._recent_words.pop(stream_id, None)
        self._prompt_texts.pop(stream_id, None)

    def _remember(self, stream_id: str, words: tuple[Word, ...] | list[Word]) -> None:
        """The stream's newest final words (a later segment's lead-in and prompt)."""
        spoken = [w for w in words if w.text.strip()]
        recent = self._recent_words.setdefault(stream_id, [])
        recent.extend(spoken)
        del recent[:-RECENT_WORDS]
        options = self.commit_options
        if spoken and (options.prompt_recent_chars or options.prompt_min_probability):
            texts = self._prompt_texts.setdefault(stream_id, [])
            mean = sum(w.probability for w in spoken) / len(spoken)
            spelled = options.prompt_skip_spelled_numbers and spells_large_number(spoken)
            if mean >= options.prompt_min_probability and not spelled:
                texts.append(merged_text(spoken))
                del texts[:-RECENT_WORDS]

    def _stream_prompt(self, stream_id: str) -> str:
        """What a new segment of the stream is prompted with: the core's prompt (its last
        final), or the recent finals fit to prompt (``CommitOptions.prompt_recent_chars``,
        ``prompt_min_probability``)."""
        options = self.commit_options
        texts = self._prompt_texts.get(stream_id)
        if texts is None or not self.core.options.use_prompt:
            return self.core.prompt(stream_id)
        if not options.prompt_recent_chars:
            return prompt_tail(texts[-1] if texts else "", self.core.options.prompt_max_chars)
        chars = min(options.prompt_recent_chars, self.core.options.prompt_max_chars)
        return prompt_tail(" ".join(texts), chars)

    def final_words(self, segment: Segment) -> tuple[tuple[Word, ...], str] | None:
        known = self._finals.get(segment.key)
        if known is not None:
            return known
        final = super().final_words(segment)
        state = self._states.get(segment.key)
        if final is None or state is None or not state.committed:
            return final
        words = words_after(state.committed, final[0])  # the lead-in's committed words out
        return (tuple(words), merged_text(words)) if len(words) != len(final[0]) else final

    def _decode_rest(self, segment: Segment, now_s: float) -> None:
        ChunkedSegments.ended(self, segment, now_s)

    def _final_start(self, segment: Segment) -> int:
        """After commits, the rest's chunks start ``lead_in_s`` before the last cut (within the
        window), so a word the cut's timestamps misplaced is heard again."""
        state = self._states.get(segment.key)
        if state is None or not state.committed:
            return segment.start_index
        if state.lead_start_index is not None:  # after a pause, from a word boundary
            return min(segment.start_index, state.lead_start_index)
        options = self.commit_options
        start_index = lead_in_start_index(
            state.committed,
            segment.start_index,
            options.context_lead_in_s,
            options.context_lead_max_gap_s,
            options.cut_pad_s,
        )
        if start_index is not None:  # from a word boundary, those words forced as the prefix
            return start_index  # (``_prefix``)
        lead_in = seconds_to_samples(self.commit_options.lead_in_s)
        return min(
            segment.start_index, max(state.window_start_index, segment.start_index - lead_in)
        )

    def _prompt(self, segment: Segment) -> str:
        state = self._states.get(segment.key)
        if state is None:
            return super()._prompt(segment)
        return self._prompt_before(state, self._final_start(segment))

    def _prefix(self, segment: Segment) -> str:
        """The committed words of the rest's lead-in, forced as its first words as a partial's
        are: prompted only with the words before the lead-in, tiny.en may take the lead-in's
        words for the prompt's and drop what follows them (jfk.flac: "…can do for" as prompt,
        "ask what you can do for your country" heard, "your country" decoded)."""
        state = self._states.get(segment.key)
        if state is None or not state.committed:
            return ""
        return self._prefix_after(state, self._final_start(segment))

    def _draft(self, segment: Segment) -> str:
        state = self._states.get(segment.key)
        return "" if state is None else self._draft_after(state)

    # ---- work -----------------------------------------------------------------------------

    def plan(self, free_roles: list[str], now_s: float) -> list[Flight]:
        flights = super().plan(free_roles, now_s)
        taken = {flight.role for flight in flights}
        free = [role for role in free_roles if role not in taken]
        if not free or super().pending():
            return flights  # finals first
        flights.extend(self._early_flights(free, now_s))  # takes the roles it uses
        for segment, state in self._due_partials(now_s):
            if not free:
                break
            flights.append(self._partial_flight(free.pop(0), segment, state, now_s))
        return flights

    def answered(self, flight: Flight, reply: WorkReply, now_s: float) -> list[Message]:
        request = flight.request
        if isinstance(request, TranscribeRequest) and request.request_id in self._early_ids:
            self._early_ids.discard(request.request_id)
            return self._early_answered(flight, reply, now_s)
        if isinstance(request, TranscribeRequest) and request.is_partial:
            return self._partial_answered(flight, reply, now_s)
        return super().answered(flight, reply, now_s)

    def lost(self, flight: Flight, why: str, now_s: float) -> list[Message]:
        request = flight.request
        if isinstance(request, TranscribeRequest) and request.request_id in self._early_ids:
            self._early_ids.discard(request.request_id)
            return self._early_failed(flight, now_s)
        if isinstance(request, TranscribeRequest) and request.is_partial:
            self._release_partial(flight)
            self.core.counters.partials_failed += 1
            return []
        return super().lost(flight, why, now_s)

    def unsent(self, flight: Flight) -> None:
        request = flight.request
        state = self._states.get(flight.segment)
        if isinstance(request, TranscribeRequest) and request.request_id in self._early_ids:
            self._early_ids.discard(request.request_id)
            if state is not None and state.early is not None and state.early.serial == flight.index:
                state.early.serial = 0  # planned again
            return
        if isinstance(request, TranscribeRequest) and request.is_partial:
            self._release_partial(flight)
            segment = self.core.segment(flight.segment)
            if state is not None and segment is not None:
                state.last_request_s = state.cadence.unsent()  # its round-robin place kept
                state.last_end_index = segment.start_index
            return
        super().unsent(flight)

    # ---- partials and commits -------------------------------------------------------------

    def _due_partials(self, now_s: float) -> list[tuple[Segment, CommitState]]:
        options = self.core.options
        due = []
        for segment in self.core.open_segments():
            state = self._states.get(segment.key)
            if state is None or state.busy or (state.early is not None and not state.early.resumed):
                continue  # one partial at a time; none over the silence of a pause
            if not self._has_new_audio(segment, state):
                continue
            silent = state.silent_tail  # all committed up to a pause: no partial over silence
            if state.cadence.due(state.last_request_s, now_s, options.partial_interval_s,
                                 silent_tail=silent, newest_at_s=segment.newest_at_s,
                                 fresh_s=self.commit_options.fresh_audio_s):  # fmt: skip
                due.append((segment, state))
        due.sort(
            key=lambda item: (
                float("-inf") if item[1].last_request_s is None else item[1].last_request_s,
                item[0].order,
            )
        )
        return due

    def _has_new_audio(self, segment: Segment, state: CommitState) -> bool:
        """Audio a partial could cover: the window (its committed context included) holds
        ``partial_min_audio`` and reaches past the last partial's end."""
        # a segment's first partial, or the next try after a preview that showed nothing
        first = state.serial == 0 or (
            segment.partial_revision == 0 and state.serial < PREVIEW_TRIES
        )
        min_samples = partial_min_samples(self.core.options, first=first)
        heard_from = state.window_start_index
        if state.lead_start_index is not None:  # the lead-in is not new audio
            heard_from = max(heard_from, segment.start_index)
        window_samples = segment.newest_index - heard_from
        return window_samples >= min_samples and segment.newest_index > state.last_end_index

    def _prompt_before(
        self, state: CommitState, start_index: int, context_text: str | None = None
    ) -> str:
        """The stream's text before ``start_index``: earlier finals (``context_text``, default
        the segment's prompt) and the committed words heard before it."""
        options = self.core.options
        if not options.use_prompt:
            return ""
        start_s = samples_to_seconds(start_index)
        before = merged_text(w for w in state.committed if w.end_s <= start_s)
        context = state.context_text if context_text is None else context_text
        text = f"{context} {before}".strip()
        return prompt_tail(text, options.prompt_max_chars)

    def _prefix_after(self, state: CommitState, start_index: int) -> str:
        """The committed words a partial window from ``start_index`` hears (those not in its
        prompt): the decoder is given them, so it generates only the words after them."""
        if not self.commit_options.prefix_committed:
            return ""
        start_s = samples_to_seconds(start_index)
        return merged_text(w for w in state.committed if w.end_s > start_s)

    def _draft_after(self, state: CommitState) -> str:
        """The words the segment's newest hypothesis said after its committed words: a request
        over the same audio likely says them again (``TranscribeRequest.draft``); "" when
        ``CommitOptions.drafts`` is off."""
        if not self.commit_options.drafts:
            return ""
        partial = state.agreement.partial
        words = partial.stable_words + partial.unstable_words
        if state.committed:
            end_s = state.committed[-1].end_s - DRAFT_TOLERANCE_S
            words = tuple(w for w in words if w.start_s >= end_s)
        return merged_text(words)

    def _partial_flight(
        self, role: str, segment: Segment, state: CommitState, now_s: float
    ) -> Flight:
        window_start = state.window_start_index
        new_samples = segment.newest_index - segment.start_index
        if (
            state.lead_start_index is not None
            and new_samples < self.core.options.partial_min_audio_samples
        ):
            window_start = segment.start_index  # a preview (first_partial) without the lead-in
        start_index, end_index = partial_window(
            window_start, segment.newest_index, self.core.options.window_samples
        )
        state.serial += 1
        state.busy = True
        state.cadence.sent(state.last_request_s)
        state.last_request_s = now_s
        state.last_end_index = end_index
        self.core.counters.partials_requested += 1
        request = partial_request(
            segment,
            state.serial,
            start_index,
            end_index,
            self._prompt_before(state, window_start),
            self._prefix_after(state, start_index),
            self._draft_after(state),
        )
        if is_preview(request, self.core.options):  # its suspect answer is dropped, not retried
            prompt = self._prompt_before(state, window_start, self.core.prompt(segment.stream_id))
            request = replace(request, preview=True, prompt=prompt)  # first_partial: its prompt
        return Flight(role, request, segment.key, self, state.serial)

    def _release_partial(self, flight: Flight) -> None:
        state = self._states.get(flight.segment)
        if state is not None:
            state.busy = False

    def _partial_answered(self, flight: Flight, reply: WorkReply, now_s: float) -> list[Message]:
        self._release_partial(flight)
        segment = self.core.segment(flight.segment)
        state = self._states.get(flight.segment)
        request = flight.request
        assert isinstance(request, TranscribeRequest)
        if not isinstance(reply, TranscribeResult):
            self.core.counters.partials_failed += 1
            self._preview_again(segment, state, request)
            return []
        if (
            segment is None
            or state is None
            or not segment.is_open
            or flight.index <= state.last_serial
        ):
            self.core.counters.partials_stale += 1
            return []
        if is_preview(request, self.core.options):  # shown, never agreed on (first_partial)
            state.last_serial = flight.index
            text = merged_text(reply.words)
            if not text:
                self._preview_again(segment, state, request)
            return [self.core.partial(segment, "", text, request.end_index)] if text else []
        offset_s = samples_to_seconds(request.start_index)
        heard_end_s = samples_to_seconds(request.end_index)
        partial = state.agreement.update([w.shifted(offset_s) for w in reply.words], heard_end_s)
        state.cadence.heard([w.text for w in reply.words])
        state.last_serial = flight.index
        out: list[Message] = []
        stable = partial.stable_words
        previous_heard_end_s, state.heard_end_s = state.heard_end_s, heard_end_s
        margin_s = self.commit_options.margin_s
        count = committable(stable, state.committed_count, heard_end_s, margin_s)
        hypothesis = [*stable, *partial.unstable_words]
        confident = self._confident_count(state, stable, heard_end_s, previous_heard_end_s)
        if confident > count:
            count = confident
            margin_s = self.commit_options.confident_margin_s
            hypothesis = [*stable, *state.agreement.newest_tail]
        count = self._held_short(segment, state, hypothesis, count, heard_end_s)
        count = self._held_unsure(hypothesis, state.committed_count, count, heard_end_s)
        while (
            count > state.committed_count
            and count < len(hypothesis)
            and continues(hypothesis[count])
        ):
            count -= 1  # the first unstable word may be the rest of the last stable one
        count = self._language_boundary(hypothesis, state.committed_count, count)
        if count > state.committed_count:
            words = hypothesis[state.committed_count : count]
            following = hypothesis[count] if count < len(hypothesis) else None
            cut_s = cut_after(
                words[-1], following, heard_end_s - margin_s, self.commit_options.cut_pad_s
            )
            cut_index = min(seconds_to_samples(cut_s), segment.newest_index)
            if cut_index > segment.start_index:
                out.extend(self._commit(segment, state, cut_index, words, now_s, at_pause=False))
                if count > len(stable):  # committed on one hypothesis' confidence
                    self.core.counters.confident_commits += 1
                    partial = state.agreement.accept(count - len(stable))
                    stable = partial.stable_words
                state.committed_count = count
        elif segment.audio_samples > seconds_to_samples(self.commit_options.stall_after_s):
            rest = [*stable[state.committed_count :], *partial.unstable_words]
            count = self._language_boundary(rest, 0, self._stalled_count(rest, heard_end_s))
            stalled = self._commit_stalled(segment, state, rest, count, heard_end_s, now_s)
            if stalled is not None:
                unstable = merged_text(rest[count:])
                return [*stalled, self.core.partial(segment, "", unstable, request.end_index)]
        hypothesis = [*stable, *partial.unstable_words]
        self._hurry_agreement(segment, state, hypothesis, heard_end_s)
        if self.commit_options.sentence_end_delay_s > 0:
            self._hurry_sentence_end(segment, state, hypothesis, now_s)
        rest_stable = merged_text(stable[state.committed_count :])
        if (rest_stable, partial.unstable) != segment.last_partial_text:
            out.append(self.core.partial(segment, rest_stable, partial.unstable, request.end_index))
        return out

    def short_pause(
        self, stream_id: str, pause_index: int, decided_index: int, now_s: float
    ) -> None:
        """Silence began at ``pause_index`` inside the stream's open segment and lasted up to
        ``decided_index``, shorter than the VAD's pause (``CommitOptions.short_pause_partial``):
        the segment's next partial covers the audio up to ``decided_index`` and goes
        ``short_pause_delay_s`` from now, in place of the cadence's next one (the cadence goes on
        from it). Nothing is cut at the pause, and no partial is added. Off by default, and no
        VAD event calls it yet: measured in ``bench/commit_latency.py --simulate``
        (``--pause-hint-ms``), see ``CommitOptions``."""
        options = self.commit_options
        if not options.short_pause_partial:
            return
        segment = next((s for s in self.core.open_segments() if s.stream_id == stream_id), None)
        state = self._states.get(segment.key) if segment is not None else None
        if (
            segment is None
            or state is None
            or state.busy
            or state.silent_tail
            or state.early is not None
            or state.last_request_s is None
            or pause_index <= max(state.last_end_index, segment.start_index)
        ):
            return  # a partial in flight or none yet, a pause's own work, or heard already
        segment.heard(decided_index, now_s)
        interval_s = self.core.options.partial_interval_s * state.cadence.stretch
        state.last_request_s = now_s + options.short_pause_delay_s - interval_s
        self.short_pauses += 1

    def _held_short(
        self,
        segment: Segment,
        state: CommitState,
        hypothesis: list[Word],
        count: int,
        heard_end_s: float,
    ) -> int:
        """Fewer mid-speech commits of short pieces (``CommitOptions.first_commit_min_s``,
        ``commit_min_s``, ``first_commit_margin_s``): how many of ``hypothesis``' first
        ``count`` words may be committed now."""
        options = self.commit_options
        committed = state.committed_count
        if count <= committed:
            return count
        heard_s = heard_end_s - samples_to_seconds(segment.start_index)
        first = segment.start_index <= state.piece_start_index  # nothing cut from the piece
        if (options.commit_min_s > 0 and heard_s < options.commit_min_s) or (
            first and options.first_commit_min_s > 0 and heard_s < options.first_commit_min_s
        ):
            return committed
        if first and options.first_commit_margin_s > 0:
            limit_s = heard_end_s - options.first_commit_margin_s
            while count > committed and hypothesis[count - 1].end_s > limit_s:
                count -= 1
        return count

    def _held_unsure(
        self, hypothesis: list[Word], committed: int, count: int, heard_end_s: float
    ) -> int:
        """Mid-speech commits stop before the first word the newest hypothesis is unsure of
        (``CommitOptions.unsure_hold_probability``), agreed or not, while it ends within
        ``unsure_hold_s`` of the newest audio (0: however old)."""
        options = self.commit_options
        if options.unsure_hold_probability <= 0:
            return count
        limit_s = heard_end_s - options.unsure_hold_s if options.unsure_hold_s > 0 else None
        for index in range(committed, count):
            word = hypothesis[index]
            if word.probability < options.unsure_hold_probability and (
                limit_s is None or word.end_s > limit_s
            ):
                return index
        return count

    def _language_boundary(self, words: list[Word], committed: int, count: int) -> int:
        """Where a commit of ``words[committed:count]`` ends so that it cuts no number apart
        and, when asked, ends at a clause (``commit_policy.language_boundary``)."""
        options = self.commit_options
        if count <= committed or not (options.number_boundary or options.clause_reach_words):
            return count
        return language_boundary(
            words,
            committed,
            count,
            numbers=options.number_boundary,
            clause_reach_words=options.clause_reach_words,
            clause_wait=options.clause_wait,
        )

    def _hurry_agreement(
        self, segment: Segment, state: CommitState, hypothesis: list[Word], heard_end_s: float
    ) -> None:
        """Words left one agreement short: the next partial may go ``agreement_interval_s``
        after the last one instead of the profile's interval; more than ``long_uncommitted_s``
        of uncommitted audio heard: ``long_interval_s`` after it."""
        options = self.commit_options
        interval_s = self.core.options.partial_interval_s
        if state.last_request_s is None:
            return
        soon_s = interval_s
        if 0 < options.agreement_interval_s < interval_s and awaits_agreement(
            hypothesis[state.committed_count :], heard_end_s, options.margin_s
        ):
            soon_s = options.agreement_interval_s
        uncommitted_s = heard_end_s - samples_to_seconds(segment.start_index)
        if 0 < options.long_uncommitted_s <= uncommitted_s:
            soon_s = min(soon_s, options.long_interval_s)
        if soon_s < interval_s:
            state.last_request_s -= interval_s - soon_s

    def _hurry_sentence_end(
        self, segment: Segment, state: CommitState, hypothesis: list[Word], now_s: float
    ) -> None:
        """A sentence end among the uncommitted words of ``hypothesis``: the next partial goes
        once the newest audio is ``sentence_end_delay_s`` past it, up to ``sentence_end_tries``
        times per sentence end (``CommitOptions.sentence_end_delay_s``)."""
        options = self.commit_options
        rest = hypothesis[state.committed_count : -1]  # a word follows: not the window's end
        end_s = next((w.end_s for w in rest if ends_sentence(w.text)), None)
        if end_s is None:
            return
        same = state.hurried_end_s is not None and abs(end_s - state.hurried_end_s) <= SAME_END_S
        if same and state.hurried_tries >= options.sentence_end_tries:
            return
        if state.last_request_s is None:
            return
        state.hurried_tries = state.hurried_tries + 1 if same else 1
        state.hurried_end_s = end_s
        interval_s = self.core.options.partial_interval_s * state.cadence.stretch
        newest_s = samples_to_seconds(segment.newest_index)
        wait_s = max(0.0, end_s + options.sentence_end_delay_s - newest_s)
        state.last_request_s = min(state.last_request_s, now_s + wait_s - interval_s)

    def _confident_count(
        self,
        state: CommitState,
        stable: tuple[Word, ...],
        heard_end_s: float,
        previous_heard_end_s: float | None,
    ) -> int:
        """How many of the segment's stable words and the newest hypothesis' words after them
        are final on that hypothesis' confidence alone (``commit_policy.confident_count``):
        none when that is off or the hypothesis held a repetition loop."""
        options = self.commit_options
        if not options.confident_commit or state.agreement.newest_looped:
            return 0
        rest = [*stable[state.committed_count :], *state.agreement.newest_tail]
        boundary = 0
        if options.boundary_tolerance_s > 0:
            boundary = sentence_boundary_count(
                rest,
                len(stable) - state.committed_count,
                heard_end_s,
                state.agreement.previous_tail,
                previous_heard_end_s,
                options.confident_margin_s,
                options.boundary_tolerance_s,
                options.boundary_max_words,
            )
        return state.committed_count + max(
            boundary,
            confident_count(
                rest,
                len(stable) - state.committed_count,
                heard_end_s,
                state.agreement.previous_tail,
                previous_heard_end_s,
                options.confident_probability,
                options.confident_margin_s,
                options.confident_next_probability,
                options.settled_s,
                options.settled_probability,
                options.confident_next_start_s,
                options.confident_next_start_probability,
            ),
        )

    def _preview_again(
        self, segment: Segment | None, state: CommitState | None, request: TranscribeRequest
    ) -> None:
        """A segment's first preview gave nothing (a breath, too little speech, dropped as
        suspect): the next may go with the next audio instead of a partial interval later."""
        if (
            segment is not None
            and state is not None
            and segment.partial_revision == 0
            and state.serial < PREVIEW_TRIES
            and is_preview(request, self.core.options)
        ):
            state.last_request_s = None

    def _stalled_count(self, rest: list[Word], heard_end_s: float) -> int:
        return committable(rest, 0, heard_end_s, self.commit_options.stall_margin_s)

    def _commit_stalled(
        self,
        segment: Segment,
        state: CommitState,
        rest: list[Word],
        count: int,
        heard_end_s: float,
        now_s: float,
    ) -> list[Message] | None:
        """Hypotheses keep disagreeing while the uncommitted audio grows: commit the newest
        one's first ``count`` words (heard ``stall_margin_s`` before its end, about the right
        context a final chunk has) and start the agreement over after them. None: nothing to
        commit."""
        if not count:
            return None
        margin_s = self.commit_options.stall_margin_s
        words = rest[:count]
        following = rest[count] if count < len(rest) else None
        cut_s = cut_after(
            words[-1], following, heard_end_s - margin_s, self.commit_options.cut_pad_s
        )
        cut_index = min(seconds_to_samples(cut_s), segment.newest_index)
        if cut_index <= segment.start_index:
            return None
        self.core.counters.stalled_commits += 1
        out = self._commit(segment, state, cut_index, words, now_s, at_pause=False)
        state.agreement.seed(state.committed)
        state.committed_count = len(state.agreement.partial.stable_words)
        return out

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
        """Publish ``words`` as the final of the segment's audio up to ``cut_index``."""
        words = [w for w in words if w.text.strip()]
        out = self.core.commit(segment, cut_index, tuple(words), now_s)
        self._committed_until[segment.stream_id] = cut_index
        self.core.counters.commits += 1
        state.committed.extend(words)
        self._remember(segment.stream_id, words)
        state.lead_start_index = None
        options = self.commit_options
        if at_pause:
            state.piece_start_index = cut_index
            state.agreement.seed(state.committed)
            state.committed_count = len(state.agreement.partial.stable_words)
            state.window_start_index = cut_index
            state.silent_tail = True
            start_index = None
            if options.context_lead_after_pause:
                start_index = lead_in_start_index(
                    state.committed,
                    cut_index,
                    options.context_lead_in_s,
                    options.context_lead_max_gap_s,
                    options.cut_pad_s,
                )
            if start_index is not None:
                self._lead_from(state, start_index)
        elif words:
            start_index = None
            if options.partial_context_s > 0:
                start_index = sliding_window_start(
                    state.committed,
                    state.window_start_index,
                    cut_index,
                    options.partial_context_s,
                    options.cut_pad_s,
                )
            if start_index is None:
                start_index = window_start_after_commit(
                    state.window_start_index,
                    cut_index,
                    words[-1],
                    seconds_to_samples(options.max_context_s),
                    seconds_to_samples(options.lead_in_s),
                )
            state.window_start_index = start_index
        state.last_end_index = max(state.last_end_index, cut_index)
        logger.debug(
            "%s/%d committed %d words up to %d%s",
            *segment.key,
            len(words),
            cut_index,
            " at a pause" if at_pause else "",
        )
        return out

    # ---- introspection --------------------------------------------------------------------

    def needed_index(self, segment: Segment) -> int | None:
        state = self._states.get(segment.key)
        if state is not None and (segment.is_open or state.awaiting_early or state.early):
            # the rest's final may start at a word boundary before the window (_final_start)
            return min(state.window_start_index, segment.start_index, self._final_start(segment))
        return super().needed_index(segment)

    def queue_depths(self) -> dict[str, int]:
        depths = super().queue_depths()
        depths["finals"] = depths.get("finals", 0) + self._early_waiting()
        depths["partials"] = sum(
            1
            for segment in self.core.open_segments()
            if (state := self._states.get(segment.key)) is not None
            and not state.busy
            and self._has_new_audio(segment, state)
        )
        return depths

    def pending(self) -> bool:
        return super().pending() or self._early_waiting() > 0

    def sizes(self) -> dict[str, int]:
        return {
            **super().sizes(),
            "commit_segments": len(self._states),
            "early_in_flight": len(self._early_ids),
            "known_finals": len(self._finals),
            "committed_streams": len(self._committed_until),
        }
