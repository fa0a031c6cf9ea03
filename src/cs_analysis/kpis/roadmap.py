"""Success roadmap (Karakuri's サクセスロードマップ): overdue objectives per account and owner."""

from __future__ import annotations

import pandas as pd

from cs_analysis.data.dataset import Dataset


def overdue_objectives(dataset: Dataset, as_of: str | pd.Timestamp) -> pd.DataFrame:
    """Objectives due on or before ``as_of`` and not completed by then, most overdue first.

    Columns: account_id, name, csm_owner, objective, due_date, days_overdue. Empty without a
    success_plans table.
    """
    columns = ["account_id", "name", "csm_owner", "objective", "due_date", "days_overdue"]
    plans = dataset.success_plans
    if plans is None:
        return pd.DataFrame(columns=columns)
    day = pd.Timestamp(as_of).normalize()
    done = plans["completed_date"]
    late = plans[(plans["due_date"] <= day) & (done.isna() | (done > day))]
    out = late.merge(dataset.accounts[["account_id", "name", "csm_owner"]], on="account_id", how="left")
    out["days_overdue"] = (day - out["due_date"]).dt.days
    return out[columns].sort_values(["days_overdue", "account_id"], ascending=[False, True], ignore_index=True)
