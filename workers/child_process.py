"""Starting and stopping one child process by its entry module, with the ``spawn`` context."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workers.bootstrap import run_child

logger = logging.getLogger(__name__)

_SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class ChildSpec:
    role: str  # unique name of this child, e.g. "asr-1", "capture", "vad"
    entry_module: str  # module with a main(settings) function, e.g. "workers.asr"
    settings: Mapping[str, Any] = field(default_factory=dict)  # picklable plain values
    log_level: str = "WARNING"
    environment: Mapping[str, str] = field(default_factory=dict)  # extra env for this child


class ChildProcess:
    """One running (or finished) child. Not thread-safe; owned by one supervisor loop."""

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self._process: multiprocessing.process.BaseProcess | None = None
        self.started_at_s = 0.0

    def start(self) -> None:
        """Start the child; extra environment variables apply to it alone."""
        saved = {name: os.environ.get(name) for name in self.spec.environment}
        os.environ.update(self.spec.environment)
        try:
            self._process = _SPAWN.Process(
                target=run_child,
                args=(
                    self.spec.entry_module,
                    self.spec.role,
                    dict(self.spec.settings),
                    self.spec.log_level,
                    os.getpid(),  # the child checks its parent against this, not getppid()
                ),
                name=self.spec.role,
                daemon=False,
            )
            self._process.start()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        self.started_at_s = time.monotonic()
        logger.info("started %s (%s) as pid %s", self.spec.role, self.spec.entry_module, self.pid)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def is_alive(self) -> bool:
        return bool(self._process and self._process.is_alive())

    @property
    def exitcode(self) -> int | None:
        return self._process.exitcode if self._process else None

    def signal(self, signum: int) -> None:
        """Send ``signum`` if the child is alive (no error if it just exited)."""
        if self.pid is not None and self.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL (after SIGCONT, so a stopped child dies too) and reap."""
        self.signal(signal.SIGKILL)
        self.signal(signal.SIGCONT)
        self.join(timeout_s=5.0)

    def join(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the child to exit; True when it has."""
        if self._process is None:
            return True
        self._process.join(timeout_s)
        return not self._process.is_alive()

    def stop(self, grace_s: float) -> int | None:
        """Wait ``grace_s`` for a clean exit (ask first, e.g. with a Shutdown message),
        then SIGTERM, then SIGKILL. Returns the exit code."""
        if self._process is None:
            return None
        if not self.join(grace_s):
            logger.warning("%s did not exit within %.1f s; terminating", self.spec.role, grace_s)
            self.signal(signal.SIGTERM)
            if not self.join(2.0):
                logger.warning("%s ignored SIGTERM; killing", self.spec.role)
                self.kill()
        return self.exitcode
