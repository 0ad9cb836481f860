"""``streamscribe service install|uninstall``: run the daemon as a user service.

Linux: a systemd user unit, ``$XDG_CONFIG_HOME/systemd/user/streamscribe[-INSTANCE].service``
(``Type=notify``: the daemon says READY once a worker is ready, pets ``WatchdogSec`` from its
loop and says STOPPING; ``Restart=on-failure``). macOS: a launchd agent,
``~/Library/LaunchAgents/org.streamscribe.INSTANCE.plist`` (``KeepAlive`` on failure). The
command is this interpreter running this checkout's ``run.py daemon`` (or ``-m cli daemon``
when installed), with ``--instance``, ``--config`` and any daemon arguments after ``--``.

When ``systemctl`` / ``launchctl`` is on the PATH, the service manager is told (daemon-reload;
``--enable`` also enables and starts it); otherwise the file is written and the command to run
is printed. Nothing here needs root.
"""

from __future__ import annotations

import argparse
import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

DEFAULT_WATCHDOG_S = 60  # systemd restarts the daemon when its loop stops this long
START_TIMEOUT_S = 600  # first start may convert the embedded model
STOP_TIMEOUT_S = 60  # shutdown drains in-flight finals first
RESTART_DELAY_S = 5
SYSTEMCTL_TIMEOUT_S = 30


