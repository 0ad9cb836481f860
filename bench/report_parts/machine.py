"""What the figures were measured on: cores, CPU model, Python, mlx, date."""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info(python: str = sys.executable) -> dict[str, str | int | None]:
    """Cores (all and usable), CPU model, OS, Python, mlx and numpy versions, date (UTC)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    mlx = package_version("mlx")
    mlx_cpu = package_version("mlx-cpu")
    return {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "cpu_model": cpu_model(),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": f"{platform.python_implementation()} {platform.python_version()} ({python})",
        "mlx": mlx if mlx_cpu == "not installed" else f"{mlx} (mlx-cpu {mlx_cpu})",
        "numpy": package_version("numpy"),
    }
