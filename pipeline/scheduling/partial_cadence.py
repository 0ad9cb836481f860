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
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_STRETCH = 4.0  # an unchanged hypothesis at most quadruples the interval


@dataclass(slots=True)
class PartialCadence:
    """The cadence of one open segment's partials (see the module doc)."""

    stretch: float = 1.0
    last_heard: tuple[str, ...] | None = None

    def due(
        self,
        last_request_s: float | None,
        now_s: float,
        interval_s: float,
        *,
        silent_tail: bool = False,
    ) -> bool:
        """Whether a partial with new audio may go now (``silent_tail``: all is committed up to
        a pause and speech has not resumed)."""
        if silent_tail:
            return False
        return last_request_s is None or now_s - last_request_s >= interval_s * self.stretch

    def heard(self, words: list[str] | tuple[str, ...]) -> None:
        """A partial's hypothesis (its words, in order): the same as the last one stretches the
        interval, anything else restores it."""
        heard = tuple(w.strip().lower() for w in words)
        if heard and heard == self.last_heard:
            self.stretch = min(MAX_STRETCH, self.stretch * 2.0)
        else:
            self.stretch = 1.0
        self.last_heard = heard
