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


def test_a_final_that_spells_a_large_number_out_stays_out_of_the_prompt() -> None:
    """tiny.en follows the prompt's number style: one sampled "forty one thousand dollars" in
    the prompt turned the next minute's numbers into words (synthetic dictation, 10-15
    finals), so such a final is left out of later prompts (``prompt_skip_spelled_numbers``)."""
    from pipeline.scheduling import SegmentScheduler
    from pipeline.scheduling.commit_policy import CommitOptions, spells_large_number
    from tests.test_scheduler_commits import finals, only
    from tests.test_scheduler_fakes import RINGS, ended, options, result, spoken, started

    assert spells_large_number(spoken("it is forty one thousand dollars."))
    assert spells_large_number(spoken("twenty-nine of them"))
    assert not spells_large_number(spoken("it is 41,000 dollars, one or two."))
    commit = CommitOptions(prompt_recent_chars=400, prompt_skip_spelled_numbers=True)
    s = SegmentScheduler(options(commit=commit), rings=RINGS)
    texts = ["Good morning.", "It costs forty one thousand dollars.", "Meet me at gate 4."]
    for number, text in enumerate(texts):
        s.speech_started(started(number, 2.0 * number), 2.0 * number + 0.1)
        s.speech_ended(ended(number, 2.0 * number, 2.0 * number + 1.5), 2.0 * number + 1.5)
        request = only(s.dispatch(["asr-1"], 2.0 * number + 1.5))
        assert "forty" not in request.prompt
        finals(s.on_reply("asr-1", result(request, text), 2.0 * number + 1.8))
    s.speech_started(started(3, 6.0), 6.1)
    s.speech_ended(ended(3, 6.0, 7.5), 7.5)
    assert only(s.dispatch(["asr-1"], 7.5)).prompt == "Good morning. Meet me at gate 4."
