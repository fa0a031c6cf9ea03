"""What this machine lets a run use: the cores for threads that parallelise independent work."""

from __future__ import annotations

import os


def usable_cores(limit: int = 4) -> int:
    """The cores this process may run on (its CPU affinity, as containers and ``taskset`` set
    it), at most ``limit`` and at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(limit, cores))
