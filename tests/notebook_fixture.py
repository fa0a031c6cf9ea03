"""The small company the notebooks are tested on (nbval) and their checked outputs come from."""

from __future__ import annotations

from pathlib import Path

from cs_analysis.demo import DemoSpec, write_demo

SPEC = DemoSpec(accounts=300, months=24, end="2026-09", seed=7)
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def write_fixture(folder: str | Path) -> Path:
    """Write the fixture company into ``folder``."""
    write_demo(folder, SPEC)
    return Path(folder)
