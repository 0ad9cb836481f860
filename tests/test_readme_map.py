"""The README's "Where things live" map names only files and folders that exist."""

from __future__ import annotations

import re

from tests.data_paths import REPO_ROOT


def test_every_path_in_the_map_exists() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("### Where things live", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"`([\w./]+(?:\.py|/))`", section)
    folder = None
    missing = []
    for name in named:
        if "/" in name.rstrip("/"):
            folder = (REPO_ROOT / name).parent if name.endswith(".py") else REPO_ROOT / name
            path = REPO_ROOT / name
        else:  # a bare file name continues the folder named before it
            path = folder / name if folder is not None else REPO_ROOT / name
        if not path.exists():
            missing.append(name)
    assert len(named) > 20 and not missing, missing
