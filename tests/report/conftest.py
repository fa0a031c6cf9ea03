"""The report run the report tests share: the small demo company, in Japanese, by size."""

from __future__ import annotations

from pathlib import Path

import pytest

from cs_analysis.report.runner import run_report


@pytest.fixture(scope="session")
def run(demo_small: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    result = run_report("FY2025Q4", demo_small, out, lang="ja", segments="size")
    assert not result.failed, result.failed
    return result.folder
