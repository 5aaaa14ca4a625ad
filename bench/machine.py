"""The machine line every benchmark prints next to its figures."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine_line(*versions: str) -> str:
    """CPU model and count, OS and Python, then the given ``name version`` strings."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [
        f"machine: {cpu} ({platform.machine()}), {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}",
        f"Python {platform.python_version()}",
        *versions,
    ]
    return "; ".join(parts)
