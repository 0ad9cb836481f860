"""`run.py streams open|list|close` against a real daemon, and the argument logic apart."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from cli.streams_command import absolute_source, stream_overrides
from pipeline.bus import ensure_private_dir
from tests.daemon_harness import DaemonRun
from tests.data_paths import DATA_DIR, REPO_ROOT

JFK = "jfk.flac"  # 11 s: "And so my fellow Americans, ask not what your country can do for you"


def test_stream_overrides_parse_and_reject() -> None:
    assert stream_overrides(["vad.hangover_ms=400", " capture.block_duration_ms = 96"]) == {
        "vad.hangover_ms": "400",
        "capture.block_duration_ms": "96",
    }
    for bad in ("hangover_ms=400", "vad.hangover_ms"):
        with pytest.raises(ValueError, match=r"SECTION\.KEY=VALUE"):
            stream_overrides([bad])


def test_absolute_source_resolves_only_relative_files(tmp_path) -> None:
    assert absolute_source("file:talk.wav", tmp_path) == f"file:{tmp_path / 'talk.wav'}"
    assert absolute_source("file:/srv/talk.wav", tmp_path) == "file:/srv/talk.wav"
    for untouched in ("mic", "mic:USB", "push:s16le:16000", "file:"):
        assert absolute_source(untouched, tmp_path) == untouched


@pytest.fixture(scope="module")
def daemon():
    """A daemon named "default" under a private XDG_RUNTIME_DIR whose first stream is a push
    stream nobody feeds, so the pool is free for the streams the commands open."""
    xdg = ensure_private_dir(Path(tempfile.mkdtemp(prefix="ss", dir="/tmp")))
    run = DaemonRun(
        "--source",
        "push:s16le:16000",
        "--workers",
        "1",
        instance="default",
        runtime_dir=ensure_private_dir(xdg / "streamscribe"),
    ).start()
    run.wait_for(lambda s: s["streams"], 120, "the first stream")
    yield run, xdg
    run.cleanup()


def streams_cli(xdg: Path, *args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "run.py"), "streams", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_RUNTIME_DIR": str(xdg)},
        cwd=cwd,
        timeout=60,
    )


def test_open_list_close_a_file_stream_given_a_relative_path(daemon) -> None:
    run, xdg = daemon
    opened = streams_cli(
        xdg, "open", f"file:{JFK}", "--pace", "fast", "--label", "kennedy", cwd=DATA_DIR
    )
    assert opened.returncode == 0, opened.stderr
    stream_id = opened.stdout.strip()
    assert stream_id.startswith("s")

    listed = streams_cli(xdg, "list")
    assert listed.returncode == 0, listed.stderr
    line = next(row for row in listed.stdout.splitlines() if row.startswith(stream_id))
    assert "[kennedy]" in line and str((DATA_DIR / JFK).resolve()) in line
    rows = json.loads(streams_cli(xdg, "list", "--json").stdout)
    assert {row["stream_id"] for row in rows} >= {"main", stream_id}

    # the file ends and the stream closes by itself; its words are in the journal
    run.wait_for(
        lambda s: any(r["stream_id"] == stream_id and r["state"] == "closed" for r in s["streams"]),
        120,
        "the file stream to end",
    )
    closed = next(
        r
        for r in json.loads(streams_cli(xdg, "list", "--json").stdout)
        if r["stream_id"] == stream_id
    )
    assert closed["state"] == "closed" and closed["lag_s"] == 0 == closed["transcript_lag_s"]
    text = " ".join(f["text"] for f in run.journal() if f["stream_id"] == stream_id).lower()
    assert "americans" in text and "ask what you can do for your country" in text

    again = streams_cli(xdg, "close", stream_id)
    assert again.returncode == 1
    assert stream_id in again.stderr and "Traceback" not in again.stderr


def test_close_drains_and_a_second_close_is_an_error(daemon) -> None:
    _run, xdg = daemon
    opened = streams_cli(xdg, "open", "push:s16le:16000", "--keep-open", "--label", "phone")
    assert opened.returncode == 0, opened.stderr
    stream_id, endpoint_line = opened.stdout.splitlines()
    assert endpoint_line.startswith("push endpoint ")
    closed = streams_cli(xdg, "close", stream_id)
    assert closed.returncode == 0, closed.stderr
    assert closed.stdout.split()[0] == stream_id
    twice = streams_cli(xdg, "close", stream_id)
    assert twice.returncode == 1 and stream_id in twice.stderr  # closing or already gone


def test_refusals_name_what_was_wrong(daemon, tmp_path) -> None:
    _run, xdg = daemon
    missing = streams_cli(xdg, "open", f"file:{tmp_path / 'nowhere.wav'}")
    assert missing.returncode == 1
    assert "nowhere.wav" in missing.stderr and "Traceback" not in missing.stderr
    bad_key = streams_cli(xdg, "open", "push:s16le:16000", "--set", "hangover")
    assert bad_key.returncode == 2 and "SECTION.KEY=VALUE" in bad_key.stderr
    bad_value = streams_cli(xdg, "open", "push:s16le:16000", "--set", "vad.nonsense=3")
    assert bad_value.returncode == 1
    assert "unknown key 'vad.nonsense' in stream.open" in bad_value.stderr, bad_value.stderr
    unknown = streams_cli(xdg, "close", "s999")
    assert unknown.returncode == 1 and "s999" in unknown.stderr


def test_without_a_daemon_the_commands_say_so() -> None:
    xdg = ensure_private_dir(Path(tempfile.mkdtemp(prefix="ss", dir="/tmp")))
    result = streams_cli(xdg, "list", "--timeout", "1")
    assert result.returncode == 2
    assert "no answer from the daemon" in result.stderr and "Traceback" not in result.stderr


def test_subscribe_to_a_stream_that_is_not_open_warns_and_waits(daemon) -> None:
    _run, xdg = daemon
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "run.py"), "subscribe", "--stream", "s999"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "XDG_RUNTIME_DIR": str(xdg)},
    )
    try:
        ready, _, _ = select.select([process.stderr], [], [], 30)
        assert ready, "no warning on stderr within 30 s"
        line = process.stderr.readline()
        assert "no open stream 's999'" in line and "main" in line, line
        assert process.poll() is None  # still waiting for that stream
    finally:
        process.terminate()
        process.wait(timeout=10)
