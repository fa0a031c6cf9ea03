"""The pages of a report run: one per notebook and one per segment of each segmentation, with
their file names. The runner executes them; the quarterly report's index links them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from cs_analysis.core.periods import Period
from cs_analysis.core.segments import reference_month
from cs_analysis.kpis.engine import KpiEngine

NOTEBOOKS = ("quarterly_report", "kpi_overview", "health_review", "model_review", "at_risk", "renewals_forecast")
SEGMENT_NOTEBOOK = "segment_analysis"
SLUG_CHARS = 40  # characters of a segment's name kept in its notebook's file name


@dataclass(frozen=True)
class Page:
    """One page of a run: its file name (without suffix), notebook, and segment if any."""

    name: str
    notebook: str
    segment_by: str | None = None
    segment: str | None = None


def segment_file_name(by: str, segment: str) -> str:
    """The output name of a segment's notebook: readable, unique, bounded and stable — a slug of
    the segmentation and segment (letters and digits of any script, at most ``SLUG_CHARS`` each)
    plus a short hash of both exact values, so ``IT/通信`` and ``IT 通信`` never share a file.

    >>> segment_file_name("size", "SMB")
    'segment_analysis_size_SMB_f0a04b19'
    """
    def slug(text: str) -> str:
        kept = "".join(c if c.isalnum() else "_" for c in text)
        return "_".join(part for part in kept.split("_") if part)[:SLUG_CHARS] or "x"

    digest = hashlib.sha256(f"{by}\0{segment}".encode()).hexdigest()[:8]
    return f"{SEGMENT_NOTEBOOK}_{slug(by)}_{slug(segment)}_{digest}"


def run_pages(engine: KpiEngine, period: Period, segmentations: list[str]) -> list[Page]:
    """Every page of a run for ``period``: the notebooks, then a page per segment that has
    accounts active in the period (at its start or during it), segment names sorted."""
    pages = [Page(name, name) for name in NOTEBOOKS]
    cube = engine.cube
    i1, i2 = cube.month_index(period.first), cube.month_index(period.end)
    ref = reference_month(cube, i1, i2)
    for by in segmentations:
        codes, names = engine.segmenter.codes(by, ref)
        present = np.unique(codes[ref >= 0])
        for segment in sorted(str(names[c]) for c in present):
            pages.append(Page(segment_file_name(by, segment), SEGMENT_NOTEBOOK, by, segment))
    return pages
