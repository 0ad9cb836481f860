"""The real daemon commits words while people speak: finals during continuous speech."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import soundfile

from pipeline.messages import SpeechEvent, TranscriptFinal
from pipeline.subscriber import TranscriptSubscriber
from pipeline.text_metrics import word_error_rate
from tests.daemon_harness import DaemonRun
from tests.data_paths import DATA_DIR

MONOLOGUE = DATA_DIR / "monologue_dev.wav"
CLIP_END_S = 17.85  # three utterances of continuous speech (pauses <= 0.15 s), cut in a pause
WER_BOUND = 0.08  # streamed minus offline WER allowed on these ~50 words (4 words)


def clip(tmp_path: Path) -> tuple[Path, str]:
    """The first three utterances of the monologue as a file, and their reference text."""
    audio, rate = soundfile.read(MONOLOGUE, dtype="float32")
    path = tmp_path / "monologue_clip.wav"
    soundfile.write(path, audio[: round(CLIP_END_S * rate)], rate)
    utterances = json.loads(MONOLOGUE.with_suffix(".json").read_text())["utterances"]
    return path, " ".join(u["text"] for u in utterances if u["end"] < CLIP_END_S)


def offline_text(path: Path) -> str:
    from pipeline.backends.mlx_runtime import prepare_blas

    prepare_blas(1)
    from pipeline.backends.whisper_mlx import WhisperBackend, WhisperOptions
    from pipeline.long_form import transcribe_long

    audio, _ = soundfile.read(path, dtype="float32")
    return transcribe_long(WhisperBackend(options=WhisperOptions(blas_threads=1)), audio).text


def test_finals_are_committed_while_speech_goes_on(tmp_path: Path) -> None:
    path, reference = clip(tmp_path)
    run = DaemonRun("--source", f"file:{path}", "--pace", "realtime", "--workers", "1").start()
    arrivals: list[tuple[float, object]] = []
    try:
        with TranscriptSubscriber(
            run.endpoint("transcript"), run.endpoint("control"), from_seq=0, speech_events=True
        ) as subscriber:
            deadline = time.monotonic() + 180
            assert run.process is not None
            while run.process.poll() is None:
                assert time.monotonic() < deadline, run.log()[-3000:]
                message = subscriber.receive(timeout_ms=200)
                if message is not None:
                    arrivals.append((time.monotonic(), message))
        assert run.wait(30) == 0, run.log()[-3000:]
        journal = run.journal()
    finally:
        run.cleanup()

    # the speech was never paused long enough to end a segment: one segment, several finals
    ends = [t for t, m in arrivals if isinstance(m, SpeechEvent) and m.event == "ended"]
    assert len(ends) == 1, [m for _, m in arrivals if isinstance(m, SpeechEvent)]
    assert len(journal) >= 3, journal
    assert {f["segment_id"] for f in journal} == {journal[0]["segment_id"]}
    early = [m for t, m in arrivals if isinstance(m, TranscriptFinal) and t < ends[0]]
    assert len(early) >= 2, "no final arrived while the speech went on"
    # a part's latency counts from when its last audio was heard, not from its publishing
    assert all(0 < m.latency_ms < 10_000 for m in early), [m.latency_ms for m in early]
    # gap-free seq, disjoint and contiguous time ranges, each final once
    seqs = [f["seq"] for f in journal]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    for before, after in itertools.pairwise(journal):
        assert before["end_s"] == after["start_s"] and before["start_s"] < before["end_s"]
    live = [m.seq for _, m in arrivals if isinstance(m, TranscriptFinal)]
    assert live == seqs
    text = " ".join(f["text"] for f in journal if f["text"])
    streamed = word_error_rate(reference, text)
    offline = word_error_rate(reference, offline_text(path))
    assert streamed <= offline + WER_BOUND, (streamed, offline, text)
