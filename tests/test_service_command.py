"""``run.py service install|uninstall`` writes a valid systemd user unit (or launchd agent) into
a temporary HOME, without calling systemctl when it is absent."""

from __future__ import annotations

import configparser
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.data_paths import REPO_ROOT


def _service(home: Path, *arguments: str) -> subprocess.CompletedProcess:
    empty_bin = home / "bin"  # PATH without systemctl or launchctl
    empty_bin.mkdir(exist_ok=True)
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / "cfg"), "PATH": str(empty_bin)}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "run.py"), "service", *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=home,
    )


def test_install_writes_a_notify_unit_with_a_watchdog_and_uninstall_removes_it(tmp_path) -> None:
    result = _service(
        tmp_path,
        "install",
        "--instance",
        "night",
        "--",
        "--source",
        "mic:USB Mic",
        "--workers",
        "2",
    )
    assert result.returncode == 0, result.stderr
    assert "systemctl not found" in result.stdout  # told, not called
    unit_path = tmp_path / "cfg" / "systemd" / "user" / "streamscribe-night.service"
    assert unit_path.is_file()
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read_string(unit_path.read_text())
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "on-failure"
    assert unit["Install"]["WantedBy"] == "default.target"
    exec_start = service["ExecStart"]
    assert exec_start.startswith(f"{sys.executable} {REPO_ROOT / 'run.py'} daemon --instance night")
    assert exec_start.endswith('--source "mic:USB Mic" --workers 2')  # quoted where needed
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(
            ["systemd-analyze", "verify", str(unit_path)], capture_output=True, text=True
        )
        assert verify.returncode == 0, verify.stderr
    removed = _service(tmp_path, "uninstall", "--instance", "night")
    assert removed.returncode == 0, removed.stderr
    assert not unit_path.exists()


def test_install_writes_a_launchd_agent(tmp_path) -> None:
    result = _service(tmp_path, "install", "--platform", "launchd", "--config", "my.toml")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "Library" / "LaunchAgents" / "org.streamscribe.default.plist"
    agent = plistlib.loads(path.read_bytes())
    assert agent["Label"] == "org.streamscribe.default"
    assert agent["ProgramArguments"][:4] == [
        sys.executable,
        str(REPO_ROOT / "run.py"),
        "daemon",
        "--instance",
    ]
    assert agent["ProgramArguments"][-2:] == ["--config", str(tmp_path / "my.toml")]
    assert agent["KeepAlive"] == {"SuccessfulExit": False}
    assert _service(tmp_path, "uninstall", "--platform", "launchd").returncode == 0
    assert not path.exists()


@pytest.mark.parametrize("word", ["50%", "a$b"])
def test_exec_start_escapes_specifiers_and_variables(word: str) -> None:
    from cli.service_command import systemd_unit

    unit = systemd_unit("x", ["/usr/bin/python3", "/r/run.py", "daemon", word], watchdog_s=0)
    assert word.replace("%", "%%").replace("$", "$$") in unit
    assert "WatchdogSec" not in unit
