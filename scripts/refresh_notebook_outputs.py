"""Store the outputs of the notebooks' ``# NBVAL_CHECK_OUTPUT`` cells, computed on the test
fixture company, in notebooks/*.ipynb; every other cell stays without outputs.

Run after a deliberate change to a checked cell's result:
    .venv/bin/python scripts/refresh_notebook_outputs.py
then review the diff (git diff notebooks/) before committing.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nbformat
import papermill as pm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from notebook_fixture import CHECK_MARK, write_fixture  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = write_fixture(Path(tmp) / "data")
        for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
            source = nbformat.read(path, as_version=4)
            executed = pm.execute_notebook(str(path), str(Path(tmp) / path.name), parameters={"data": str(data)},
                                           progress_bar=False)
            ran = [c for c in executed.cells if "injected-parameters" not in c.metadata.get("tags", [])]
            for cell, done in zip(source.cells, ran, strict=True):
                if cell.cell_type == "code":  # nbval compares only cells stored as run
                    checked = cell.source.startswith(CHECK_MARK)
                    cell.outputs = done.outputs if checked else []
                    cell.execution_count = done.execution_count if checked else None
            nbformat.write(source, path)
            print(f"{path.name}: {sum(c.source.startswith(CHECK_MARK) for c in source.cells)} checked cell(s)")


if __name__ == "__main__":
    main()
