"""The small company the notebooks are tested on (nbval), and the stored outputs of their
``# NBVAL_CHECK_OUTPUT`` cells on it (tests/notebook_outputs.json; the notebooks themselves are
committed without outputs)."""

from __future__ import annotations

import json
from pathlib import Path

from cs_analysis.data.demo import DemoSpec, write_demo

SPEC = DemoSpec(accounts=300, months=24, end="2026-09", seed=7)
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
OUTPUTS = Path(__file__).with_name("notebook_outputs.json")


def write_fixture(folder: str | Path) -> Path:
    """Write the fixture company into ``folder``."""
    write_demo(folder, SPEC)
    return Path(folder)


def stored_outputs() -> dict[str, dict[str, dict]]:
    """notebook name → cell id → {"execution_count", "outputs"} of its checked cells."""
    return json.loads(OUTPUTS.read_text(encoding="utf-8")) if OUTPUTS.is_file() else {}
