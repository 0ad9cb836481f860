"""Audio that crashes a reader again and again is skipped, not re-read forever.

Pure logic for the VAD's restarts: a restarted VAD re-reads from the start of the segment it
had open, so audio that crashes it would crash every successor. ``PoisonTracker`` counts deaths
in a row that got no further than ``tolerance_samples`` past the furthest death so far
(heartbeats report the position about once a second; a successor that dies before it even
reaches that place has made no progress either). From the second death at one place on, the next start is moved past it by
``skip_s`` (doubling with every further death there, capped), and the skipped range is returned
so it can be reported as a gap. A death further on starts a new count.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.audio_format import SAMPLE_RATE_HZ


@dataclass(frozen=True)
class PoisonOptions:
    tolerance_samples: int = 3 * SAMPLE_RATE_HZ  # a death at most this far past: "one place"
    skip_s: float = 2.0  # audio skipped after the second death at one place
    skip_max_s: float = 30.0  # cap of the doubling skip
    deaths_to_skip: int = 2  # deaths at one place before its audio is skipped


class PoisonTracker:
    def __init__(self, options: PoisonOptions | None = None) -> None:
        self.options = options or PoisonOptions()
        self.place_index: int | None = None  # furthest position reported by a reader that died
        self.deaths_there = 0
        self._pending = False  # a death not yet answered by a resume

    def note_death(self, position_index: int) -> None:
        """A reader died having reported ``position_index`` as read (a death earlier than the
        place, or up to ``tolerance_samples`` past it, counts for that place)."""
        self._pending = True
        place = self.place_index
        if place is not None and position_index <= place + self.options.tolerance_samples:
            self.deaths_there += 1
            self.place_index = max(place, position_index)
        else:
            self.deaths_there = 1
            self.place_index = position_index

    def resume(self, proposed_index: int) -> tuple[int, tuple[int, int] | None]:
        """Where the next reader starts instead of ``proposed_index``, and the skipped
        ``[start, end)`` range (None when nothing is skipped). Only the first start after a
        death moves: a planned restart later starts where it is told."""
        pending, self._pending = self._pending, False
        if (
            not pending
            or self.place_index is None
            or self.deaths_there < self.options.deaths_to_skip
        ):
            return proposed_index, None
        doublings = self.deaths_there - self.options.deaths_to_skip
        skip_s = min(self.options.skip_max_s, self.options.skip_s * 2**doublings)
        end_index = self.place_index + round(skip_s * SAMPLE_RATE_HZ)
        if end_index <= proposed_index:
            return proposed_index, None
        return end_index, (min(proposed_index, self.place_index), end_index)
