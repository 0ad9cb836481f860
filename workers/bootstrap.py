"""The first code every child process runs: logging with role and pid, then its entry point.

Children are started with the ``spawn`` context, so nothing (sockets, ZeroMQ contexts, MLX state)
is inherited from the parent; each entry point creates its own after start.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
from collections.abc import Mapping
from typing import Any

from workers.parent_death import die_with_parent

LOG_FORMAT = "%(asctime)s %(levelname)s {role}[%(process)d] %(name)s: %(message)s"


def configure_child_logging(role: str, level: str) -> None:
    """Every log line of a child names its role and pid."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT.format(role=role), force=True)


def run_child(
    entry_module: str,
    role: str,
    settings: Mapping[str, Any],
    log_level: str,
    parent_pid: int | None = None,
) -> None:
    """Import ``entry_module`` and call its ``main(settings)``; exit code 0 on a clean return.

    First of all the child ties its life to ``parent_pid``, the spawning process as that process
    named itself (``workers.parent_death``): it exits when the parent does, at any moment.
    SIGINT is ignored in children, and each child leaves the daemon's process group: a Ctrl-C in
    the terminal (or ``timeout``'s SIGTERM) reaches the whole group, and the parent decides how its children stop (a ``Shutdown`` message, then SIGTERM/SIGKILL).
    """
    die_with_parent(parent_pid if parent_pid is not None else os.getppid())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.setpgrp()  # a signal to the daemon's process group (timeout, a shell) is not ours
    configure_child_logging(role, log_level)
    logger = logging.getLogger(entry_module)
    logger.debug("starting %s as pid %d", entry_module, os.getpid())
    module = importlib.import_module(entry_module)
    module.main(dict(settings))
