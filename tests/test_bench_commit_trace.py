"""bench/e2e_parts/commit_trace.py (why a sentence's last word waited) and
bench/e2e_parts/excerpt.py (the first minutes of a dev file, cut at a sentence's end)."""

from __future__ import annotations

import json
from pathlib import Path

import soundfile

from bench.e2e_parts.commit_trace import CommitTrace, PartialAnswer, explain, tabulate
from bench.e2e_parts.excerpt import excerpt
from bench.e2e_parts.figures import FileSpec
from tests.data_paths import DATA_DIR

SENTENCES = [
    {"text": "the river runs.", "start": 0.0, "end": 2.0},
    {"text": "it gathers strength.", "start": 2.1, "end": 5.0},
    {"text": "near the coast.", "start": 5.1, "end": 8.0},
]


def final(seq: int, segment_id: int, words: list[tuple[str, float]]) -> dict:
    return {
        "seq": seq,
        "segment_id": segment_id,
        "words": [{"text": t, "end_s": e} for t, e in words],
    }


def test_each_late_sentence_gets_one_cause_from_the_partials_that_heard_it() -> None:
    finals = [
        final(1, 0, [(" the", 0.5), (" river", 1.2), (" runs.", 2.0)]),  # a partial at 3.0
        final(2, 0, [(" it", 2.4), (" gathers", 3.5), (" strength.", 5.0)]),  # at 9.5
        final(3, 0, [(" near", 5.5), (" the", 6.0), (" coast.", 8.0)]),  # the segment's end
    ]
    arrivals = {1: 3.0, 2: 9.5, 3: 12.0}
    trace = CommitTrace()
    trace.partials += [
        PartialAnswer(3.0, 2.8, True, "margin", 2.4, " it", committed=3),
        PartialAnswer(6.0, 5.6, True, "disagreed", 3.5, " gathers"),
        PartialAnswer(7.0, 6.6, True, "disagreed", 3.5, " gathers"),
        PartialAnswer(8.0, 7.6, True, "probability", 3.5, " gathers"),
        PartialAnswer(9.5, 9.0, True, "margin", 8.8, " and", committed=6),
        PartialAnswer(10.0, 9.5, False, "dropped", None),
    ]
    trace.requests += [(5.5, 6.0, "partial"), (6.5, 7.0, "partial"), (7.5, 8.0, "partial")]
    trace.segment_ends.append((0, 10.0, True))
    waited = explain(SENTENCES, finals, arrivals, trace, limit_s=3.0)
    assert [(w.text, w.cause) for w in waited] == [
        ("it gathers strength.", "disagreed"),  # 4.5 s: two of three partials disagreed
        ("near the coast.", "segment end (cap)"),  # 4.0 s: no partial committed it
    ]
    assert waited[0].latency_s == 4.5
    assert "partial 1.5 s" in waited[0].detail
    table = tabulate(waited)
    assert "  1  disagreed" in table and "  1  segment end (cap)" in table


def test_an_excerpt_ends_after_the_last_sentence_that_ends_by_the_limit(tmp_path: Path) -> None:
    audio, reference = DATA_DIR / "monologue_dev.wav", DATA_DIR / "monologue_dev.json"
    full = json.loads(reference.read_text())
    spec = FileSpec("monologue_dev.wav", audio, reference, "continuous", True,
                    soundfile.info(str(audio)).duration, len(full["text"].split()))  # fmt: skip
    cut = excerpt(spec, 20.0, tmp_path)
    kept = json.loads(cut.reference.read_text())
    assert [u["end"] for u in kept["utterances"]] == [u["end"] for u in full["utterances"][:3]]
    assert kept["text"] == " ".join(u["text"] for u in full["utterances"][:3])
    assert cut.words == len(kept["text"].split()) < spec.words
    end_s = full["utterances"][2]["end"] + 1.0  # the third sentence's end and a second after
    assert abs(soundfile.info(str(cut.audio)).duration - end_s) < 0.01
    assert abs(cut.audio_s - end_s) < 0.01
    assert excerpt(spec, 60.0, tmp_path) is spec  # shorter than the limit: unchanged
