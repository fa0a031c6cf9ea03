"""Helpers shared by the benchmarks: cached demo data, timing, peak memory, machine line."""

from __future__ import annotations

import os
import platform
import resource
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cs_analysis.data.demo import DemoSpec, write_demo

RESULTS = Path(__file__).parent / "results"


def demo(accounts: int, months: int = 36, seed: int = 42, events: bool = False) -> Path:
    """A demo company as Parquet under benchmarks/results/ (generated once, reused); with
    ``events``, its raw product events too (in <folder>/events/)."""
    out = RESULTS / f"demo_{accounts}x{months}_s{seed}{'_events' if events else ''}"
    marker = out / ".complete"
    if not marker.exists():
        write_demo(out, DemoSpec(accounts=accounts, months=months, end="2026-09", seed=seed), fmt="parquet",
                   events=events)
        marker.touch()
    return out


def demo_from_args(description: str, accounts: int = 100_000, repeat: int = 7):
    """Parse --accounts/--months/--repeat, load that demo company (generated once); returns the
    dataset, its settings and the number of timed runs asked for."""
    import argparse

    from cs_analysis import load_dataset, load_settings

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--accounts", type=int, default=accounts)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--repeat", type=int, default=repeat, help="timed runs (best and median reported)")
    args = parser.parse_args()
    ds = load_dataset(demo(args.accounts, args.months))
    print(f"machine: {machine()}; data: {args.accounts:,} accounts x {args.months} months, "
          f"{len(ds.subscriptions):,} subscription rows")
    return ds, load_settings(), args.repeat


def interleaved(fns: list[Callable[[], Any]], repeat: int) -> list[tuple[list[float], Any]]:
    """Run ``fns`` in turn, ``repeat`` rounds: each one's wall times and last result."""
    times: list[list[float]] = [[] for _ in fns]
    results: list[Any] = [None] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            results[i] = fn()
            times[i].append(time.perf_counter() - start)
    return list(zip(times, results, strict=True))


def traced_peak(fn: Callable[[], Any]) -> float:
    """Peak bytes allocated (Python and NumPy) while ``fn`` runs, in MiB."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
