"""MRR cube and movement ledger (SPEC §2.2).

The subscriptions table is laid out once as dense arrays — (account, product) pairs × months of
MRR and licenses, and their per-account totals — so every KPI for every period is array
arithmetic. The first month of data is the opening balance: it has no movements, because what
happened before the data began is unknown (docs/kpis.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from cs_analysis.errors import DataError

MOVEMENTS = ("new", "expansion", "contraction", "churn", "reactivation")


@dataclass(frozen=True)
class MrrCube:
    """MRR and licenses laid out as arrays.

    ``accounts``: account ids (rows of the account-level arrays); ``months``: monthly
    ``PeriodIndex`` from the first to the last month of data (columns). ``pair_mrr`` /
    ``pair_licenses`` have one row per (account, product) pair seen, ``pair_account`` maps each
    pair to its account row, ``pair_product`` names its product.
    """

    accounts: pd.Index
    months: pd.PeriodIndex
    pair_account: np.ndarray
    pair_product: np.ndarray
    pair_mrr: np.ndarray
    pair_licenses: np.ndarray

    @cached_property
    def mrr(self) -> np.ndarray:
        """Account × month total MRR (0 where nothing was billed)."""
        return _sum_rows(self.pair_mrr, self.pair_account, len(self.accounts))

    @cached_property
    def licenses(self) -> np.ndarray:
        """Account × month licenses summed over products."""
        return _sum_rows(self.pair_licenses, self.pair_account, len(self.accounts))

    @cached_property
    def active(self) -> np.ndarray:
        return self.mrr > 0

    @cached_property
    def movements(self) -> dict[str, np.ndarray]:
        """Account × month amounts of each movement (column 0, the opening month, is all 0)."""
        cur, prev = self.mrr[:, 1:], self.mrr[:, :-1]
        on, was = cur > 0, prev > 0
        seen_before = np.logical_or.accumulate(self.active, axis=1)[:, :-1]
        zero = np.zeros_like(cur)
        moves = {
            "new": np.where(on & ~seen_before, cur, zero),
            "expansion": np.where(on & was & (cur > prev), cur - prev, zero),
            "contraction": np.where(on & was & (cur < prev), prev - cur, zero),
            "churn": np.where(was & ~on, prev, zero),
            "reactivation": np.where(on & ~was & seen_before, cur, zero),
        }
        pad = np.zeros((len(self.accounts), 1))
        return {k: np.hstack([pad, v]) for k, v in moves.items()}

    def month_index(self, month: pd.Period) -> int:
        """Column of ``month``; a clear error when it lies outside the data."""
        first, last = self.months[0], self.months[-1]
        if not first <= month <= last:
            raise DataError(f"month {month} is outside the data ({first}..{last})")
        return (month - first).n


def _sum_rows(values: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Sum rows of ``values`` into ``n`` rows by ``rows`` (sorted ascending, as pairs are)."""
    out = np.zeros((n, values.shape[1]), dtype=values.dtype)
    if len(rows):
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        out[rows[starts]] = np.add.reduceat(values, starts, axis=0)
    return out


def build_cube(subscriptions: pd.DataFrame, account_ids: pd.Series | pd.Index) -> MrrCube:
    """Lay out a validated subscriptions table over ``account_ids`` (normally all accounts)."""
    accounts = pd.Index(pd.unique(pd.Series(account_ids, dtype="str")), name="account_id")
    if subscriptions.empty:
        raise DataError("subscriptions: no rows, so there is no MRR to analyse")
    months = subscriptions["month"].dt.to_period("M")
    first, last = months.min(), months.max()
    month_col = (
        (subscriptions["month"].dt.year - first.year) * 12 + subscriptions["month"].dt.month - first.month
    ).to_numpy()
    acc = accounts.get_indexer(subscriptions["account_id"])
    if (acc < 0).any():
        raise DataError("subscriptions: account_id not in accounts")
    prod_codes, products = pd.factorize(subscriptions["product"], sort=True)
    pair_key = acc.astype(np.int64) * len(products) + prod_codes
    pair_codes, pair_keys = pd.factorize(pair_key, sort=True)
    n_months = (last - first).n + 1
    pair_mrr = np.zeros((len(pair_keys), n_months))
    pair_lic = np.zeros((len(pair_keys), n_months))
    pair_mrr[pair_codes, month_col] = subscriptions["mrr"].to_numpy(dtype=float)
    pair_lic[pair_codes, month_col] = subscriptions["licenses"].to_numpy(dtype=float)
    return MrrCube(
        accounts=accounts,
        months=pd.period_range(first, last, freq="M"),
        pair_account=(pair_keys // len(products)).astype(np.intp),
        pair_product=np.asarray(products)[pair_keys % len(products)],
        pair_mrr=pair_mrr,
        pair_licenses=pair_lic,
    )


def mrr_ledger(cube: MrrCube) -> pd.DataFrame:
    """The monthly MRR movement ledger: one row per account and month with a movement.

    Columns: account_id, month (first day), mrr_prev, mrr, movement, amount. Months without a
    subscription row count as MRR 0; churn is a month with no MRR after an active month.
    """
    frames = []
    prev = np.hstack([np.zeros((len(cube.accounts), 1)), cube.mrr[:, :-1]])
    for name in MOVEMENTS:
        rows, cols = np.nonzero(cube.movements[name])
        frames.append(pd.DataFrame({
            "account_id": cube.accounts.to_numpy()[rows],
            "month": cube.months[cols].to_timestamp(),
            "mrr_prev": prev[rows, cols],
            "mrr": cube.mrr[rows, cols],
            "movement": name,
            "amount": cube.movements[name][rows, cols],
        }))
    ledger = pd.concat(frames, ignore_index=True)
    return ledger.sort_values(["month", "account_id"], kind="stable", ignore_index=True)
