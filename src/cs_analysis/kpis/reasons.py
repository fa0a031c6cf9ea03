"""Contact reasons (Usonar): tickets per reason, and reasons over-represented before churn."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cs_analysis.core.periods import Period
from cs_analysis.core.segments import reference_month
from cs_analysis.kpis.engine import KpiEngine


def contact_reasons(engine: KpiEngine, period: str | Period, by: str = "all",
                    horizon_months: int = 3) -> pd.DataFrame:
    """Tickets opened in ``period`` per reason and segment, with their share, and the share among
    tickets of accounts that churned within ``horizon_months`` after the ticket's month.

    ``lift`` = share before churn ÷ share overall (> 1: over-represented before churn). Tickets
    whose following months are not all in the data yet have no known outcome and are left out
    of the churn columns (``tickets_known_outcome`` counts the rest). Empty without tickets.
    """
    tickets = engine.dataset.tickets
    columns = ["period", "segment_by", "segment", "reason", "tickets", "share", "tickets_known_outcome",
               "tickets_before_churn", "share_before_churn", "lift"]
    p = engine.period(period)
    if tickets is None:
        return pd.DataFrame(columns=columns)
    cube = engine.cube
    i1, i2 = cube.month_index(p.first), cube.month_index(p.end)
    rows = cube.account_columns(tickets["account_id"])
    month = cube.month_rows(tickets["opened_at"])
    inside = (month >= i1) & (month <= i2)
    churn_cum = cube.churn_count
    last = len(cube.months) - 1
    known = inside & (month + horizon_months <= last)
    m, r = month[known], rows[known]
    churned = np.zeros(len(tickets), bool)
    churned[known] = churn_cum[m + horizon_months, r] - churn_cum[m, r] > 0
    codes, names = engine.segmenter.codes(by, reference_month(cube, i1, i2))
    frame = pd.DataFrame({
        "segment": np.asarray(names, dtype=object)[codes[rows]],
        "reason": tickets["reason"].to_numpy(),
        "inside": inside, "known": known, "churned": churned,
    })[inside]
    out = frame.groupby(["segment", "reason"], sort=True).agg(
        tickets=("inside", "sum"), tickets_known_outcome=("known", "sum"),
        tickets_before_churn=("churned", "sum")).reset_index()
    seg_total = out.groupby("segment")["tickets"].transform("sum")
    churn_total = out.groupby("segment")["tickets_before_churn"].transform("sum")
    out["share"] = out["tickets"] / seg_total * 100
    out["share_before_churn"] = (out["tickets_before_churn"] / churn_total.where(churn_total > 0)) * 100
    out["lift"] = out["share_before_churn"] / out["share"]
    out.insert(0, "segment_by", by)
    out.insert(0, "period", p.label)
    return out[columns].sort_values(["segment", "tickets"], ascending=[True, False], ignore_index=True)

