"""A child never outlives the supervisor that spawned it, whenever the supervisor dies.

``die_with_parent(parent_pid)`` is the first thing every child runs (``workers.bootstrap``).
``parent_pid`` is the supervisor's pid as the supervisor passed it at spawn, never a value read
here with ``getppid()``: a child whose parent already died would read 1 (or a subreaper) and
believe that to be its parent.

- Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the child the moment the
  parent exits, even while the child sits in C code with the GIL held (a model load).
- Every platform: a check that the parent is still ``parent_pid`` right after that (the parent
  may have died between spawn and here, before the signal was armed), and a daemon thread that
  watches the parent: ``kqueue`` ``NOTE_EXIT`` where available (macOS, BSD), else polling
  ``getppid()`` every ``POLL_INTERVAL_S``. On Linux the thread is the second line of defence.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import select
import signal
import sys
import threading

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
POLL_INTERVAL_S = 0.25  # how often the watcher thread checks the parent (without kqueue)
EXIT_PARENT_GONE = 70  # exit status of a child that found its parent gone

_spawn_parent_pid: int | None = None


def spawn_parent_pid() -> int:
    """The parent pid passed at spawn (``os.getppid()`` when started some other way)."""
    return _spawn_parent_pid if _spawn_parent_pid is not None else os.getppid()


def parent_alive(parent_pid: int) -> bool:
    """True while this process's parent is still ``parent_pid``."""
    return os.getppid() == parent_pid


def arm_parent_death_signal(signum: int = signal.SIGKILL) -> bool:
    """Linux: have the kernel send ``signum`` when the parent exits. False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            error = ctypes.get_errno()
            logger.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(error))
            return False
    except (OSError, AttributeError) as e:
        logger.warning("prctl(PR_SET_PDEATHSIG) unavailable: %s", e)
        return False
    return True


def die_with_parent(parent_pid: int) -> None:
    """Arm every guard, then exit at once if ``parent_pid`` is already gone."""
    global _spawn_parent_pid
    _spawn_parent_pid = parent_pid
    arm_parent_death_signal()
    if not parent_alive(parent_pid):  # died before the signal was armed
        _exit_parent_gone(parent_pid)
    threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True
    ).start()


def _watch_parent(parent_pid: int) -> None:
    if hasattr(select, "kqueue"):
        with contextlib.suppress(OSError):
            _wait_kqueue(parent_pid)
    while parent_alive(parent_pid):
        threading.Event().wait(POLL_INTERVAL_S)
    _exit_parent_gone(parent_pid)


def _wait_kqueue(parent_pid: int) -> None:
    """Block until ``parent_pid`` exits (kqueue ``NOTE_EXIT``; macOS and BSD)."""
    queue = select.kqueue()
    try:
        event = select.kevent(
            parent_pid,
            filter=select.KQ_FILTER_PROC,
            flags=select.KQ_EV_ADD | select.KQ_EV_ONESHOT,
            fflags=select.KQ_NOTE_EXIT,
        )
        queue.control([event], 0)  # register; fails with ESRCH if it is already gone
        if parent_alive(parent_pid):
            queue.control(None, 1)  # wait for the exit
    finally:
        queue.close()


def _exit_parent_gone(parent_pid: int) -> None:
    # no logging here: the log handler's lock may be held by a thread this exit abandons
    with contextlib.suppress(OSError):
        os.write(2, f"[{os.getpid()}] parent {parent_pid} is gone; exiting\n".encode())
    os._exit(EXIT_PARENT_GONE)
