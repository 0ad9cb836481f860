"""A short pause moves an open segment's next partial to it (``CommittedSegments.short_pause``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile

from bench.commit_latency import COST_MODEL_DEFAULT, load_audio, simulate
from pipeline.scheduling import SegmentScheduler
from pipeline.scheduling.commit_policy import CommitOptions
from pipeline.scheduling.commits import CommittedSegments
from tests.data_paths import DATA_DIR
from tests.test_scheduler_commits import only, partial_round
from tests.test_scheduler_fakes import RINGS, SR, ongoing, options, started


@pytest.mark.parametrize("short_pause_partial", [False, True])
def test_the_next_partial_hears_up_to_a_short_pause(short_pause_partial: bool) -> None:
    commit = CommitOptions(short_pause_partial=short_pause_partial, short_pause_delay_s=0.3)
    kind = CommittedSegments(commit)
    s = SegmentScheduler(options(commit=commit), rings=RINGS, work=(kind,))
    s.speech_started(started(0, 0.0), 0.0)
    partial_round(s, 1.2, "we met at the", 1.2)  # the cadence's next partial: 2.2 s
    # silence from 1.40 s, heard up to 1.48 s (shorter than the VAD's pause)
    kind.short_pause("mic", round(1.40 * SR), round(1.48 * SR), 1.5)
    assert not s.dispatch(["asr-1"], 1.7)
    moved = s.dispatch(["asr-1"], 1.8)  # 0.3 s after the pause was heard
    if not short_pause_partial:
        assert not moved and kind.short_pauses == 0
        return
    request = only(moved)
    assert request.is_partial and request.end_index == round(1.48 * SR)
    assert kind.short_pauses == 1


def test_no_move_while_a_partial_is_in_flight() -> None:
    commit = CommitOptions(short_pause_partial=True)
    kind = CommittedSegments(commit)
    s = SegmentScheduler(options(commit=commit), rings=RINGS, work=(kind,))
    s.speech_started(started(0, 0.0), 0.0)
    partial_round(s, 1.2, "we met at the", 1.2)
    s.speech_ongoing(ongoing(0, 0.0, 2.2), 2.2)
    only(s.dispatch(["asr-1"], 2.2))  # in flight
    kind.short_pause("mic", round(2.30 * SR), round(2.38 * SR), 2.4)
    assert kind.short_pauses == 0


def test_the_simulated_daemon_moves_partials_to_short_pauses(tmp_path: Path) -> None:
    """Real VAD and tiny.en on the monologue's first 8 s (pauses of at most 0.15 s, none long
    enough for the VAD's pause): the bench's hint reaches the commit work, which moves partials
    to the short pauses, and the words still come out."""
    audio = load_audio(DATA_DIR / "monologue_dev.wav")[: 8 * SR]
    path = tmp_path / "monologue_8s.wav"
    soundfile.write(path, audio, SR)
    commit = {"short_pause_partial": 1}
    result = simulate(path, [], commit, cost_model=COST_MODEL_DEFAULT, pause_hint_ms=80.0)
    assert result["short_pauses"] >= 1
    text = " ".join(f["text"] for f in result["finals"]).lower()
    assert "river" in text and "mountains" in text
