"""Runs the real daemon (``run.py daemon``) in a private runtime directory for tests.

Each ``DaemonRun`` gets a short private runtime directory (ipc socket paths stay short), its own
instance name, and its log in a file; tests talk to it over its real control and transcript
sockets, exactly as users' programs do.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from pipeline.bus import ensure_private_dir, new_context, open_socket, receive_message, send_message
from pipeline.messages import Message, StatusRequest, TranscriptFinal
from pipeline.ring.registry import remove_stale_segments
from tests.data_paths import DATA_DIR, REPO_ROOT


class DaemonRun:
    def __init__(
        self, *arguments: str, instance: str = "t", runtime_dir: Path | None = None
    ) -> None:
        self.runtime_dir = runtime_dir or ensure_private_dir(
            Path(tempfile.mkdtemp(prefix="ss", dir="/tmp"))
        )
        self.instance = instance
        self.log_path = self.runtime_dir / f"{instance}.log"
        self.arguments = arguments
        self.process: subprocess.Popen | None = None
        self.context = new_context()

    # ---- life ---------------------------------------------------------------------------

    def start(self, stdin_path: Path | None = None) -> DaemonRun:
        """Start the daemon; ``stdin_path`` is piped to its stdin (for ``--source stdin:...``)."""
        command = [
            sys.executable,
            str(REPO_ROOT / "run.py"),
            "--log-level",
            "INFO",
            "daemon",
            "--instance",
            self.instance,
            "--set",
            f"outputs.runtime_dir={self.runtime_dir}",
            *self.arguments,
        ]
        self._log = self.log_path.open("ab")
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        stdin = stdin_path.open("rb") if stdin_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            command, stdin=stdin, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT
        )
        if stdin_path:
            stdin.close()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def wait(self, timeout_s: float) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"daemon still running after {timeout_s} s; log:\n{self.log()[-4000:]}"
            ) from None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def close(self) -> None:
        self.stop()
        self.context.term()
        if getattr(self, "_log", None):
            self._log.close()

    def cleanup(self) -> None:
        self.close()
        # A daemon a test killed (SIGKILL) leaves its rings for the next start to clean; no next
        # start comes here, so do what it would (else later tests find them in /dev/shm).
        remove_stale_segments(self.runtime_dir)
        shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # ---- sockets ------------------------------------------------------------------------

    def endpoint(self, name: str) -> str:
        return f"ipc://{self.runtime_dir}/{self.instance}.{name}"

    def request(self, message: Message, timeout_s: float = 5.0) -> Message | None:
        socket = open_socket(self.context, zmq.REQ, self.endpoint("control"), bind=False)
        try:
            send_message(socket, message)
            received = receive_message(socket, timeout_ms=int(timeout_s * 1000))
            return received.message if received else None
        finally:
            socket.close(linger=0)

    def status(self, timeout_s: float = 5.0) -> dict[str, Any] | None:
        reply = self.request(StatusRequest(), timeout_s)
        return dict(reply.status) if reply is not None else None

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float, what: str
    ) -> dict[str, Any]:
        """Poll ``status`` until ``predicate(status)``; the last status is returned."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.status(timeout_s=2.0)
            if status is not None and predicate(status):
                return status
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"daemon exited ({self.process.returncode}) waiting for {what}:\n{self.log()[-4000:]}"
                )
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; log:\n{self.log()[-4000:]}")

    def journal(self) -> list[TranscriptFinal]:
        """Every final the daemon journaled, in seq order (read from its JSONL file)."""
        path = self.runtime_dir / f"{self.instance}.finals.jsonl"
        finals = []
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record.get("kind") == "transcript.final":
                finals.append(record)
        return sorted(finals, key=lambda r: r["seq"])


def process_row(status: dict[str, Any], role: str) -> dict[str, Any]:
    return next(row for row in status["processes"] if row["role"] == role)


def reference_text(name: str) -> str:
    return json.loads((DATA_DIR / name.replace(".wav", ".json")).read_text())["text"]


def shm_segments_of(pid: int) -> list[str]:
    shm = Path("/dev/shm")
    return sorted(p.name for p in shm.glob(f"ss{pid}_*")) if shm.is_dir() else []
