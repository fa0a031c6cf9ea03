"""Root pytest configuration: the notebooks (collected by nbval) read a small simulated company.

nbval starts one kernel per notebook; they inherit CS_ANALYSIS_DATA, which points at a small
demo dataset generated once per test session (unless the variable is already set).
"""

from __future__ import annotations

import os
import tempfile

from cs_analysis.demo import DemoSpec, write_demo


def pytest_configure(config) -> None:
    if os.environ.get("CS_ANALYSIS_DATA"):
        return
    folder = tempfile.mkdtemp(prefix="cs-analysis-nb-data-")
    write_demo(folder, DemoSpec(accounts=300, months=24, end="2026-09", seed=7))
    os.environ["CS_ANALYSIS_DATA"] = folder