def add_arguments(subparsers: argparse._SubParsersAction) -> None:
    """Register ``service install`` and ``service uninstall``."""
    parser = subparsers.add_parser("service", help="run the daemon as a user service")
    sub = parser.add_subparsers(dest="service_command", required=True)
    for name, text in (
        ("install", "write a systemd user unit (Linux) or a launchd agent (macOS)"),
        ("uninstall", "stop and remove the service"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("--instance", default="default", help="daemon instance name")
        command.add_argument(
            "--platform",
            choices=("auto", "systemd", "launchd"),
            default="auto",
            help="which service manager (auto: launchd on macOS, else systemd)",
        )
        command.add_argument("--enable", action="store_true", help="also enable and start it now")
        if name == "install":
            command.add_argument("--config", metavar="TOML", help="configuration file to use")
            command.add_argument(
                "--watchdog-s",
                type=int,
                default=DEFAULT_WATCHDOG_S,
                help="systemd WatchdogSec (0: none)",
            )
            command.add_argument(
                "daemon_args",
                nargs=argparse.REMAINDER,
                help="after --: more daemon arguments, e.g. -- --source mic:USB --workers 2",
            )
        command.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    platform = args.platform
    if platform == "auto":
        platform = "launchd" if sys.platform == "darwin" else "systemd"
    if args.service_command == "install":
        command = daemon_command(args.instance, args.config, _daemon_args(args.daemon_args))
        if platform == "systemd":
            path = systemd_unit_path(args.instance)
            _write(path, systemd_unit(args.instance, command, args.watchdog_s))
            _systemctl(["daemon-reload"])
            if args.enable:
                _systemctl(["enable", "--now", path.name])
            else:
                print(f"start it with: systemctl --user enable --now {path.name}")
        else:
            path = launchd_plist_path(args.instance)
            _write(path, launchd_plist(args.instance, command))
            if args.enable:
                _launchctl(["bootstrap", f"gui/{os.getuid()}", str(path)])
            else:
                print(f"start it with: launchctl bootstrap gui/{os.getuid()} {path}")
        print(f"wrote {path}")
        return 0
    if platform == "systemd":
        path = systemd_unit_path(args.instance)
        _systemctl(["disable", "--now", path.name])
        removed = _remove(path)
        _systemctl(["daemon-reload"])
    else:
        path = launchd_plist_path(args.instance)
        _launchctl(["bootout", f"gui/{os.getuid()}", str(path)])
        removed = _remove(path)
    print(f"removed {path}" if removed else f"nothing to remove at {path}")
    return 0


# ---- what is written -------------------------------------------------------------------


def daemon_command(instance: str, config: str | None, extra: list[str]) -> list[str]:
    """This interpreter running the daemon of this checkout (or of the installed package)."""
    root = Path(__file__).resolve().parents[1]
    run_py = root / "run.py"
    entry = [str(run_py)] if run_py.is_file() else ["-m", "cli"]
    command = [sys.executable, *entry, "daemon", "--instance", instance]
    if config:
        command += ["--config", str(Path(config).expanduser().resolve())]
    return command + extra


def systemd_unit_path(instance: str) -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "systemd" / "user" / f"{_service_name(instance)}.service"


def systemd_unit(instance: str, command: list[str], watchdog_s: int) -> str:
    lines = [
        "[Unit]",
        f"Description=streamscribe speech-to-text daemon ({instance})",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        f"ExecStart={' '.join(_systemd_quote(part) for part in command)}",
        f"WorkingDirectory={_systemd_quote(str(Path(command[1]).parent))}"
        if command[1].endswith("run.py")
        else None,
        "Environment=PYTHONUNBUFFERED=1",
        f"WatchdogSec={watchdog_s}" if watchdog_s > 0 else None,
        "Restart=on-failure",
        f"RestartSec={RESTART_DELAY_S}",
        f"TimeoutStartSec={START_TIMEOUT_S}",
        f"TimeoutStopSec={STOP_TIMEOUT_S}",
        "KillMode=mixed",
        "",
        "[Install]",
        "WantedBy=default.target",
    ]
    return "\n".join(line for line in lines if line is not None) + "\n"


def launchd_plist_path(instance: str) -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"org.streamscribe.{instance}.plist"


def launchd_plist(instance: str, command: list[str]) -> bytes:
    log = Path.home() / "Library" / "Logs" / f"{_service_name(instance)}.log"
    agent = {
        "Label": f"org.streamscribe.{instance}",
        "ProgramArguments": command,
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},  # restart after a failure, not after a stop
        "ThrottleInterval": RESTART_DELAY_S,
        "ExitTimeOut": STOP_TIMEOUT_S,
        "ProcessType": "Interactive",  # audio: no background throttling
        "EnvironmentVariables": {"PYTHONUNBUFFERED": "1"},
        "StandardOutPath": str(log),
        "StandardErrorPath": str(log),
    }
    return plistlib.dumps(agent)


# ---- helpers ---------------------------------------------------------------------------


def _service_name(instance: str) -> str:
    return "streamscribe" if instance == "default" else f"streamscribe-{instance}"


def _daemon_args(extra: list[str]) -> list[str]:
    return extra[1:] if extra[:1] == ["--"] else list(extra)


def _systemd_quote(word: str) -> str:
    """One ExecStart word: specifiers (%) and variables ($) escaped, quoted when needed."""
    word = word.replace("%", "%%").replace("$", "$$")
    if word and not any(c.isspace() or c in "\"'\\;" for c in word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_bytes(data)
    temporary.chmod(0o644)
    temporary.replace(path)


def _remove(path: Path) -> bool:
    if not path.exists():
        return False
    path.unlink()
    return True


def _systemctl(arguments: list[str]) -> None:
    _run_manager("systemctl", ["--user", *arguments])


def _launchctl(arguments: list[str]) -> None:
    _run_manager("launchctl", arguments)


def _run_manager(tool: str, arguments: list[str]) -> None:
    """Run the service manager when it is installed; report, never fail, when it does not work
    (no user session bus in a container, the service already stopped)."""
    executable = shutil.which(tool)
    if executable is None:
        print(f"{tool} not found: skipped `{tool} {' '.join(arguments)}`")
        return
    try:
        result = subprocess.run(
            [executable, *arguments],
            capture_output=True,
            text=True,
            timeout=SYSTEMCTL_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"`{tool} {' '.join(arguments)}` failed: {e}", file=sys.stderr)
        return
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        print(
            f"`{tool} {' '.join(arguments)}` failed: {detail[-1] if detail else result.returncode}",
            file=sys.stderr,
        )
