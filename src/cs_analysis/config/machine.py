"""What this machine lets a run use: the cores for threads that parallelise independent work."""

from __future__ import annotations

import os


def usable_cores(limit: int = 4) -> int:
    """The cores this process may run on (its CPU affinity, as containers and ``taskset`` set
    it; at most ``OMP_NUM_THREADS`` when that is set, as in a report's notebook kernels, which
    run beside each other), at most ``limit`` and at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:
        cores = min(cores, int(omp))
    return max(1, min(limit, cores))
