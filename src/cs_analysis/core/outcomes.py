"""Outcomes: the one definition of "churned within H months" that labels the churn model's rows
and back-tests the health score (docs/model.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cs_analysis.core.ledger import MrrCube


def churn_within(cube: MrrCube, frame: pd.DataFrame, horizon_months: int) -> pd.Series:
    """For rows (``account_id``, ``as_of`` at a month end): did the account churn in the
    ``horizon_months`` months after ``as_of``'s month? 1.0 / 0.0, NaN where those months are not
    all in the data yet (the label is unknown, never guessed).

    >>> from cs_analysis.core.ledger import build_cube
    >>> subs = pd.DataFrame({"account_id": ["A", "A", "B", "B", "B"],
    ...                      "month": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-01-01",
    ...                                               "2025-02-01", "2025-03-01"]),
    ...                      "product": "core", "licenses": 1, "mrr": 100.0})
    >>> cube = build_cube(subs, pd.Series(["A", "B"]))
    >>> rows = pd.DataFrame({"account_id": ["A", "B"], "as_of": pd.to_datetime(["2025-01-31"] * 2)})
    >>> churn_within(cube, rows, 2).tolist()   # A churns in March; B is still billed in March
    [1.0, 0.0]
    >>> churn_within(cube, rows, 3).tolist()   # April is not in the data: unknown
    [nan, nan]
    """
    churn = cube.churn_count
    col = cube.account_columns(frame["account_id"])
    month = cube.month_rows(frame["as_of"])
    known = month + horizon_months <= len(cube.months) - 1
    out = np.full(len(frame), np.nan)
    m, c = month[known], col[known]
    out[known] = (churn[m + horizon_months, c] - churn[m, c]) > 0
    return pd.Series(out, index=frame.index)
