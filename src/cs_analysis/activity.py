"""Dated CS events laid onto the account × month grid of an MRR cube, as cumulative counts.

With ``cum[name][t, a]`` = events of account ``a`` up to the end of month ``t``, the count in any
period m1..m2 is ``cum[m2] − cum[m1 − 1]``: one subtraction for every account and period.
Events dated before the first month count as month 0's past; events after the last are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cs_analysis.dataset import Dataset
from cs_analysis.ledger import MrrCube, accumulate


@dataclass(frozen=True)
class ActivityCube:
    """``cum``: month × account cumulative event counts by name; ``latest_nps``: each account's
    latest NPS score dated up to each month's end (NaN before its first answer), or None."""

    cum: dict[str, np.ndarray]
    latest_nps: np.ndarray | None


def _cumulative(cube: MrrCube, rows: np.ndarray, months: np.ndarray) -> np.ndarray:
    n, t = len(cube.accounts), len(cube.months)
    keep = months < t
    flat = np.maximum(months[keep], 0) * n + rows[keep]
    counts = np.bincount(flat, minlength=n * t).astype(np.int32).reshape(t, n)
    return accumulate(np.add, counts, in_place=True)


def build_activity(dataset: Dataset, cube: MrrCube) -> ActivityCube:
    """Cumulative counts of NPS answers (all, promoters 9–10, detractors 0–6), tickets opened,
    referral touchpoints and success-plan objectives (due; due and completed on time; due and
    completed, by the later of the two dates), plus the latest NPS score per account-month."""
    cum: dict[str, np.ndarray] = {}
    latest = None

    nps = dataset.nps_responses
    if nps is not None:
        rows, months, score = cube.account_columns(nps["account_id"]), cube.month_rows(nps["date"]), nps["score"].to_numpy()
        cum["nps_responses"] = _cumulative(cube, rows, months)
        cum["promoters"] = _cumulative(cube, rows[score >= 9], months[score >= 9])
        cum["detractors"] = _cumulative(cube, rows[score <= 6], months[score <= 6])
        latest = _latest_score(cube, rows, np.maximum(months, 0), nps["date"].to_numpy(), score)

    tickets = dataset.tickets
    if tickets is not None:
        cum["tickets_opened"] = _cumulative(cube, cube.account_columns(tickets["account_id"]), cube.month_rows(tickets["opened_at"]))

    tp = dataset.touchpoints
    if tp is not None and "kind" in tp.columns:
        ref = tp[tp["kind"].eq("referral").fillna(False).astype(bool)]
        cum["referral_touchpoints"] = _cumulative(cube, cube.account_columns(ref["account_id"]), cube.month_rows(ref["date"]))

    plans = dataset.success_plans
    if plans is not None:
        rows = cube.account_columns(plans["account_id"])
        due = cube.month_rows(plans["due_date"])
        done = plans["completed_date"]
        on_time = (done.notna() & (done <= plans["due_date"])).to_numpy()
        closed = done.notna().to_numpy()
        closed_month = np.maximum(due, np.where(closed, cube.month_rows(done.fillna(plans["due_date"])), 0))
        cum["objectives_due"] = _cumulative(cube, rows, due)
        cum["objectives_on_time"] = _cumulative(cube, rows[on_time], due[on_time])
        cum["objectives_closed"] = _cumulative(cube, rows[closed], closed_month[closed])
    return ActivityCube(cum, latest)


def _latest_score(cube: MrrCube, rows: np.ndarray, months: np.ndarray, dates: np.ndarray,
                  score: np.ndarray) -> np.ndarray:
    """(months × accounts) latest score dated up to each month's end, carried forward."""
    n, t = len(cube.accounts), len(cube.months)
    keep = months < t
    cell = months[keep].astype(np.int64) * n + rows[keep]
    order = np.lexsort((dates[keep], cell))
    cell, s = cell[order], score[keep][order].astype(float)
    last = np.r_[cell[1:] != cell[:-1], True]  # the latest answer of each cell
    grid = np.full((t, n), np.nan)
    grid.ravel()[cell[last]] = s[last]
    for month in range(1, t):  # carry each account's latest score forward, a month at a time
        np.copyto(grid[month], grid[month - 1], where=np.isnan(grid[month]))
    return grid
