"""The early final decoded at a tentative pause (``vad.pause_decode_ms``) on the real VAD and
tiny.en: the daemon's scheduler built from the default config on a real recording
(``bench/commit_latency.py``'s simulation, on its cost model). The sentence's final holds the
same words as when decoded at the confirmed pause (``vad.pause_ms``), and reaches the
subscriber sooner."""

from __future__ import annotations

import soundfile

from bench.commit_latency import COST_MODEL_DEFAULT, load_audio, simulate
from tests.data_paths import DATA_DIR


def sentence_final(result: dict) -> tuple[str, float]:
    """The text of the final that holds "meeting" and when it arrived after that word."""
    for final in result["finals"]:
        words = [w for w in final["words"] if "meeting" in w["text"].lower()]
        if words:
            return final["text"], result["arrivals"][final["seq"]] - words[-1]["end_s"]
    raise AssertionError([f["text"] for f in result["finals"]])


def test_the_sentence_end_is_final_sooner_with_the_same_words(tmp_path) -> None:
    # dictation_dev.wav to 6 s: "Good morning. Please open a new note for the weekly planning
    # meeting." (to 5.15 s), then a pause
    path = tmp_path / "first.wav"
    soundfile.write(path, load_audio(DATA_DIR / "dictation_dev.wav")[: 6 * 16_000], 16_000)
    tentative = simulate(path, [], {}, cost_model=COST_MODEL_DEFAULT)
    confirmed = simulate(path, ["vad.pause_decode_ms=0"], {}, cost_model=COST_MODEL_DEFAULT)
    text, latency_s = sentence_final(tentative)
    text_then, latency_then_s = sentence_final(confirmed)
    assert text == text_then
    # decoded from 100 ms of silence instead of 200 ms: ~0.1 s sooner (the cost model's clock)
    assert latency_s <= latency_then_s - 0.06, (latency_s, latency_then_s)
    assert tentative["status"]["scheduler"]["early_finals_used"] >= 1
