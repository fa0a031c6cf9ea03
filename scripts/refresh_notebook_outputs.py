"""Store the outputs of the notebooks' ``# NBVAL_CHECK_OUTPUT`` cells, computed on the test
fixture company, in tests/notebook_outputs.json (nbval compares with them; the notebooks stay
without outputs).

Run after a deliberate change to a checked cell's result:
    .venv/bin/python scripts/refresh_notebook_outputs.py
then review the diff (git diff tests/notebook_outputs.json) before committing.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import nbformat
import papermill as pm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from notebook_fixture import CHECK_MARK, OUTPUTS, write_fixture  # noqa: E402


def main() -> None:
    stored: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = write_fixture(Path(tmp) / "data")
        for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
            source = nbformat.read(path, as_version=4)
            executed = pm.execute_notebook(str(path), str(Path(tmp) / path.name), parameters={"data": str(data)},
                                           progress_bar=False)
            ran = [c for c in executed.cells if "injected-parameters" not in c.metadata.get("tags", [])]
            cells = {cell.id: {"execution_count": done.execution_count, "outputs": done.outputs}
                     for cell, done in zip(source.cells, ran, strict=True)
                     if cell.cell_type == "code" and cell.source.startswith(CHECK_MARK)}
            if cells:
                stored[path.stem] = cells
            print(f"{path.name}: {len(cells)} checked cell(s)")
    OUTPUTS.write_text(json.dumps(stored, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
