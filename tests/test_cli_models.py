"""`run.py models convert|list` against a private cache, with no network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STREAMSCRIBE_CACHE_DIR": str(cache_dir), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_convert_embedded_then_list(tmp_path: Path) -> None:
    converted = run_cli("models", "convert", cache_dir=tmp_path)
    assert converted.returncode == 0, converted.stderr
    model_dir = Path(converted.stdout.strip())
    assert model_dir.parent == tmp_path and (model_dir / "config.json").exists()
    listed = run_cli("models", "list", "--json", cache_dir=tmp_path)
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert [e["path"] for e in entries] == [str(model_dir)]
    assert entries[0]["quantization"] == "none" and entries[0]["size_bytes"] > 10_000_000


def test_convert_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("models", "convert", str(tmp_path / "nope"), cache_dir=tmp_path)
    assert result.returncode == 2
    assert "nope: no such model directory" in result.stderr
    assert "Traceback" not in result.stderr
