"""`run.py transcribe` with chunks sent as batches (``asr.file_max_batch``): real worker
processes, the real embedded model, real audio; every chunk answered, decoded in batches, and
the merged text as good as one request per chunk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.text_metrics import word_error_rate

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def transcribe(metrics_path: Path, *args: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "transcribe", str(DATA / "monologue_dev.wav"),
         "--workers", "2", "--chunk-s", "10", "--overlap-s", "2", "--no-progress",
         "--metrics-json", str(metrics_path), *args],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(metrics_path.read_text())["parallel"]


@pytest.mark.slow  # two runs of 2 workers: ~40 s on a loaded machine
def test_file_chunks_in_batches_are_each_answered_and_merge_as_well(tmp_path: Path) -> None:
    alone = transcribe(tmp_path / "alone.json", "--set", "asr.file_max_batch=1")
    batched = transcribe(tmp_path / "batched.json", "--set", "asr.file_max_batch=2")
    spans = sorted((c["start_s"], c["end_s"]) for c in batched["chunks"])
    assert len(spans) >= 4 and spans == sorted((c["start_s"], c["end_s"]) for c in alone["chunks"])
    assert {c["batch_size"] for c in alone["chunks"]} == {1}
    assert all(c["batch_size"] == 2 for c in batched["chunks"])  # every chunk in a batch of two
    reference = json.loads((DATA / "monologue_dev.json").read_text())["text"]
    wer_alone = word_error_rate(reference, alone["text"])
    assert word_error_rate(reference, batched["text"]) <= wer_alone + 0.005
