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
from cs_analysis.config.settings import Settings
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
    def _employees(self) -> pd.Series | None:
        acc = self.dataset.accounts
        return acc.set_index("account_id")["employees"] if "employees" in acc else None

    def at(self, as_of: str | pd.Timestamp) -> pd.DataFrame:
        """Feature rows of the accounts active on ``as_of``, with the label where known."""
        return self.build([as_of])

    def build(self, dates: Sequence[str | pd.Timestamp] | None = None) -> pd.DataFrame:
        """Feature rows for every date (default: every month end after the first month): each
        date's columns as arrays, joined once into one frame (text columns made once)."""
        if dates is None:
            months = self.scorer.signals.cube.months
            dates = month_ends(months[1], months[-1])
        days = [pd.Timestamp(d).normalize() for d in dates]
        parts = [self._arrays(day) for day in days]
        as_of = pd.DatetimeIndex(days).repeat([len(part["account_id"]) for part in parts])
        ids = np.concatenate([part.pop("account_id") for part in parts])
        columns = {}
        for name in parts[0] if parts else []:
            column = np.concatenate([part[name] for part in parts])
            if name.startswith("band_"):  # band codes (−1: missing) to their names
                column = self._band_names[name][column + 1]
            columns[name] = column
        frame = pd.DataFrame({"account_id": ids, "as_of": as_of, **columns})
        frame[LABEL] = churn_within(self.scorer.signals.cube, frame, self.horizon_months).to_numpy()
        return frame

    @cached_property
    def _band_names(self) -> dict[str, np.ndarray]:
        """Per scorecard measure, its band names by code + 1: "missing", then "b0", "b1", …"""
        return {f"band_{m.name}": np.array(["missing", *(f"b{k}" for k in range(len(m.bins) + 1))], dtype=object)
                for _, m in self.settings.health.measures()}

    def _arrays(self, day: pd.Timestamp) -> dict[str, np.ndarray]:
        """One date's feature columns, in order, for the accounts active on it (bands as codes)."""
        self.scorer.signals.cube.require_day(day)  # a date outside the data: HistoryError
        every = self.scorer.signals.at(day)
        health = self.scorer.values(every)
        sig = every[every["active"].to_numpy()]
        s = self.settings
        out: dict[str, np.ndarray] = {"account_id": sig.index.to_numpy()}
        # a feature whose table is absent is not built at all (see features_off)
        for col in SIGNAL_FEATURES:
            if col == "mrr_change_3m":
                mrr, before = sig["mrr"].to_numpy(dtype=float), sig["mrr_3m_ago"].to_numpy(dtype=float)
                out[col] = np.divide(mrr - before, before, out=np.full(len(sig), np.nan), where=before > 0)
            elif col == "onboarding_overdue":  # still onboarding three months after the first bill
                if "milestones_done" in sig:
                    out[col] = ((sig["milestones_done"] == 0) & (sig["tenure_months"] >= 3)).to_numpy(dtype=float)
            elif col == "champion_change_180d":
                if "days_since_champion_change" in sig:
                    days = s.health.champion_cap_days
                    out[col] = (sig["days_since_champion_change"] <= days).to_numpy(dtype=float)
            elif col in sig:
                out[col] = sig[col].to_numpy(dtype=float)
        for col in [*self.scorer.dimensions_on, "score"]:
            out[f"health_{col}"] = health[col]
        out["health_level"] = health["level"].astype(float)
        for col in [c for c in health if c.startswith("flag_")]:
            out[f"health_{col}"] = health[col].astype(float)
        for _, m in s.health.measures():  # the scorecard's bands of each signal, as categories
            if m.name in sig:
                values = sig[m.name].to_numpy(dtype=float)
                out[f"band_{m.name}"] = np.where(np.isnan(values), -1, np.digitize(np.nan_to_num(values), m.bins))
        if self._employees is not None:  # without employees there is no size (nothing invents one)
            out["size"] = s.size(self._employees.reindex(sig.index).to_numpy())
        out["touch_tier"] = s.touch_tier(sig["licenses"].to_numpy())
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
