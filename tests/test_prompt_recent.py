"""A segment is prompted with the stream's recent finals, not only its last one
(``CommitOptions.prompt_recent_chars``, ``asr.prompt_recent_chars``): the daemon's scheduler
built from the default config, the real VAD and tiny.en on a real recording
(``bench/commit_latency.py``'s simulation, on its cost model). A preview (a segment's first
partial, shown and never agreed on) keeps the last segment's text as its prompt: the long one
made more of them fail Whisper's checks in realtime (``first_partial``)."""

from __future__ import annotations

import re

import soundfile

from bench.commit_latency import COST_MODEL_DEFAULT, load_audio, simulate
from tests.data_paths import DATA_DIR


def test_a_later_segment_hears_the_finals_before_the_last(tmp_path, monkeypatch) -> None:
    import pipeline.backend_calls as backend_calls

    # dictation_dev.wav up to 20 s: "Good morning. ..." (to 5.1 s), "The first item ...",
    # "We expect about three hundred people ..." (to 13.8 s), a 2.5 s pause, "Maria will ..."
    path = tmp_path / "four.wav"
    soundfile.write(path, load_audio(DATA_DIR / "dictation_dev.wav")[: 20 * 16_000], 16_000)
    prompts: list[tuple[str, bool]] = []  # (prompt, sent as a preview)
    transcribe_one = backend_calls.transcribe_one

    def recording(backend, audio, prompt=None, prefix=None):
        prompts.append((prompt or "", bool(getattr(backend, "preview_request", False))))
        return transcribe_one(backend, audio, prompt, prefix)

    monkeypatch.setattr(backend_calls, "transcribe_one", recording)
    result = simulate(path, [], {}, cost_model=COST_MODEL_DEFAULT)
    texts = [f["text"] for f in result["finals"] if f["text"]]
    assert "morning" in texts[0].lower() and any("Maria" in t for t in texts), texts
    # the last final alone never holds both the first sentence and the third
    both = [(p, v) for p, v in prompts if "morning" in p.lower() and re.search(r"hundred|300", p)]
    assert both and not any(preview for _, preview in both), prompts
    previews = [p for p, preview in prompts if preview and p]
    assert previews and any(re.search(r"hundred|300", p) for p in previews), prompts
