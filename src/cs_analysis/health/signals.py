"""Point-in-time account signals: everything the health score and the churn model see at a date.

``SignalBuilder(dataset, settings).at(as_of)`` returns one row per account with the signals as
known on ``as_of`` (a day), using only data dated on or before it:

- monthly tables: subscriptions of a month are known from its first day; usage of a month only
  once the month is over (on its last day);
- dated tables (touchpoints, NPS, tickets, champion changes, ROI, onboarding): rows dated on or
  before ``as_of``; a ticket counts as open when resolved after ``as_of`` or not at all.

Nothing later can change a value (a test appends future rows to every table to prove it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from cs_analysis.config.scorecard import MEASURES
from cs_analysis.config.settings import Settings
from cs_analysis.core.ledger import MrrCube, build_cube
from cs_analysis.core.timeline import EventIndex, day_numbers
from cs_analysis.data.dataset import Dataset

SEVERE = ("high", "critical")


def _mean(arrays: list[np.ndarray]) -> np.ndarray:
    """Element-wise mean ignoring NaN (NaN where all are NaN), without warnings."""
    stack = np.vstack(arrays)
    count = (~np.isnan(stack)).sum(axis=0)
    return np.divide(np.nansum(stack, axis=0), count, out=np.full(count.shape, np.nan), where=count > 0)


@dataclass
class SignalBuilder:
    """Builds the lookups once; :meth:`at` then costs O(accounts · log events) per date.
    ``cube``: the dataset's MRR cube when already built (else it is built here)."""

    dataset: Dataset
    settings: Settings
    cube: MrrCube | None = None

    def __post_init__(self) -> None:
        if self.cube is None:
            self.cube = build_cube(self.dataset.subscriptions, self.dataset.accounts["account_id"],
                          self.dataset.through, self.dataset.since)

    @cached_property
    def _usage(self) -> dict[str, np.ndarray] | None:
        """Month × account grids of usage columns on the cube's months (NaN: no row)."""
        usage = self.dataset.usage
        if usage is None:
            return None
        cube = self.cube
        month = cube.month_rows(usage["month"])
        keep = (month >= 0) & (month < len(cube.months))
        rows = cube.account_columns(usage["account_id"])[keep]
        grids = {}
        for col in ("active_users", "features_used"):
            if col in usage.columns:
                grid = np.full((len(cube.months), len(cube.accounts)), np.nan)
                grid[month[keep], rows] = usage[col].to_numpy(dtype=float, na_value=np.nan)[keep]
                grids[col] = grid
        return grids

    def _index(self, table: str, date_col: str, mask: np.ndarray | None = None,
               value_col: str | None = None) -> EventIndex | None:
        frame = getattr(self.dataset, table)
        if frame is None:
            return None
        keep = frame[date_col].notna().to_numpy().copy()
        if mask is not None:
            keep &= mask
        sub = frame[keep]
        values = None if value_col is None else sub[value_col].to_numpy(dtype=float)
        return EventIndex(self.cube.account_columns(sub["account_id"]), day_numbers(sub[date_col]),
                          len(self.cube.accounts), values)

    @cached_property
    def _indexes(self) -> dict[str, EventIndex | None]:
        ds = self.dataset
        tp, tickets = ds.touchpoints, ds.tickets
        severe = None if tickets is None else tickets["severity"].isin(SEVERE).to_numpy()
        return {
            "contact": self._index("touchpoints", "date"),
            "meeting": None if tp is None else self._index("touchpoints", "date", tp["channel"].eq("meeting").to_numpy()),
            "nps": self._index("nps_responses", "date", value_col="score"),
            "severe_opened": None if tickets is None else self._index("tickets", "opened_at", severe),
            "severe_resolved": None if tickets is None else self._index("tickets", "resolved_at", severe),
            "ticket": self._index("tickets", "opened_at"),
            "champion": self._index("champion_changes", "date"),
            "roi": self._index("roi", "date"),
        }

    @cached_property
    def milestones_day(self) -> np.ndarray:
        """Per account, the day the last configured onboarding milestone was reached (NaN: not)."""
        out = np.full(len(self.cube.accounts), np.nan)
        onboarding = self.dataset.onboarding
        if onboarding is None:
            return out
        milestones = self.settings.health.onboarding.milestones
        sub = onboarding[onboarding["milestone"].isin(milestones)]
        reached = sub.groupby("account_id")["date"].agg(["max", "count"])
        reached = reached[reached["count"] == len(milestones)]
        rows = self.cube.account_columns(reached.index)
        out[rows[rows >= 0]] = day_numbers(reached["max"])[rows >= 0]
        return out

    @cached_property
    def onboarded_day(self) -> np.ndarray:
        """Per account, the day onboarding was complete under the configured rule (NaN: not yet,
        as far as the data goes). Steady usage completes on the last day of the N-th month in a
        row at or above the utilisation threshold, so it only uses data known by then."""
        rule = self.settings.health.onboarding
        n = len(self.cube.accounts)
        by_milestones = self.milestones_day if rule.rule != "steady_usage" else np.full(n, np.nan)
        by_usage = np.full(n, np.nan)
        if self._usage is not None and rule.rule != "milestones":
            lic = self.cube.licenses
            util = np.divide(self._usage["active_users"], lic, out=np.full(lic.shape, np.nan), where=lic > 0)
            steady = np.nan_to_num(util) >= rule.steady_usage_min_utilisation
            run = np.zeros(n, int)
            month_end = day_numbers((self.cube.months + 1).to_timestamp()) - 1
            for t in range(len(self.cube.months)):  # loop over months (accounts vectorised)
                run = np.where(steady[t], run + 1, 0)
                hit = (run >= rule.steady_usage_months) & np.isnan(by_usage)
                by_usage[hit] = month_end[t]
        return np.fmin(by_milestones, by_usage)

    @cached_property
    def signup_day(self) -> np.ndarray:
        acc = self.dataset.accounts.set_index("account_id").reindex(self.cube.accounts)
        return day_numbers(acc["signup_date"]).astype(float)

    @property
    def onboarding_rule_on(self) -> bool:
        """Whether the onboarding (maturity) rule has its data: the ``onboarding`` table for the
        milestone rules, the ``usage`` table for ``steady_usage``. Off, no account counts as
        onboarding, stuck or onboarded, and the onboarding signals are not built."""
        rule = self.settings.health.onboarding.rule
        if rule == "steady_usage":
            return self.dataset.usage is not None
        return self.dataset.onboarding is not None

    def available(self) -> dict[str, bool]:
        """Whether each scorecard measure can be computed from the tables present."""
        ds = self.dataset
        have = {name: getattr(ds, name) is not None for name in
                ("usage", "touchpoints", "nps_responses", "tickets", "roi", "subscriptions")}
        out = {m: have[table] for m, (table, *_rest) in MEASURES.items()}
        if ds.usage is not None and "features_used" not in ds.usage.columns:
            out["feature_breadth"] = False
        return out

    def at(self, as_of: str | pd.Timestamp) -> pd.DataFrame:
        """Signals of every account on ``as_of``; ``active`` marks accounts billed that month."""
        day = pd.Timestamp(as_of).normalize()
        frame = pd.DataFrame(self.arrays(day), index=self.cube.accounts)
        frame.insert(0, "as_of", day)
        return frame

    def arrays(self, as_of: str | pd.Timestamp) -> dict[str, np.ndarray]:
        """The columns of :meth:`at` (without ``as_of``) as arrays over the cube's accounts."""
        day = pd.Timestamp(as_of).normalize()
        d = int(day_numbers(np.array([day.to_datetime64()]))[0])
        cube = self.cube
        month = pd.Period(day, "M")
        m = (month - cube.months[0]).n  # subscriptions: this month is known from its first day
        m_clip = min(max(m, -1), len(cube.months) - 1)
        usage_month = m if day == month.end_time.normalize() else m - 1  # usage: complete months
        n = len(cube.accounts)
        nan = np.full(n, np.nan)

        def grid(values: np.ndarray, t: int) -> np.ndarray:
            return values[t] if 0 <= t < len(cube.months) else nan

        licenses = grid(cube.licenses, m_clip) if m_clip >= 0 else nan
        mrr = grid(cube.mrr, m_clip) if m_clip >= 0 else nan
        lic_3m = grid(cube.licenses, m_clip - 3)
        out: dict[str, np.ndarray] = {
            "active": np.nan_to_num(mrr) > 0 if m == m_clip else np.zeros(n, bool),
            "mrr": mrr,
            "licenses": licenses,
            "mrr_3m_ago": grid(cube.mrr, m_clip - 3),
            "seat_trend": np.divide(licenses - lic_3m, lic_3m, out=nan.copy(), where=lic_3m > 0),
            "tenure_months": self._tenure(m_clip),
        }
        usage = self._usage
        if usage is not None:
            users = grid(usage["active_users"], usage_month)
            lic_u = grid(cube.licenses, usage_month)
            out["active_users"] = users
            out["utilisation"] = np.divide(users, lic_u, out=nan.copy(), where=lic_u > 0)
            recent = _mean([grid(usage["active_users"], usage_month - k) for k in range(3)])
            before = _mean([grid(usage["active_users"], usage_month - k) for k in range(3, 6)])
            out["usage_trend"] = np.divide(recent - before, before, out=nan.copy(), where=before > 0)
            util_3m = np.divide(grid(usage["active_users"], usage_month - 3), grid(cube.licenses, usage_month - 3),
                                out=nan.copy(), where=grid(cube.licenses, usage_month - 3) > 0)
            out["utilisation_change_3m"] = out["utilisation"] - util_3m
            if "features_used" in usage:
                out["feature_breadth"] = grid(usage["features_used"], usage_month)
        idx = self._indexes
        if idx["contact"] is not None:
            last = idx["contact"].last_day(d)
            out["days_since_contact"] = d - np.where(np.isnan(last), self.signup_day, last)
            out["meetings_90d"] = idx["meeting"].count_between(d - 90, d).astype(float)
            out["touchpoints_90d"] = idx["contact"].count_between(d - 90, d).astype(float)
        if idx["nps"] is not None:
            out["nps_latest"] = idx["nps"].last_value(d)
        if idx["ticket"] is not None:
            out["severe_open_tickets"] = (idx["severe_opened"].count_upto(d)
                                          - idx["severe_resolved"].count_upto(d)).astype(float)
            out["tickets_90d"] = idx["ticket"].count_between(d - 90, d).astype(float)
            out["severe_tickets_90d"] = idx["severe_opened"].count_between(d - 90, d).astype(float)
        if idx["roi"] is not None:
            out["roi_measured_365d"] = (idx["roi"].count_between(d - 365, d) > 0).astype(float)
        if idx["champion"] is not None:
            out["days_since_champion_change"] = d - idx["champion"].last_day(d)
        out["days_since_signup"] = d - self.signup_day
        if self.onboarding_rule_on:
            onboarded = self.onboarded_day <= d
            if self.dataset.onboarding is not None:
                out["milestones_done"] = (self.milestones_day <= d).astype(float)
            out["onboarded"] = onboarded
            out["days_to_onboard"] = np.where(onboarded, self.onboarded_day - self.signup_day, np.nan)
            stuck_after = self.settings.health.onboarding.stuck_after_days
            out["onboarding_stuck"] = ~onboarded & (out["days_since_signup"] > stuck_after)
        return out

    def _tenure(self, m: int) -> np.ndarray:
        """Months since the account's first billed month (within the data), up to month ``m``."""
        if m < 0:
            return np.full(len(self.cube.accounts), np.nan)
        first = self.cube.next_active[0]
        return np.where(first <= m, m - first, np.nan).astype(float)
