"""The state ``commits.CommittedSegments`` keeps per open segment, and its early final."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.local_agreement import LocalAgreement
from pipeline.scheduling.partial_cadence import PartialCadence
from pipeline.words import Word


@dataclass(eq=False, slots=True)
class EarlyFinal:
    """The final of the uncommitted audio up to a pause, decoded before the segment ends."""

    pause_number: int
    cut_index: int  # it covers [the segment's start when sent, cut_index)
    serial: int = 0  # its request's serial (0: not sent yet)
    words: tuple[Word, ...] | None = None  # its answer, committed words removed
    resumed: bool = False  # speech came back after the pause
    tentative: bool = False  # sent at a tentative pause: committed only once it is confirmed


@dataclass(eq=False, slots=True)
class CommitState:
    """The work done for one segment while it is open (and its early final after)."""

    context_text: str  # the stream's published text before the segment (prompts)
    window_start_index: int  # partial windows start here (at or before the segment's start)
    agreement: LocalAgreement = field(default_factory=LocalAgreement)
    committed: list[Word] = field(default_factory=list)  # words made final, in order
    committed_count: int = 0  # stable words of the agreement that are committed
    serial: int = 0  # requests made for it (partials and early finals)
    busy: bool = False  # a partial is in flight
    last_request_s: float | None = None
    last_end_index: int = 0  # end of the newest partial request's audio
    last_serial: int = 0  # serial of the newest partial read (0: none)
    heard_end_s: float | None = None  # end of the audio the newest hypothesis read heard
    early: EarlyFinal | None = None  # the early final of the current pause
    silent_tail: bool = False  # all audio up to a pause is committed and speech did not resume
    awaiting_early: bool = False  # ended: its final is the early final in flight
    tentative_pause: int | None = None  # the pause number of a tentative pause not yet settled
    # the last TENTATIVE_LOOKBACK tentative pauses (early_finals): True when speech resumed
    tentative_resumed: tuple[bool, ...] = ()
    # the confirmed pause speech may resume after: (its number, where its silence began)
    confirmed_pause: tuple[int, int] | None = None
    clause_gaps: int = 0  # confirmed pauses resumed within ``CommitOptions.clause_gap_s``
    cadence: PartialCadence = field(default_factory=PartialCadence)  # when partials may go
    # windows, early finals and the final start here, at a word boundary before a pause, with
    # the final words after it forced as the prefix (``CommitOptions.context_lead_in_s``)
    lead_start_index: int | None = None
    piece_start_index: int = 0  # the segment's start or its last commit at a pause
    # the sentence end the last partial timed by one went for, and how many went for it
    # (``CommitOptions.sentence_end_delay_s``)
    hurried_end_s: float | None = None
    hurried_tries: int = 0
