"""The full report on the default demo company vs the floor: the same number of empty notebooks
executed with papermill, one after the other, in the same run. Target <= 3x the floor. The report
runs with its default --jobs (notebooks at once); it is also timed with --jobs 1.
Run: .venv/bin/python benchmarks/bench_report.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import nbformat
import papermill as pm

from _common import demo, machine
from cs_analysis.report.runner import KERNEL, default_jobs, run_report


def main() -> None:
    data = demo(1000)
    print(f"machine: {machine()}; data: default demo company (1,000 accounts x 36 months)")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = run_report(None, data, Path(tmp) / "reports")
        full = time.perf_counter() - start
        start = time.perf_counter()
        run_report(None, data, Path(tmp) / "serial", jobs=1)
        serial = time.perf_counter() - start
        n = len(result.notebooks)
        empty = Path(tmp) / "empty.ipynb"
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, empty)
        start = time.perf_counter()
        for i in range(n):
            pm.execute_notebook(str(empty), str(Path(tmp) / f"out{i}.ipynb"), kernel_name=KERNEL,
                                progress_bar=False, log_output=False)
        floor = time.perf_counter() - start
    print(f"full report: {n} notebooks in {full:.1f} s with --jobs {default_jobs()} ({len(result.failed)} failed), "
          f"{serial:.1f} s with --jobs 1")
    print(f"floor: {n} empty notebooks in {floor:.1f} s; ratio {full / floor:.2f} (target <= 3), "
          f"--jobs 1: {serial / floor:.2f}")


if __name__ == "__main__":
    main()
