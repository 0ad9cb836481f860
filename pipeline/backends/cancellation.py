"""Cutting a running transcription short: checkpoints the engine passes, a check the worker sets.

A worker that may be told to stop the request it is working on (a partial pre-empted by final
work) installs a check with ``watching``; compute calls ``checkpoint()`` at points where
stopping is cheap and leaves nothing half-done (after the encoder, between decoder steps: see
``whisper.decoding``). When the check returns True, ``checkpoint`` raises ``Cancelled``.

``Cancelled`` derives from ``BaseException``, as ``asyncio.CancelledError`` does, so the
``except Exception`` handlers that turn failures into error replies let it pass: a cancel is not
a failure. ``finally`` blocks still run. Without a check installed a checkpoint costs one
attribute read; the check is per thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Cancelled", "checkpoint", "watching"]

_local = threading.local()


class Cancelled(BaseException):
    """The request being computed was cancelled at a checkpoint."""


def checkpoint() -> None:
    """Raise ``Cancelled`` when the installed check says the current work is cancelled."""
    check = getattr(_local, "check", None)
    if check is not None and check():
        raise Cancelled("cancelled at a checkpoint")


@contextmanager
def watching(check: Callable[[], bool]) -> Iterator[None]:
    """Install ``check`` for this thread's checkpoints while the block runs."""
    previous = getattr(_local, "check", None)
    _local.check = check
    try:
        yield
    finally:
        _local.check = previous
