"""``bench/daemon_e2e.py --quick`` on the real daemon: its JSON has the figures issue 10 names,
every null says why, and the worker kill it claims is shown to have happened."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.data_paths import REPO_ROOT

pytestmark = [
    pytest.mark.slow,  # about 5 minutes: 90 s of dev set at speaking speed plus a fault run
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"),
]

FIGURES = (
    "latency_user_p50_ms", "latency_user_p95_ms", "latency_continuous_p50_ms",
    "latency_continuous_p95_ms", "latency_p50_ms", "latency_p95_ms",
    "latency_first_partial_p50_ms", "cpu_overhead_ratio", "wer_stream_minus_offline",
    "finals_lost", "finals_duplicated", "restart_s", "kills_hit_final", "faults",
    "per_profile", "latency_fast_p50_ms", "engine_p50_ms",
)  # fmt: skip


def nulls_without_reason(figures: dict, path: str = "") -> list[str]:
    missing = []
    for key, value in figures.items():
        if key.endswith("_reason") or key == "targets":
            continue
        if value is None and f"{key}_reason" not in figures:
            missing.append(f"{path}{key}")
        elif isinstance(value, dict):
            missing += nulls_without_reason(value, f"{path}{key}.")
    return missing


def test_quick_run_prints_every_figure_and_proves_its_fault() -> None:
    result = subprocess.run(
        [sys.executable, "bench/daemon_e2e.py", "--quick"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    print(result.stdout)  # the figures, shown with -s or on failure
    last = result.stdout.strip().splitlines()[-1]
    figures = json.loads(last)
    assert [name for name in FIGURES if name not in figures] == []
    assert nulls_without_reason(figures) == []
    faults = figures["faults"]
    if result.returncode == 3:  # the claimed fault did not happen: it must say so and not pass
        assert not faults["verified"] and faults["problems"]
        assert figures["finals_lost"] is None and figures["finals_lost_reason"]
        assert "FAULT CLAIMED BUT NOT SHOWN TO HAPPEN" in result.stderr
        pytest.fail(f"the worker kill did not land on a final: {faults['problems']}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert faults["verified"] and faults["attempted"] >= 1
    hit = [k for k in figures["kills"] if k["killed_request"].startswith("final")]
    assert hit and all(k["restarted"] and k["replacement_pid"] != k["victim_pid"] for k in hit)
    assert figures["finals_lost"] == 0 and figures["finals_duplicated"] == 0
    assert figures["restart_s"] is not None
    assert figures["wer_stream_minus_offline"]["words"] > 200
    utterances = figures["utterances"]
    assert utterances["dictation"]["measured"] > 0 and utterances["continuous"]["measured"] > 0
    assert figures["latency_user_p50_ms"] > 0 and figures["latency_continuous_p50_ms"] > 0
