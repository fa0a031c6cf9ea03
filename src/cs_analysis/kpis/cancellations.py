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
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cs_analysis.core.ledger import MOVEMENTS, MrrCube, accumulate

UNKNOWN = "(unknown)"
FAMILIES = ("churned_mrr_by_reason", "churned_accounts_by_reason")


@dataclass(frozen=True)
class ChurnMovements:
    """The churn movements (by month row, then account column), each with its churned MRR and
    the code of its reason in ``reasons`` (UNKNOWN last, when some have none)."""

    months: np.ndarray
    cols: np.ndarray
    amounts: np.ndarray
    reason_code: np.ndarray
    reasons: list[str]


Part = tuple[str, str, np.ndarray, np.ndarray, np.ndarray]  # period, segment_by, segments, kpis, values


def churn_movements(cube: MrrCube, cancellations: pd.DataFrame) -> ChurnMovements:
    """Every churn movement of the cube with the reason of its cancellation."""
    moved = cube.movement_rows
    churn = moved.code == MOVEMENTS.index("churn")
    months, cols, amounts = moved.months[churn], moved.cols[churn], moved.amount[churn]
    reason_code, reasons = _reason_of(cube, cancellations, months, cols)
    return ChurnMovements(months, cols, amounts, reason_code, reasons)


def reason_parts(churns: ChurnMovements, cube: MrrCube, i1: np.ndarray, i2: np.ndarray,
                 segments: Sequence[tuple[str, np.ndarray, list[str]]], labels: Sequence[str]) -> list[Part]:
    """The two reason families of the periods with month rows ``i1``..``i2`` (``labels``), in
    total and per segmentation: ``segments`` holds (segment_by, each account's segment code
    (accounts, or periods × accounts), segment names). :func:`reason_frame` makes them rows."""
    months, cols, amounts, reason_code = churns.months, churns.cols, churns.amounts, churns.reason_code
    r = len(churns.reasons)
    if not r:
        return []
    active = cube.active
    kpi_names = {family: np.array([f"{family}:{reason}" for reason in churns.reasons], dtype=object)
                 for family in FAMILIES}
    parts: list[Part] = []
    for p, (m1, m2) in enumerate(zip(i1, i2, strict=True)):
        in_period = (months >= m1) & (months <= m2)
        ev_cols, ev_amount, ev_reason = cols[in_period], amounts[in_period], reason_code[in_period]
        ev_month = months[in_period]
        churned = active[m1 - 1] & ~active[m2]  # the period's churned accounts
        last = np.full(len(cube.accounts), -1)
        order = np.argsort(ev_month, kind="stable")
        last[ev_cols[order]] = ev_reason[order]  # the reason of each account's last churn in the period
        acc_reason = np.where(churned, last, -1)
        have = acc_reason >= 0
        for by, codes, names in segments:
            codes = codes[p] if codes.ndim == 2 else codes
            k = len(names)
            mrr = np.bincount(codes[ev_cols] * r + ev_reason, ev_amount, k * r).reshape(k, r)
            counts = np.bincount(codes[have] * r + acc_reason[have], None, k * r).reshape(k, r)
            seg, rea = np.nonzero((mrr > 0) | (counts > 0))
            segment = np.asarray(names, dtype=object)[seg]
            for family, values in zip(FAMILIES, (mrr, counts), strict=True):
                parts.append((labels[p], by, segment, kpi_names[family][rea], values[seg, rea].astype(float)))
    return parts


def reason_frame(parts: Sequence[Part]) -> pd.DataFrame:
    """Tidy rows (period, segment_by, segment, kpi, value) of :func:`reason_parts`, in order."""
    sizes = [len(part[2]) for part in parts]
    if not sum(sizes):
        return pd.DataFrame(columns=["period", "segment_by", "segment", "kpi", "value"])
    return pd.DataFrame({
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
