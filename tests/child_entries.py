"""Entry points for tests/test_child_process.py (run in spawned children)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any


def main(settings: dict[str, Any]) -> None:
    path = Path(settings["path"])
    action = settings["action"]
    if action == "slow_teardown":  # a slow interpreter exit, as a big worker's under load
        import atexit

        atexit.register(time.sleep, 5.0)
        path.write_text("returning")
        return
    if action == "write":
        path.write_text(f"{os.environ.get('STREAMSCRIBE_PROBE_ENV')} {os.getpid()}")
        return
    if action == "ignore_term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    path.write_text("ready")
    time.sleep(60)
