"""One ``main`` for ``run.py``, ``python -m cli`` and the ``streamscribe`` console command."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from cli.main import build_parser
from cli.options import overrides_from, schema_choices
from pipeline.bus import ensure_private_dir
from pipeline.messages import TranscriptFinal, TranscriptPartial
from pipeline.transcript_lines import LiveFormat
from pipeline.words import Word
from tests.data_paths import DATA_DIR, REPO_ROOT


def run_cli(*args: str, entry: tuple[str, ...], timeout_s: float = 60, cwd: Path = REPO_ROOT):
    return subprocess.run(
        [sys.executable, *entry, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout_s,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def test_run_py_and_python_m_cli_are_the_same_command_line() -> None:
    by_script = run_cli("--help", entry=(str(REPO_ROOT / "run.py"),))
    by_module = run_cli("--help", entry=("-m", "cli"))
    assert by_script.returncode == by_module.returncode == 0, by_module.stderr
    assert by_script.stdout.startswith("usage: run.py")
    assert by_module.stdout.startswith("usage: streamscribe")
    words = by_script.stdout.replace("run.py", "streamscribe").split()
    assert words == by_module.stdout.split()  # the same commands and options


def test_the_console_command_is_declared_with_the_package_in_the_wheel() -> None:
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["streamscribe"] == "cli.main:main"
    assert "cli" in project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]


def test_choices_come_from_the_config_schema() -> None:
    parser = build_parser("t")
    subcommands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    daemon = {a.option_strings[0]: a for a in subcommands["daemon"]._actions if a.option_strings}
    assert tuple(daemon["--backend"].choices) == schema_choices("asr.backend")
    assert tuple(daemon["--profile"].choices) == schema_choices("profile")
    assert tuple(daemon["--pace"].choices) == schema_choices("capture.pace")
    args = parser.parse_args(
        ["daemon", "--workers", "2", "--loop", "--set", "asr.workers=3", "--profile", "low-latency"]
    )
    assert overrides_from(args) == {
        "asr.workers": 2,
        "capture.loop": True,
        "profile": "low-latency",
    }
    with pytest.raises(SystemExit):
        parser.parse_args(["daemon", "--backend", "turbo"])


def test_live_format_numbers_captions_and_rewrites_partials() -> None:
    def final(seq: int, text: str) -> TranscriptFinal:
        words = (Word(seq * 2.0, seq * 2.0 + 1.0, " " + text, 0.9),) if text else ()
        return TranscriptFinal(
            stream_id="main",
            segment_id=seq,
            seq=seq,
            start_s=seq * 2.0,
            end_s=seq * 2.0 + 1.0,
            text=text,
            words=words,
            backend="whisper",
            model="tiny.en",
            latency_ms=10.0,
        )

    srt = LiveFormat("srt")
    assert srt.render(final(0, "one")).startswith("1\n00:00:00,000 --> 00:00:01,000\none")
    assert srt.render(final(1, "")) == ""  # an empty final is no caption
    assert srt.render(final(2, "two")).startswith("2\n")
    text = LiveFormat("text", partials=True)
    partial = TranscriptPartial(
        stream_id="main", segment_id=3, revision=0, start_s=6.0, end_s=7.0, stable="a", unstable="b"
    )
    assert text.render(partial) == "\r\033[Ka \033[2mb\033[0m"
    assert text.render(final(3, "a b")) == "\r\033[Ka b\n"
    assert LiveFormat("vtt").header() == "WEBVTT\n\n"


def test_daemon_print_starts_a_subscriber_that_prints_the_finals() -> None:
    runtime = ensure_private_dir(Path(tempfile.mkdtemp(prefix="ss", dir="/tmp")))
    result = run_cli(
        "--log-level",
        "ERROR",
        "daemon",
        "--instance",
        "printed",
        "--source",
        f"file:{DATA_DIR / 'jfk.flac'}",
        "--pace",
        "fast",
        "--print",
        "--set",
        f"outputs.runtime_dir={runtime}",
        entry=(str(REPO_ROOT / "run.py"),),
        timeout_s=240,
        cwd=Path(tempfile.gettempdir()),  # the subscriber must not rely on the working directory
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "country" in result.stdout.lower(), result.stdout + result.stderr[-3000:]
