"""bench/stream_clips.py: clips cut at utterance starts, with the utterances inside them shifted
to clip time (the reference of bench/streams.py's latency)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from bench.e2e_parts.latency import RefUtterance
from bench.stream_clips import ClipMaker

SR = 16_000


def test_clips_start_at_utterances_hold_whole_ones_and_do_not_overlap(tmp_path: Path) -> None:
    audio = np.zeros(60 * SR, dtype=np.float32)
    audio[::SR] = np.arange(60, dtype=np.float32) / 100  # second k holds the value k/100
    source = tmp_path / "long.wav"
    soundfile.write(str(source), audio, SR, subtype="FLOAT")
    utterances = [RefUtterance(f"u{i}", 2.0 + 6.0 * i, 6.0 + 6.0 * i) for i in range(9)]
    maker = ClipMaker(tmp_path, 20.0, [("dictation", source, utterances)])
    assert maker.available("dictation") == 3 and maker.available("continuous") == 0
    first, second = maker.clip("dictation", 0), maker.clip("dictation", 1)
    assert first.source == "long.wav@1.5s"  # LEAD_S before the first utterance
    assert [u.text for u in first.utterances] == ["u0", "u1", "u2"]  # u3 ends past 21.5 s
    assert first.utterances[0].start_s == 0.5 and first.utterances[0].end_s == 4.5
    assert second.source == "long.wav@25.5s"  # the first utterance start after 21.5 s
    assert [u.text for u in second.utterances] == ["u4", "u5", "u6"]
    cut, rate = soundfile.read(str(second.path), dtype="float32")
    assert rate == SR and len(cut) == 20 * SR
    assert abs(cut[SR // 2] - 0.26) < 1e-3  # clip second 0.5 is file second 26 (16-bit)
    assert maker.clip("dictation", 3).path == first.path  # numbers wrap around
