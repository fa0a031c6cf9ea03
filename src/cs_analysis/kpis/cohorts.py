"""Cohort retention tables (docs/kpis.md, "Cohort retention").

An account's cohort is its first paid month (first month with MRR > 0), or that month's fiscal
quarter or fiscal year. Reactivated accounts stay in their first cohort. Each account is aged
from its own first paid month: age a is the month a × g after it (g = 1, 3 or 12 months for the
month, quarter or year grain), so age 0 is the start, where logo retention is 100. Per cohort,
segment and age, over the cohort's accounts whose age-a month lies in the data:

- ``logo``: % of them active (MRR > 0) at age a;
- ``mrr``: net MRR retention, their MRR at age a ÷ their MRR in their first paid month × 100
  (expansion included; may exceed 100);
- ``seats``: their licenses at age a ÷ their licenses in their first paid month × 100.

Accounts already active in the data's opening month are left out when their signup_date lies
before it: their first paid month is before the data. Segments are read at each account's first
paid month, as it was when the cohort started. Cells over fewer than ``min_cohort_accounts``
accounts are kept and marked (``cohort_accounts`` says how many).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cs_analysis.core.periods import GRAINS, fiscal_labels
from cs_analysis.errors import DataError
from cs_analysis.kpis.engine import KpiEngine

MEASURES = ("logo", "mrr", "seats")
COLUMNS = ["segment_by", "segment", "cohort", "age", "measure", "cohort_accounts", "value"]
STEP = {"month": 1, "quarter": 3, "year": 12}


@dataclass
class Cohorts:
    """A cohort table (tidy ``frame``, see :data:`COLUMNS`) and what was left out."""

    frame: pd.DataFrame
    grain: str
    min_accounts: int
    left_out: int  # accounts active in the opening month whose start lies before the data

    def small(self) -> pd.Series:
        """Cells over fewer than ``min_accounts`` accounts (marked, not hidden)."""
        return self.frame["cohort_accounts"] < self.min_accounts

    def matrix(self, measure: str, segment_by: str = "all", segment: str = "all") -> pd.DataFrame:
        """Rows = cohorts, columns = ages, values of one measure (NaN where not observed)."""
        f = self.frame
        f = f[(f["measure"] == measure) & (f["segment_by"] == segment_by) & (f["segment"] == segment)]
        return f.pivot_table(index="cohort", columns="age", values="value", aggfunc="first", sort=True)

    def sizes(self, segment_by: str = "all", segment: str = "all") -> pd.Series:
        """Accounts per cohort (at age 0)."""
        f = self.frame
        f = f[(f["measure"] == "logo") & (f["age"] == 0) & (f["segment_by"] == segment_by) & (f["segment"] == segment)]
        return f.set_index("cohort")["cohort_accounts"].sort_index()


def cohort_retention(engine: KpiEngine, grain: str | None = None, by: str | None = None,
                     measures: tuple[str, ...] = MEASURES, end: pd.Period | None = None) -> Cohorts:
    """The cohort tables of the engine's dataset (``grain``: month, quarter or year; default the
    setting ``cohort_grain``), in total and, with ``by``, per segment; with ``end`` (a month),
    as they stood then: cohorts and ages up to that month only (a report on a past period)."""
    grain = grain or engine.settings.cohort_grain
    if grain not in GRAINS:
        raise DataError(f"grain must be one of {', '.join(GRAINS)}, not {grain!r}")
    unknown = [m for m in measures if m not in MEASURES]
    if unknown:
        raise DataError(f"unknown measure(s) {', '.join(unknown)}; use {', '.join(MEASURES)}")
    cube = engine.cube
    months = cube.months
    stop = len(months) if end is None else cube.month_index(pd.Period(end, "M")) + 1
    months = months[:stop]
    active, mrr, licenses = cube.active[:stop], cube.mrr[:stop], cube.licenses[:stop]
    n_months, n = active.shape
    ever = active.any(axis=0)
    start = np.where(ever, np.argmax(active, axis=0), -1)
    signup = engine.dataset.accounts.set_index("account_id")["signup_date"].reindex(cube.accounts)
    before = (signup.dt.to_period("M") < cube.months[0]).to_numpy(dtype=bool, na_value=False)
    truncated = ever & (start == 0) & before
    keep = ever & ~truncated
    cols = np.flatnonzero(keep)
    s = start[cols]
    labels = fiscal_labels(months, engine.settings.fiscal_year_start_month, grain)
    cohort_names, cohort = np.unique(labels[s], return_inverse=True)
    segmentations = ["all"] + ([by] if by and by != "all" else [])
    step = STEP[grain]
    frames = []
    base = {"logo": np.ones(len(cols)), "mrr": mrr[s, cols], "seats": licenses[s, cols]}
    for seg_by in segmentations:
        codes, names = engine.segmenter.codes(seg_by, start)
        seg = codes[cols]
        k = len(names) * len(cohort_names)
        group = seg * len(cohort_names) + cohort
        for age in range(0, (n_months - 1) // step + 1):
            at = s + age * step
            seen = at < n_months
            if not seen.any():
                break
            g, c, t = group[seen], cols[seen], at[seen]
            count = np.bincount(g, minlength=k)
            values = {"logo": active[t, c].astype(float), "mrr": mrr[t, c], "seats": licenses[t, c]}
            present = np.flatnonzero(count)
            for measure in measures:
                num = np.bincount(g, values[measure], minlength=k)[present]
                den = np.bincount(g, base[measure][seen], minlength=k)[present]
                value = np.divide(num * 100.0, den, out=np.full(len(present), np.nan), where=den > 0)
                frames.append(pd.DataFrame({
                    "segment_by": seg_by,
                    "segment": np.asarray(names, dtype=object)[present // len(cohort_names)],
                    "cohort": cohort_names[present % len(cohort_names)],
                    "age": age, "measure": measure,
                    "cohort_accounts": count[present].astype(np.int64), "value": value,
                }))
    frame = (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS))
    frame = frame.sort_values(["segment_by", "segment", "measure", "cohort", "age"], kind="stable",
                              key=lambda col: col.map({"all": ""}).fillna(col) if col.name == "segment_by" else col,
                              ignore_index=True)[COLUMNS]
    return Cohorts(frame, grain, engine.settings.min_cohort_accounts, int(truncated.sum()))
