"""The full report on the default demo company vs the floor: the same number of empty notebooks
executed with papermill, one after the other, in the same run. Target <= 2.5x the floor. The
report runs with its default --jobs (notebooks at once); it is also timed with --jobs 1.
Run: .venv/bin/python benchmarks/bench_report.py [--repeat R] [--accounts N] [--no-serial]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import nbformat
import papermill as pm

from _common import demo, machine
from cs_analysis.report.runner import KERNEL, default_jobs, run_report


def _floor(tmp: Path, n: int) -> float:
    """``n`` empty notebooks executed with papermill one after the other, in seconds."""
    empty = tmp / "empty.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, empty)
    start = time.perf_counter()
    for i in range(n):
        pm.execute_notebook(str(empty), str(tmp / f"out{i}.ipynb"), kernel_name=KERNEL, progress_bar=False,
                            log_output=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2, help="alternated report / floor pairs (default 2)")
    parser.add_argument("--accounts", type=int, default=1000, help="demo company size (default: the default demo)")
    parser.add_argument("--no-serial", action="store_true", help="skip the --jobs 1 run")
    args = parser.parse_args()
    data = demo(args.accounts)
    print(f"machine: {machine()}; data: demo company ({args.accounts:,} accounts x 36 months); "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    fulls, floors = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):  # A B A B: the report, then its floor, in the same run
            start = time.perf_counter()
            result = run_report(None, data, Path(tmp) / f"reports{r}")
            fulls.append(time.perf_counter() - start)
            n = len(result.notebooks)
            floors.append(_floor(Path(tmp), n))
            print(f"  pair {r + 1}: report {fulls[-1]:.1f} s ({len(result.failed)} failed), floor {floors[-1]:.1f} s, "
                  f"ratio {fulls[-1] / floors[-1]:.2f}")
        serial = float("nan")
        if not args.no_serial:
            start = time.perf_counter()
            run_report(None, data, Path(tmp) / "serial", jobs=1)
            serial = time.perf_counter() - start
    best = min(fulls) / min(floors)
    median = statistics.median(fulls) / statistics.median(floors)
    print(f"full report: {n} notebooks, best {min(fulls):.1f} s with --jobs {default_jobs()}, {serial:.1f} s with "
          f"--jobs 1; floor best {min(floors):.1f} s; ratio best/best {best:.2f}, median/median {median:.2f} "
          f"(target <= 2.5), --jobs 1: {serial / min(floors):.2f}; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
