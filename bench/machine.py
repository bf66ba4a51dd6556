"""The machine a run happened on (for the table's heading and docs/benchmarks.md)."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe() -> str:
    return (f"{os.cpu_count()} CPU ({cpu_model()}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")
