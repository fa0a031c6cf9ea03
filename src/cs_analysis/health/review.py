"""Reviewing health: does the score predict churn (back-test), level transitions, engagement gaps
and onboarding. Built on :class:`~cs_analysis.health.scorer.HealthScorer` snapshots."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cs_analysis import i18n
from cs_analysis.config.scorecard import DIMENSIONS
from cs_analysis.core.outcomes import churn_within
from cs_analysis.core.ranking import roc_auc
from cs_analysis.errors import HistoryError
from cs_analysis.health.scorer import HealthScorer, month_ends


@dataclass(frozen=True)
class Backtest:
    """Churn in the ``horizon_months`` after each snapshot, by health level and score."""

    horizon_months: int
    snapshots: int
    observations: int
    by_level: pd.DataFrame  # level, label_en, label_ja, observations, churned, churn_rate (%)
    auc: float  # ROC AUC of the score (low score → churn); 0.5 = no information
    auc_by_dimension: dict[str, float]

    @property
    def monotonic(self) -> bool:
        """Churn rises from level 4 to level 1."""
        rates = self.by_level.sort_values("level", ascending=False)["churn_rate"].to_numpy()
        return bool(np.all(np.diff(rates) > 0))


def backtest(scorer: HealthScorer, horizon_months: int = 3,
             dates: list[pd.Timestamp] | None = None) -> Backtest:
    """Score every month end (default: all whose following ``horizon_months`` are in the data)
    and compare with churn in those months."""
    cube = scorer.signals.cube
    if dates is None:
        if len(cube.months) < horizon_months + 2:
            raise HistoryError(
                f"the health back-test needs at least {horizon_months + 2} months of subscriptions (the opening "
                f"month, a month end to score and the {horizon_months} months after it); the data covers "
                f"{cube.months[0]}..{cube.months[-1]} ({len(cube.months)} months)")
        dates = month_ends(cube.months[1], cube.months[-1] - horizon_months)
    hist = scorer.history(dates)
    hist["churned"] = churn_within(scorer.signals.cube, hist, horizon_months)
    hist = hist[hist["churned"].notna() & (hist["level"] > 0)]
    if hist.empty:
        raise HistoryError(f"the health back-test found no scored account with {horizon_months} months of "
                           "history after it")
    y = hist["churned"].astype(bool).to_numpy()
    by_level = hist.groupby("level")["churned"].agg(observations="size", churned="sum").reset_index()
    by_level["churned"] = by_level["churned"].astype(int)
    by_level["churn_rate"] = by_level["churned"] / by_level["observations"] * 100
    by_level.insert(1, "label_en", by_level["level"].map(lambda x: i18n.LEVELS[x][0]))
    by_level.insert(2, "label_ja", by_level["level"].map(lambda x: i18n.LEVELS[x][1]))
    by_level = by_level.sort_values("level", ascending=False, ignore_index=True)

    def auc(values: pd.Series) -> float:
        ok = values.notna().to_numpy()
        return roc_auc(y[ok], -values[ok].to_numpy(dtype=float))

    dims = {d: auc(hist[d]) for d in DIMENSIONS if d in hist}
    return Backtest(horizon_months, len(dates), len(hist), by_level, auc(hist["score"]), dims)


def transition_matrix(scorer: HealthScorer, date_from: str | pd.Timestamp,
                      date_to: str | pd.Timestamp) -> pd.DataFrame:
    """Accounts by level on ``date_from`` (rows, 4 → 1) and on ``date_to`` (columns, 4 → 1, plus
    "churned" for accounts no longer active)."""
    a = scorer.at(date_from, reasons=False)[["account_id", "level"]]
    b = scorer.at(date_to, reasons=False)[["account_id", "level"]]
    merged = a.merge(b, on="account_id", how="left", suffixes=("_from", "_to"))
    merged["to"] = merged["level_to"].map(lambda x: "churned" if pd.isna(x) else int(x))
    table = pd.crosstab(merged["level_from"], merged["to"])
    table = table.reindex(index=[4, 3, 2, 1], columns=[4, 3, 2, 1, "churned"], fill_value=0)
    table.index.name, table.columns.name = "level_from", "level_to"
    return table


def engagement_gaps(scorer: HealthScorer, as_of: str | pd.Timestamp) -> pd.DataFrame:
    """Active accounts without CS contact for more than ``no_contact_days`` (setting), with ARR
    (12 × MRR) and owner, largest ARR first."""
    sig = scorer.signals.at(as_of)
    days = scorer.settings.health.no_contact_days
    if "days_since_contact" not in sig:
        return pd.DataFrame(columns=["account_id", "name", "csm_owner", "days_since_contact", "arr"])
    gap = sig[sig["active"] & (sig["days_since_contact"] > days)]
    acc = scorer.dataset.accounts.set_index("account_id")
    out = pd.DataFrame({
        "account_id": gap.index,
        "name": acc["name"].reindex(gap.index).to_numpy(),
        "csm_owner": acc["csm_owner"].reindex(gap.index).to_numpy(),
        "days_since_contact": gap["days_since_contact"].astype(int).to_numpy(),
        "arr": (gap["mrr"] * 12).to_numpy(),
    })
    return out.sort_values(["arr", "account_id"], ascending=[False, True], ignore_index=True)


def onboarding_summary(scorer: HealthScorer, as_of: str | pd.Timestamp) -> dict[str, float]:
    """Onboarding KPIs on ``as_of`` over accounts active then: completion rate (%), median days
    from signup to completion (accounts completed by then), and accounts stuck past
    ``stuck_after_days``. Empty when the onboarding rule has no data (see
    :attr:`SignalBuilder.onboarding_rule_on`)."""
    if not scorer.signals.onboarding_rule_on:
        return {}
    sig = scorer.signals.at(as_of)
    active = sig[sig["active"]]
    completed = active["onboarded"].to_numpy()
    return {
        "onboarding_completion_rate": float(completed.mean() * 100) if len(active) else float("nan"),
        "median_days_to_onboard": float(active["days_to_onboard"].median()) if completed.any() else float("nan"),
        "onboarding_stuck_accounts": int(active["onboarding_stuck"].sum()),
    }
