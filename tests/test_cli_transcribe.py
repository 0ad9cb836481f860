"""`run.py transcribe` end to end: real worker processes, the real embedded model, real audio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline.text_metrics import word_error_rate

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
