"""Point-in-time model datasets (docs/model.md): one row per account active at an observation date
(a month end), features from data dated on or before it, and the label "churns within the next
H months". Rows whose label window is not complete in the data have an empty label and are
never used for training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from cs_analysis.config.scorecard import DIMENSIONS
from cs_analysis.config.settings import SIZES, TOUCH_TIERS, Settings
from cs_analysis.core.ledger import texts_at
from cs_analysis.core.outcomes import churn_within
from cs_analysis.data.dataset import Dataset
from cs_analysis.health.scorer import HealthScorer, month_ends

# raw signals used as model features (health dimensions and score are added beside them)
SIGNAL_FEATURES = [
    "mrr", "licenses", "mrr_change_3m", "seat_trend", "tenure_months", "utilisation",
    "utilisation_change_3m", "usage_trend", "feature_breadth", "days_since_contact", "meetings_90d",
    "touchpoints_90d", "nps_latest", "tickets_90d", "severe_tickets_90d", "severe_open_tickets",
    "roi_measured_365d", "champion_change_180d", "onboarded", "milestones_done", "onboarding_overdue",
    "onboarding_stuck", "days_since_signup",
]
CATEGORICAL_FEATURES = ["size", "touch_tier"]
ID_COLUMNS = ["account_id", "as_of"]
LABEL = "churned"


@dataclass
class FeatureBuilder:
    """Builds point-in-time feature rows for any observation dates of one dataset."""

    dataset: Dataset
    settings: Settings
    horizon_months: int = 3

    @cached_property
    def scorer(self) -> HealthScorer:
        return HealthScorer(self.dataset, self.settings)

    @cached_property
    def _employees(self) -> np.ndarray | None:
        """Employees of each of the cube's accounts (None without the column)."""
        acc = self.dataset.accounts
        if "employees" not in acc:
            return None
        return acc.set_index("account_id")["employees"].reindex(self.scorer.signals.cube.accounts).to_numpy()

    def at(self, as_of: str | pd.Timestamp) -> pd.DataFrame:
        """Feature rows of the accounts active on ``as_of``, with the label where known."""
        return self.build([as_of])

    def build(self, dates: Sequence[str | pd.Timestamp] | None = None) -> pd.DataFrame:
        """Feature rows for every date (default: every month end after the first month): the
        signals of the accounts active on each date, stacked, then every feature computed once
        over all the rows (the health score included)."""
        signals = self.scorer.signals
        cube = signals.cube
        if dates is None:
            dates = month_ends(cube.months[1], cube.months[-1])
        days = [pd.Timestamp(d).normalize() for d in dates]
        for day in days:
            cube.require_day(day)  # a date outside the data: HistoryError
        parts, accounts = [], []
        for day in days:  # per date only its signals (accounts vectorised) and who is active
            every = signals.arrays(day)
            active = np.flatnonzero(every["active"])
            parts.append({name: values[active] for name, values in every.items()})
            accounts.append(active)
        rows = np.concatenate(accounts)
        sig = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
        frame = pd.DataFrame({"account_id": texts_at(cube.account_texts, rows),
                              "as_of": pd.DatetimeIndex(days).repeat([len(a) for a in accounts]),
                              **self._columns(sig, rows)})
        frame[LABEL] = churn_within(cube, frame, self.horizon_months).to_numpy()
        return frame

    @cached_property
    def _band_names(self) -> dict[str, np.ndarray]:
        """Per scorecard measure, its band names by code + 1: "missing", then "b0", "b1", …"""
        return {f"band_{m.name}": np.array(["missing", *(f"b{k}" for k in range(len(m.bins) + 1))], dtype=object)
                for _, m in self.settings.health.measures()}

    def _columns(self, sig: dict[str, np.ndarray], accounts: np.ndarray) -> dict[str, np.ndarray | pd.Series]:
        """The feature columns, in order, of the rows ``sig`` (signals of active accounts;
        ``accounts``: each row's position in the cube's accounts)."""
        health = self.scorer.values_of(sig, accounts)
        s = self.settings
        n = len(accounts)
        out: dict[str, np.ndarray | pd.Series] = {}  # text columns taken in Arrow (core.ledger.texts_at)

        def num(name: str) -> np.ndarray:
            return np.asarray(sig[name], dtype=float)

        # a feature whose table is absent is not built at all (see features_off)
        for col in SIGNAL_FEATURES:
            if col == "mrr_change_3m":
                mrr, before = num("mrr"), num("mrr_3m_ago")
                out[col] = np.divide(mrr - before, before, out=np.full(n, np.nan), where=before > 0)
            elif col == "onboarding_overdue":  # still onboarding three months after the first bill
                if "milestones_done" in sig:
                    out[col] = ((sig["milestones_done"] == 0) & (sig["tenure_months"] >= 3)).astype(float)
            elif col == "champion_change_180d":
                if "days_since_champion_change" in sig:
                    out[col] = (sig["days_since_champion_change"] <= s.health.champion_cap_days).astype(float)
            elif col in sig:
                out[col] = num(col)
        for col in [*self.scorer.dimensions_on, "score"]:
            out[f"health_{col}"] = health[col]
        out["health_level"] = health["level"].astype(float)
        for col in [c for c in health if c.startswith("flag_")]:
            out[f"health_{col}"] = health[col].astype(float)
        for _, m in s.health.measures():  # the scorecard's bands of each signal, as categories
            if m.name in sig:
                values = num(m.name)
                codes = np.where(np.isnan(values), -1, np.digitize(np.nan_to_num(values), m.bins))
                out[f"band_{m.name}"] = texts_at(self._band_names[f"band_{m.name}"], codes + 1)
        if self._employees is not None:  # without employees there is no size (nothing invents one)
            out["size"] = texts_at(SIZES, s.size_codes(self._employees[accounts]))
        out["touch_tier"] = texts_at(TOUCH_TIERS, s.touch_tier_codes(num("licenses")))
        return out


def features_off(columns: Sequence[str]) -> list[str]:
    """The signal and health-dimension features missing from ``columns`` (rows built by
    :class:`FeatureBuilder`): those whose table is absent from the dataset."""
    built = set(columns)
    return [c for c in [*SIGNAL_FEATURES, *(f"health_{d}" for d in DIMENSIONS), "size"] if c not in built]


def feature_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The model's numeric and categorical input columns in ``frame`` (not ids, not the label)."""
    inputs = [c for c in frame.columns if c not in (*ID_COLUMNS, LABEL)]
    categorical = [c for c in inputs if c in CATEGORICAL_FEATURES or c.startswith("band_")]
    return [c for c in inputs if c not in categorical], categorical
