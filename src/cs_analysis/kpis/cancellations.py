"""Churn by cancellation reason (docs/kpis.md, "Churn by cancellation reason").

Each churn movement (an account's MRR falling to 0 in a month) takes the reason of the
account's latest cancellation dated on or before the end of that month and not before the
start of the account's current run of active months (a cancellation from an earlier life of a
reactivated account does not count); without one its reason is "(unknown)". Per period and
segment:

- ``churned_mrr_by_reason:<reason>``: the churned MRR of the period's churn movements of that
  reason (they add up to ``churned_mrr``);
- ``churned_accounts_by_reason:<reason>``: the period's churned accounts (active at its start,
  not at its end) by the reason of their last churn in it (they add up to ``churned_accounts``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cs_analysis.core.ledger import MOVEMENTS, MrrCube, accumulate
from cs_analysis.core.segments import Segmenter, reference_month

UNKNOWN = "(unknown)"
FAMILIES = ("churned_mrr_by_reason", "churned_accounts_by_reason")


def churn_reasons(cube: MrrCube, cancellations: pd.DataFrame, i1: np.ndarray, i2: np.ndarray,
                  segmenter: Segmenter, segmentations: Sequence[str], labels: Sequence[str],
                  chunk_cells: int) -> pd.DataFrame:
    """Tidy rows (period, segment_by, segment, kpi, value) of the two reason families for the
    periods with month rows ``i1``..``i2`` (``labels``), in total and per segmentation; the
    segments of at most ``chunk_cells`` periods × accounts are held at once."""
    moved = cube.movement_rows
    churn = moved.code == MOVEMENTS.index("churn")
    months, cols, amounts = moved.months[churn], moved.cols[churn], moved.amount[churn]
    reason_code, reasons = _reason_of(cube, cancellations, months, cols)
    columns = ["period", "segment_by", "segment", "kpi", "value"]
    if not len(reasons):
        return pd.DataFrame(columns=columns)
    active = cube.active
    i1, i2 = np.asarray(i1), np.asarray(i2)
    chunk = max(1, chunk_cells // max(1, len(cube.accounts)))  # periods whose segments are read at once
    codes_of: dict[str, np.ndarray] = {}
    names_of: dict[str, list[str]] = {}
    r = len(reasons)
    kpi_names = {family: np.array([f"{family}:{reason}" for reason in reasons], dtype=object) for family in FAMILIES}
    parts: list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]] = []  # period, by, segment, kpi, value
    for p, (m1, m2) in enumerate(zip(i1, i2, strict=True)):
        if p % chunk == 0:  # the segments of the next chunk of periods (periods × accounts)
            refs = reference_month(cube, i1[p:p + chunk], i2[p:p + chunk])
            codes_of.clear()
            for by in segmentations:
                codes, names_of[by] = segmenter.codes(by, refs)
                codes_of[by] = codes
        in_period = (months >= m1) & (months <= m2)
        ev_cols, ev_amount, ev_reason = cols[in_period], amounts[in_period], reason_code[in_period]
        ev_month = months[in_period]
        churned = active[m1 - 1] & ~active[m2]  # the period's churned accounts
        last = np.full(len(cube.accounts), -1)
        order = np.argsort(ev_month, kind="stable")
        last[ev_cols[order]] = ev_reason[order]  # the reason of each account's last churn in the period
        acc_reason = np.where(churned, last, -1)
        have = acc_reason >= 0
        for by in segmentations:
            codes, names = codes_of[by], names_of[by]
            codes = codes[p % chunk] if codes.ndim == 2 else codes
            k = len(names)
            mrr = np.bincount(codes[ev_cols] * r + ev_reason, ev_amount, k * r).reshape(k, r)
            counts = np.bincount(codes[have] * r + acc_reason[have], None, k * r).reshape(k, r)
            seg, rea = np.nonzero((mrr > 0) | (counts > 0))
            segment = np.asarray(names, dtype=object)[seg]
            for family, values in zip(FAMILIES, (mrr, counts), strict=True):
                parts.append((labels[p], by, segment, kpi_names[family][rea], values[seg, rea].astype(float)))
    sizes = [len(part[2]) for part in parts]
    if not sum(sizes):
        return pd.DataFrame(columns=columns)
    return pd.DataFrame({  # one frame of every period's rows, in the order they were made
        "period": np.repeat(np.array([part[0] for part in parts], dtype=object), sizes),
        "segment_by": np.repeat(np.array([part[1] for part in parts], dtype=object), sizes),
        "segment": np.concatenate([part[2] for part in parts]),
        "kpi": np.concatenate([part[3] for part in parts]),
        "value": np.concatenate([part[4] for part in parts]),
    })


def _reason_of(cube: MrrCube, cancellations: pd.DataFrame, months: np.ndarray,
               cols: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The reason code of each churn movement (month row, account column) and the reason names
    (UNKNOWN last, when needed)."""
    acc = cube.account_columns(cancellations["account_id"])
    ok = acc >= 0
    day = cancellations["date"].to_numpy(dtype="datetime64[D]").astype(np.int64)[ok]
    names, codes = np.unique(cancellations["reason"].astype("str").to_numpy()[ok], return_inverse=True)
    reasons = [str(n) for n in names]
    acc = acc[ok]
    # the start of each account's current active run: the month after its last inactive month
    n_months = len(cube.months)
    idle = np.where(~cube.active, np.arange(n_months)[:, None], -1)
    last_idle = accumulate(np.maximum, idle)
    run_start = last_idle[np.maximum(months - 1, 0), cols] + 1
    first_day = _month_days(cube, 0)
    run_day = first_day[run_start]
    end_day = _month_days(cube, 1)[months]
    span, shift = np.int64(1) << 32, 1 << 20
    order = np.lexsort((day, acc))
    keys = acc[order].astype(np.int64) * span + day[order] + shift
    probe = cols.astype(np.int64) * span + end_day + shift
    at = np.searchsorted(keys, probe, side="right") - 1
    found = at >= 0
    hit = order[np.maximum(at, 0)]
    found &= (acc[hit] == cols) & (day[hit] >= run_day)
    out = np.where(found, codes[hit], len(reasons))
    if (~found).any():
        reasons.append(UNKNOWN)
    return out, reasons


def _month_days(cube: MrrCube, end: int) -> np.ndarray:
    """Day numbers of each cube month's first day (``end`` 0) or last day (``end`` 1)."""
    first = cube.months.start_time.to_numpy().astype("datetime64[D]").astype(np.int64)
    if not end:
        return first
    return cube.months.end_time.to_numpy().astype("datetime64[D]").astype(np.int64)
