"""Entry points for tests/test_orphans.py (run in spawned children)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def main(settings: dict[str, Any]) -> None:
    """``sleep``: write this pid, then sleep. ``parent``: spawn a sleeping grandchild through
    ``ChildProcess`` (as the supervisor does), write its pid, then sleep."""
    import os

    path = Path(settings["path"])
    if settings["action"] == "parent":
        from workers.child_process import ChildProcess, ChildSpec

        child = ChildProcess(
            ChildSpec(
                "grandchild",
                "tests.orphan_entries",
                {"action": "sleep", "path": str(path.with_suffix(".grandchild"))},
            )
        )
        child.start()
    path.write_text(str(os.getpid()))
    time.sleep(120)
