"""Segments (SPEC §3, §2.5): size, touch tier, or any account column, as of a period.

A segment that changes over time (touch tier) is taken at the period's start for accounts
active then, otherwise at their first active month inside the period; accounts active in
neither get "(none)".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cs_analysis.config import Settings
from cs_analysis.errors import CsAnalysisError
from cs_analysis.ledger import MrrCube

DERIVED = ("size", "touch_tier")
NONE = "(none)"


class SegmentError(CsAnalysisError):
    """An unknown segmentation was asked for."""


def reference_month(cube: MrrCube, first: int, last: int) -> np.ndarray:
    """Per account, the month column its time-varying segments are read at (−1: none)."""
    start = first - 1
    in_start = cube.active[:, start] if start >= 0 else np.zeros(len(cube.accounts), bool)
    within = cube.active[:, first : last + 1]
    first_active = np.argmax(within, axis=1) + first
    return np.where(in_start, start, np.where(within.any(axis=1), first_active, -1))


def touch_tier(licenses: np.ndarray, settings: Settings) -> np.ndarray:
    """high / low / tech by licenses (RevComm's thresholds, settings)."""
    return np.select(
        [licenses >= settings.high_touch_licenses, licenses >= settings.low_touch_licenses],
        ["high", "low"],
        "tech",
    ).astype(object)


def segment_labels(
    by: str, accounts: pd.DataFrame, cube: MrrCube, settings: Settings, ref: np.ndarray
) -> np.ndarray:
    """Label of every cube account for segmentation ``by`` ("all", a derived one or a column)."""
    if by == "all":
        return np.full(len(cube.accounts), "all", dtype=object)
    table = accounts.set_index("account_id").reindex(cube.accounts)
    if by == "size":
        return np.where(table["employees"].to_numpy() >= settings.enterprise_employees,
                        "Enterprise", "SMB").astype(object)
    if by == "touch_tier":
        rows = np.arange(len(cube.accounts))
        lic = cube.licenses[rows, np.maximum(ref, 0)]
        return np.where(ref >= 0, touch_tier(lic, settings), NONE).astype(object)
    if by in table.columns:
        values = table[by]
        return values.astype("str").where(values.notna(), NONE).to_numpy(dtype=object)
    known = ", ".join([*DERIVED, *[c for c in table.columns if c not in ("name",)]])
    raise SegmentError(f"unknown segmentation {by!r}; use one of: {known}")
