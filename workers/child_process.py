"""Starting and stopping one child process by its entry module, with the ``spawn`` context.

A child whose spec says ``fast_exit`` leaves with ``os._exit(0)`` once its entry point has
returned (its own clean-up done: sockets closed, rings detached, logs flushed), skipping the
interpreter's teardown. An asr worker's teardown (freeing the model's arrays and hundreds of
modules, then the kernel unmapping ~400 MB) took 0.2-1.4 s after its "stopped" line on a loaded
machine, so a recycled worker sometimes outlived its 2 s grace and was sent SIGTERM.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
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
    fast_exit: bool = False  # after a clean return: os._exit(0), no interpreter teardown


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
                target=_run_then_exit if self.spec.fast_exit else run_child,
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

    @property
    def started(self) -> bool:
        """Whether ``start`` was called (a pool polled before it starts has nothing to watch)."""
        return self._process is not None

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

    def kill(self, wait_s: float = 0.0) -> None:
        """SIGKILL (after SIGCONT, so a stopped child dies too). Waits up to ``wait_s`` for the
        exit; with 0 (the supervisor's loop) it returns at once and ``reap`` collects the child."""
        self.signal(signal.SIGKILL)
        self.signal(signal.SIGCONT)
        if wait_s > 0:
            self.join(timeout_s=wait_s)
        if self._process is not None and self.exitcode is None:
            _pending.append(_Retiring(self._process, self.spec.role, 0.0, 0.0))

    def retire(self, grace_s: float, now_s: float) -> None:
        """Let the child exit on its own (it was asked, e.g. with a Shutdown message) without
        waiting for it: ``reap`` sends SIGTERM after ``grace_s`` and SIGKILL 2 s later."""
        if self._process is not None and self.exitcode is None:
            _pending.append(
                _Retiring(self._process, self.spec.role, now_s + grace_s, now_s + grace_s + 2.0)
            )

    def join(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the child to exit; True when it has."""
        if self._process is None:
            return True
        self._process.join(timeout_s)
        return not self._process.is_alive()

    def stop(self, grace_s: float) -> int | None:
        """Wait ``grace_s`` for a clean exit (ask first, e.g. with a Shutdown message),
        then SIGTERM, then SIGKILL. Returns the exit code. ``grace_s`` <= 0: SIGKILL at once
        without waiting (the supervisor's loop; ``reap`` collects it; None while it lives)."""
        if self._process is None:
            return None
        if grace_s <= 0:
            self.kill()
            return self.exitcode
        if not self.join(grace_s):
            logger.warning("%s did not exit within %.1f s; terminating", self.spec.role, grace_s)
            self.signal(signal.SIGTERM)
            if not self.join(2.0):
                logger.warning("%s ignored SIGTERM; killing", self.spec.role)
                self.kill(wait_s=5.0)
        return self.exitcode


def _run_then_exit(*args: Any) -> None:
    """``run_child``, then (on a clean return only: a failure exits as before, with its
    traceback and code 1) leave at once without the interpreter's teardown."""
    run_child(*args)
    logging.shutdown()  # flush every handler
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


@dataclass
class _Retiring:
    """A child let go without waiting: reaped when it exits, forced at its deadlines."""

    process: multiprocessing.process.BaseProcess
    role: str
    term_at_s: float  # SIGTERM from then on (0: already killed)
    kill_at_s: float  # SIGKILL from then on (0: already killed)
    terminated: bool = False


_pending: list[_Retiring] = []  # children killed or retired and not yet reaped


def reap(now_s: float | None = None) -> int:
    """Collect the killed and retired children that have exited (a non-blocking ``waitpid``
    each) and force the ones past their deadlines. Called by the supervisor's loop every step;
    returns how many are still waited for."""
    now_s = time.monotonic() if now_s is None else now_s
    still: list[_Retiring] = []
    for retiring in _pending:
        process = retiring.process
        if not process.is_alive():  # reaps it
            continue
        if retiring.kill_at_s and now_s >= retiring.kill_at_s:
            logger.warning(
                "%s (pid %s) did not exit after SIGTERM; killing", retiring.role, process.pid
            )
            _send(process.pid, signal.SIGKILL)
            _send(process.pid, signal.SIGCONT)
            retiring.kill_at_s = 0.0
        elif retiring.term_at_s and now_s >= retiring.term_at_s and not retiring.terminated:
            logger.warning(
                "%s (pid %s) did not exit when asked; terminating", retiring.role, process.pid
            )
            _send(process.pid, signal.SIGTERM)
            retiring.terminated = True
        still.append(retiring)
    _pending[:] = still
    return len(still)


def reap_all(timeout_s: float) -> None:
    """At shutdown: wait up to ``timeout_s`` for the children still being reaped (forcing them
    at their deadlines), then SIGKILL what is left."""
    deadline_s = time.monotonic() + timeout_s
    while reap() and time.monotonic() < deadline_s:
        time.sleep(0.02)
    for retiring in _pending:
        _send(retiring.process.pid, signal.SIGKILL)
        _send(retiring.process.pid, signal.SIGCONT)
        retiring.process.join(1.0)
    reap()


def _send(pid: int | None, signum: int) -> None:
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
