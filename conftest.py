"""Root pytest configuration for the notebooks (collected by nbval).

nbval starts one kernel per notebook; they inherit CS_ANALYSIS_DATA, which points at the fixture
company of tests/notebook_fixture.py, generated once per test session. The notebooks are
committed without outputs; cells marked ``# NBVAL_CHECK_OUTPUT`` are compared with the outputs
stored for that company in tests/notebook_outputs.json (``scripts/refresh_notebook_outputs.py``
writes it; notebooks/nbval_sanitize.cfg masks what may vary between machines).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import IPyNbFile

sys.path.insert(0, str(Path(__file__).parent / "tests"))

from notebook_fixture import stored_outputs, write_fixture  # noqa: E402


def pytest_configure(config) -> None:
    os.environ["CS_ANALYSIS_DATA"] = str(write_fixture(tempfile.mkdtemp(prefix="cs-analysis-nb-data-")))


class CheckedNotebook(IPyNbFile):
    """nbval's notebook, with the stored outputs of its checked cells as the reference."""

    def collect(self):
        items = list(super().collect())  # reads self.nb; the items share its cells
        stored = stored_outputs().get(self.path.stem, {})
        for cell in self.nb.cells:
            if cell.get("id") in stored:
                cell.execution_count = stored[cell.id]["execution_count"]
                cell.outputs = nbformat.from_dict(stored[cell.id]["outputs"])
        return items


@pytest.hookimpl(hookwrapper=True)
def pytest_collect_file(file_path, parent):
    outcome = yield
    outcome.force_result([CheckedNotebook.from_parent(parent, path=file_path) if type(r) is IPyNbFile else r
                          for r in outcome.get_result()])
