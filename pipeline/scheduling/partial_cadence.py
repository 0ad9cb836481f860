"""When an open segment's next partial may go: the profile's interval, longer while partials
bring nothing new, none over a silent tail.

Every partial costs an encoder pass over at least ``asr.audio_ctx_partial_min_s`` (6 s) of
audio and a decode of its window, several times what the offline pass pays per second of audio
(README, "CPU"). Two cases where a partial is known to add nothing:

- **Silent tail.** Everything up to a pause has been committed and speech has not resumed: the
  audio a partial would add is silence, and the segment's end (or ``resumed``) comes next.
- **Unchanged hypothesis.** The last partial heard the same words as the one before it (the new
  audio held no new word: a breath, a hesitation, noise). The next waits twice as long, up to
  ``MAX_STRETCH`` times the interval; the next hypothesis that differs brings the interval
  back. Commit-while-speaking needs two agreeing hypotheses, so a longer wait after an
  unchanged one costs no commit: those words already agree.

Each segment's state (``CommitState`` of ``commits.py``, ``PartialState`` of ``partials.py``)
holds one; the planners ask ``due`` instead of comparing the interval themselves and report each
answer with ``heard``.

**A partial planned and not sent keeps its place.** The planners serve the segment whose last
partial went longest ago first (round-robin over streams). A partial the scheduler hands back
unsent (the partial budget or the worker kept for finals holds it, ``scheduler._plan``) used to
reset its segment's last request time to "never", so every deferred segment tied at the head
of the queue and the tie went by segment order: the oldest segments, a continuous stream's one
long segment, won every time over a dictation stream's new ones. The planner now notes the
time it replaces (``sent``) and an unsent partial gets it back (``unsent``). Traced on
``bench/stream_replay.py`` at N = 4: after dictation-01's partial commit at 18.62 s its next
partial was due from 19.5 s but went at 20.84 s, behind continuous-01's twice.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_STRETCH = 4.0  # an unchanged hypothesis at most quadruples the interval
SAME_END_S = 0.3  # sentence ends this close are one (word times move between hypotheses)
# A due partial waits at most this long for fresh audio (``due``'s ``fresh_s``): the VAD's
# SpeechOngoing comes at least every 0.25 s in speech (vad.state_machine.PROGRESS_MAX_S)
FRESH_WAIT_MAX_S = 0.3


@dataclass(slots=True)
class PartialCadence:
    """The cadence of one open segment's partials (see the module doc)."""

    stretch: float = 1.0
    last_heard: tuple[str, ...] | None = None
    replaced_request_s: float | None = None  # the last request time before the newest one
    # a sentence end awaiting its agreeing hypothesis (``sentence_ends``)
    confirm_s: float | None = None  # newest audio (s) from which the next partial may commit it
    confirm_end_s: float | None = None  # the end of that sentence's last word
    confirmed_end_s: float | None = None  # the sentence end the last confirming partial went for

    def sent(self, replaced_request_s: float | None) -> None:
        """A partial is planned now; ``replaced_request_s``: the segment's last request time
        until now (None: none yet), which an unsent partial gets back."""
        self.replaced_request_s = replaced_request_s

    def unsent(self) -> float | None:
        """The planned partial was not sent: the last request time it replaced (its place in
        the round-robin, and the interval still counted from it)."""
        return self.replaced_request_s

    def await_confirmation(self, end_s: float | None, margin_s: float) -> None:
        """A hypothesis was read; ``end_s``: the end of the first sentence end among its
        uncommitted words (None: none). It awaits confirmation from the moment a hypothesis
        could commit it (``margin_s`` later), unless a confirming partial already went for it:
        one per sentence end."""
        done = (
            end_s is not None
            and self.confirmed_end_s is not None
            and end_s <= self.confirmed_end_s + SAME_END_S
        )
        if end_s is None or done:
            self.confirm_s = self.confirm_end_s = None
        else:
            self.confirm_s, self.confirm_end_s = end_s + margin_s, end_s

    def confirming(self, newest_s: float) -> bool:
        """Whether a sentence end awaits confirmation and the newest audio (``newest_s``) is
        far enough past it for the next hypothesis to commit it."""
        return self.confirm_s is not None and newest_s >= self.confirm_s

    def confirm_sent(self) -> None:
        """The partial planned now confirms the awaited sentence end: its one try (handed
        back unsent or cancelled by final work, it is not made urgent again: at N = 6 on
        ``bench/stream_replay.py`` trying again read 36 pre-emptions against 25, dictation p50 /
        p95 0.704 / 1.003 s against 0.661 / 0.983 s)."""
        self.confirmed_end_s = self.confirm_end_s
        self.confirm_s = None

    def due(
        self,
        last_request_s: float | None,
        now_s: float,
        interval_s: float,
        *,
        silent_tail: bool = False,
        newest_at_s: float | None = None,
        fresh_s: float = 0.0,
    ) -> bool:
        """Whether a partial with new audio may go now (``silent_tail``: all is committed up to
        a pause and speech has not resumed).

        ``fresh_s`` > 0: a partial whose interval is over still waits while the newest audio
        known (which reached the scheduler at ``newest_at_s``) is older than ``fresh_s``, at
        most ``FRESH_WAIT_MAX_S`` past its due time: the VAD reports the newest audio only every
        0.25 s, so a partial sent between two reports hears up to 0.25 s less audio than one
        sent just after the next. A segment's first partial never waits."""
        if silent_tail:
            return False
        if last_request_s is None:
            return True
        overdue_s = now_s - last_request_s - interval_s * self.stretch
        if overdue_s < 0:
            return False
        if fresh_s <= 0 or newest_at_s is None:
            return True
        return now_s - newest_at_s <= fresh_s or overdue_s >= FRESH_WAIT_MAX_S

    def heard(self, words: list[str] | tuple[str, ...]) -> None:
        """A partial's hypothesis (its words, in order): the same as the last one stretches the
        interval, anything else restores it."""
        heard = tuple(w.strip().lower() for w in words)
        if heard and heard == self.last_heard:
            self.stretch = min(MAX_STRETCH, self.stretch * 2.0)
        else:
            self.stretch = 1.0
        self.last_heard = heard
