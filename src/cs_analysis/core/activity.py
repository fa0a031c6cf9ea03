"""Dated CS events laid onto the account × month grid of an MRR cube, as sparse rows by month.

Each kind of event is kept as ``MonthRows`` (its account columns sorted by month), so the count
of every account in any months m1..m2 is one bincount of a slice. Events dated before the first
month count as month 0's past; events after the last are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cs_analysis.core.ledger import MonthRows, MrrCube
from cs_analysis.data.dataset import Dataset


@dataclass(frozen=True)
class ActivityCube:
    """``events``: the rows of each kind of event; ``latest_nps``: each account's latest NPS
    score dated up to each month's end (months × accounts, NaN before its first answer), or None."""

    events: dict[str, MonthRows]
    latest_nps: np.ndarray | None


def _event_rows(cube: MrrCube, rows: np.ndarray, months: np.ndarray) -> MonthRows:
    t = len(cube.months)
    keep = months < t
    return MonthRows.of(rows[keep], np.maximum(months[keep], 0).astype(np.int32), t)


def build_activity(dataset: Dataset, cube: MrrCube) -> ActivityCube:
    """Event rows of NPS answers (all, promoters 9–10, detractors 0–6), tickets opened,
    referral touchpoints and success-plan objectives (due; due and completed on time; due and
    completed, by the later of the two dates), plus the latest NPS score per account-month."""
    events: dict[str, MonthRows] = {}
    latest = None

    nps = dataset.nps_responses
    if nps is not None:
        rows, months, score = cube.account_columns(nps["account_id"]), cube.month_rows(nps["date"]), nps["score"].to_numpy()
        events["nps_responses"] = _event_rows(cube, rows, months)
        events["promoters"] = _event_rows(cube, rows[score >= 9], months[score >= 9])
        events["detractors"] = _event_rows(cube, rows[score <= 6], months[score <= 6])
        latest = _latest_score(cube, rows, np.maximum(months, 0), nps["date"].to_numpy(), score)

    tickets = dataset.tickets
    if tickets is not None:
        events["tickets_opened"] = _event_rows(cube, cube.account_columns(tickets["account_id"]), cube.month_rows(tickets["opened_at"]))

    tp = dataset.touchpoints
    if tp is not None and "kind" in tp.columns:
        referral = tp["kind"].eq("referral").to_numpy(dtype=bool, na_value=False)  # only the columns read
        events["referral_touchpoints"] = _event_rows(cube, cube.account_columns(tp["account_id"][referral]),
                                                     cube.month_rows(tp["date"][referral]))

    plans = dataset.success_plans
    if plans is not None:
        rows = cube.account_columns(plans["account_id"])
        due = cube.month_rows(plans["due_date"])
        done = plans["completed_date"]
        on_time = (done.notna() & (done <= plans["due_date"])).to_numpy()
        closed = done.notna().to_numpy()
        closed_month = np.maximum(due, np.where(closed, cube.month_rows(done.fillna(plans["due_date"])), 0))
        events["objectives_due"] = _event_rows(cube, rows, due)
        events["objectives_on_time"] = _event_rows(cube, rows[on_time], due[on_time])
        events["objectives_closed"] = _event_rows(cube, rows[closed], closed_month[closed])
    return ActivityCube(events, latest)


def _latest_score(cube: MrrCube, rows: np.ndarray, months: np.ndarray, dates: np.ndarray,
                  score: np.ndarray) -> np.ndarray:
    """(months × accounts) latest score dated up to each month's end, carried forward."""
    n, t = len(cube.accounts), len(cube.months)
    keep = months < t
    cell = months[keep].astype(np.int64) * n + rows[keep]
    order = np.lexsort((dates[keep], cell))
    cell, s = cell[order], score[keep][order].astype(float)
    grid = np.full((t, n), np.nan)
    if cell.size == 0:  # no answer yet (an empty table)
        return grid
    last = np.r_[cell[1:] != cell[:-1], True]  # the latest answer of each cell
    grid.ravel()[cell[last]] = s[last]
    for month in range(1, t):  # carry each account's latest score forward, a month at a time
        np.copyto(grid[month], grid[month - 1], where=np.isnan(grid[month]))
    return grid
