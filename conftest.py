"""Root pytest configuration: the notebooks (collected by nbval) read a small simulated company.

nbval starts one kernel per notebook; they inherit CS_ANALYSIS_DATA, which points at the fixture
company of tests/notebook_fixture.py, generated once per test session. Cells marked
``# NBVAL_CHECK_OUTPUT`` are compared with the outputs stored for that company
(``scripts/refresh_notebook_outputs.py`` stores them; notebooks/nbval_sanitize.cfg masks
what may vary between machines).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "tests"))

from notebook_fixture import write_fixture  # noqa: E402


def pytest_configure(config) -> None:
    os.environ["CS_ANALYSIS_DATA"] = str(write_fixture(tempfile.mkdtemp(prefix="cs-analysis-nb-data-")))
