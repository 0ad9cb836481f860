"""`run.py transcribe` end to end: real worker processes, the real embedded model, real audio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.chunking import ChunkingOptions
from pipeline.errors import BackendError
from pipeline.messages.work import TranscribeResult, WorkerError
from pipeline.scheduling import SchedulerOptions, SegmentScheduler
from pipeline.scheduling.chunked import ChunkedSegments
from pipeline.text_metrics import word_error_rate
from pipeline.words import Word
from workers.transcribe_file import STREAM_ID, _Progress, _transcribe_span
from workers.worker_pool import PoolEvents

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def transcribe(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "transcribe", *args, "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_jfk_matches_reference_with_two_workers_and_metrics(tmp_path: Path) -> None:
    metrics_path = tmp_path / "metrics.json"
    result = transcribe(
        str(DATA / "jfk.flac"), "--workers", "2", "--metrics-json", str(metrics_path)
    )
    assert result.returncode == 0, result.stderr
    reference = json.loads((DATA / "references.json").read_text())["jfk.flac"]
    assert word_error_rate(reference, result.stdout) <= 0.05, result.stdout
    metrics = json.loads(metrics_path.read_text())
    assert metrics["audio_s"] > 10.5
    parallel = metrics["parallel"]
    assert (
        parallel["workers"] == 2 and parallel["wall_s"] > 0 and parallel["real_time_factor"] < 1.0
    )
    assert set(parallel["peak_rss_mb"]) == {"asr-1", "asr-2"}
    assert "real-time factor" in result.stderr


def test_long_file_in_chunks_with_compare_and_srt(tmp_path: Path) -> None:
    metrics_path = tmp_path / "metrics.json"
    result = transcribe(
        str(DATA / "monologue_dev.wav"),
        "--workers",
        "2",
        "--chunk-s",
        "10",
        "--overlap-s",
        "2",
        "--format",
        "srt",
        "--compare",
        "--metrics-json",
        str(metrics_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1\n00:00:")
    assert " --> " in result.stdout
    metrics = json.loads(metrics_path.read_text())
    assert len(metrics["parallel"]["chunks"]) >= 4
    assert metrics["speedup"] > 0 and "sequential" in metrics
    reference = json.loads((DATA / "monologue_dev.json").read_text())["text"]
    merged_wer = word_error_rate(reference, metrics["parallel"]["text"])
    single_wer = word_error_rate(reference, metrics["sequential"]["text"])
    assert merged_wer <= single_wer + 0.05, (merged_wer, single_wer)
    assert "speed-up of parallel over sequential" in result.stderr


def test_corrupt_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEthis is not audio" * 10)
    result = transcribe(str(corrupt))
    assert result.returncode == 2
    assert "broken.wav" in result.stderr and "Traceback" not in result.stderr
    result = transcribe(str(tmp_path / "absent.flac"))
    assert result.returncode == 2 and "absent.flac" in result.stderr


class _ScriptedPool:
    """A pool stand-in for the driver's logic: one worker answering each request with
    ``answer(request)``; the real pool and workers are exercised by the tests above."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.sent: list = []
        self._pending = None

    def idle_roles(self) -> list[str]:
        return [] if self._pending else ["asr-1"]

    def submit(self, role: str, request) -> bool:
        self.sent.append(request)
        self._pending = (role, request)
        return True

    def poll(self, timeout_ms: int) -> PoolEvents:
        events = PoolEvents()
        if self._pending:
            role, request = self._pending
            self._pending = None
            events.replies.append((role, self.answer(request)))
        return events

    def all_failed(self) -> bool:
        return False


def _drive(answer, seconds: float = 40.0):
    options = SchedulerOptions(
        backend="whisper",
        model="m",
        chunking=ChunkingOptions.from_seconds(30.0, 2.0),
        partial_min_audio_samples=0,
        partial_interval_s=0.0,
        use_prompt=False,
    )
    scheduler = SegmentScheduler(options, {STREAM_ID: "ring"}, work=(ChunkedSegments(),))
    pool = _ScriptedPool(answer)
    bar = _Progress("test", 1, enabled=False)
    return pool, _transcribe_span(SimpleNamespace(pool=pool), scheduler, int(seconds * 16_000), bar)


def test_transcribe_retries_by_the_schedulers_limit_and_ids_then_stops() -> None:
    def answer(request):
        if request.request_id.endswith(".1"):  # every chunk fails its first attempt
            return WorkerError(request.request_id, "backend", "flaky", retryable=True)
        word = Word(0.5, 0.9, f" c{request.chunk_index}", 0.9)
        return TranscribeResult(
            request.request_id,
            request.stream_id,
            request.segment_id,
            request.chunk_index,
            word.text.strip(),
            (word,),
            audio_s=1.0,
        )

    pool, (final, timings, _) = _drive(answer)  # 40 s: two chunks
    ids = [r.request_id for r in pool.sent]
    assert ids == ["file/0/c0.1", "file/0/c0.2", "file/0/c1.1", "file/0/c1.2"]
    assert final.text == "c0 c1" and [t.index for t in timings] == [0, 1]

    def always_failing(request):
        return WorkerError(request.request_id, "backend", "broken", retryable=True)

    with pytest.raises(BackendError, match="broken"):
        _drive(always_failing)
