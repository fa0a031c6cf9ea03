"""Segments (docs/kpis.md, segments): size, touch tier, or any account column, as of a period.

A segment that changes over time (touch tier) is taken at the period's start for accounts
active then, otherwise at their first active month inside the period; accounts active in
neither get "(none)".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cs_analysis.config.settings import TOUCH_TIERS, Settings
from cs_analysis.core.ledger import MrrCube
from cs_analysis.errors import SegmentError

DERIVED = ("size", "touch_tier")
NONE = "(none)"


def reference_month(cube: MrrCube, first: int | np.ndarray, last: int | np.ndarray) -> np.ndarray:
    """Per account (periods × accounts when ``first``/``last`` are arrays of month rows), the
    month row its time-varying segments are read at: the period's start if active then, else
    the first active month inside the period, else −1."""
    first, last = np.asarray(first), np.asarray(last)
    start = first - 1
    in_start = cube.active[start]
    first_in = cube.next_active[first]
    ref = np.where(in_start, start[..., None], np.where(first_in <= last[..., None], first_in, -1))
    return ref


TIERS = (*TOUCH_TIERS, NONE)  # touch tiers as segments: not active at the reference month → (none)


def missing_label(values: pd.Series) -> str:
    """The segment name of accounts with no value in a column: "(none)", unless the column holds
    that text itself, then "(none: empty)" (and so on), so that the two never merge."""
    present = set(values.unique())
    label = NONE
    while label in present:
        label = label[:-1] + ": empty)" if label == NONE else label[:-1] + " empty)"
    return label


class Segmenter:
    """Segment codes of every cube account, for "all", ``size``, ``touch_tier`` or any account
    column. Static segmentations are computed once; the touch tier is read at the ``ref`` month
    rows (one per account, or periods × accounts)."""

    def __init__(self, accounts: pd.DataFrame, cube: MrrCube, settings: Settings):
        self.table = accounts.set_index("account_id").reindex(cube.accounts)
        self.cube, self.settings = cube, settings
        self._static: dict[str, tuple[np.ndarray, list[str]]] = {}

    def codes(self, by: str, ref: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """(code per account, segment names); codes index into the names."""
        if by == "touch_tier":
            lic = np.take_along_axis(self.cube.licenses, np.maximum(ref, 0).reshape(-1, ref.shape[-1]), axis=0)
            lic = lic.reshape(ref.shape)
            code = self.settings.touch_tier_codes(lic)
            return np.where(ref >= 0, code, 3), list(TIERS)
        if by not in self._static:
            codes, names = pd.factorize(self._static_labels(by), sort=True)
            self._static[by] = (codes, [str(n) for n in names])
        return self._static[by]

    def labels(self, by: str, ref: np.ndarray) -> np.ndarray:
        """Segment name per account."""
        codes, names = self.codes(by, ref)
        return np.asarray(names, dtype=object)[codes]

    def _static_labels(self, by: str) -> np.ndarray:
        n = len(self.cube.accounts)
        if by == "all":
            return np.full(n, "all", dtype=object)
        if by == "size":
            if "employees" not in self.table.columns:
                raise SegmentError("the size segment needs the accounts column employees, which this dataset "
                                   "does not have (size = Enterprise from enterprise_employees employees, else SMB)")
            return self.settings.size(self.table["employees"].to_numpy())
        if by in self.table.columns and by != "name":
            values = self.table[by]
            text = values.astype("str")
            return text.where(values.notna(), missing_label(text[values.notna()])).to_numpy(dtype=object)
        known = ", ".join([*DERIVED, *[c for c in self.table.columns if c != "name"]])
        raise SegmentError(f"unknown segmentation {by!r}; use one of: {known}")
