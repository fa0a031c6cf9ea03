"""Renewals of contracts (docs/kpis.md, "Renewals"): which contracts come up for renewal in a
period, and how much of their ARR renewed.

A paid contract with an ``end_date`` comes up for renewal on that date; its period is the one
holding the end date's month. Its ARR due is 12 × its MRR (in the settings' currency). It renewed
by the account × product's MRR in the month after its end month, when that product is in
service then (a follow-on contract, an extension or an auto-renewal): 12 × that MRR, shared
among the contracts of the same account × product ending in the same month in proportion to
their ARR due. ``renewed_arr`` is that ARR uncapped (upsell at renewal counts); the gross rate
caps each contract at its ARR due. A contract whose following month lies beyond the data has no
known outcome yet: it is due, but left out of ``renewed_arr`` and both rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cs_analysis.core.ledger import MonthRows, MrrCube, month_offsets
from cs_analysis.data.billing import contract_mrr, rates


@dataclass
class Renewals:
    """The contracts due in the cube's months, as sparse rows by their end month row."""

    rows: MonthRows
    due_arr: np.ndarray  # per row, in ``rows`` order
    known_arr: np.ndarray  # ARR due of the rows whose outcome is known
    renewed_arr: np.ndarray
    renewed_capped: np.ndarray
    early: np.ndarray  # 1.0 where notice was given before the end date

    def totals(self, i1: np.ndarray, i2: np.ndarray, n: int) -> dict[str, np.ndarray]:
        """Per account, periods × accounts: the renewal quantities of the contracts ending in
        the months i1..i2 of each period."""
        count = self.rows.totals(i1, i2, n)
        return {
            "renewals_due_contracts": count,
            "renewals_due_accounts": count > 0,
            "renewals_due_arr": self.rows.totals(i1, i2, n, self.due_arr),
            "renewals_known_arr": self.rows.totals(i1, i2, n, self.known_arr),
            "renewed_arr": self.rows.totals(i1, i2, n, self.renewed_arr),
            "renewed_arr_capped": self.rows.totals(i1, i2, n, self.renewed_capped),
            "early_cancellations": np.rint(self.rows.totals(i1, i2, n, self.early)).astype(np.int64),
        }


def contract_outcomes(contracts: pd.DataFrame, cube: MrrCube, fx: pd.DataFrame | None,
                      currency: str) -> pd.DataFrame:
    """One row per paid contract with an end date: account column, end month row (in the
    cube's months, may lie outside), ARR due, whether its outcome is known, the renewed ARR
    (uncapped, shared among the pair's contracts ending that month) and early notice."""
    trial = contracts["trial"].astype("boolean").fillna(False).to_numpy(dtype=bool) if "trial" in contracts else False
    due = contracts[~np.asarray(trial, bool) & contracts["end_date"].notna().to_numpy()].reset_index(drop=True)
    mrr = contract_mrr(due) * rates(due, due["start_date"], fx, currency)
    end_row = month_offsets(due["end_date"], cube.months[0])
    cols = cube.account_columns(due["account_id"])
    pair_of = pd.Series(np.arange(len(cube.pair_account)),
                        index=pd.MultiIndex.from_arrays([cube.pair_account, cube.pair_product]))
    pair = pair_of.reindex(pd.MultiIndex.from_arrays([cols, due["product"].to_numpy(dtype=object)])).to_numpy()
    n_months = len(cube.months)
    known = (end_row + 1 < n_months) & (end_row + 1 >= 0)
    has_pair = ~np.isnan(pair)
    nxt = np.zeros(len(due))
    ok = known & has_pair
    nxt[ok] = cube.pair_mrr[end_row[ok] + 1, pair[ok].astype(np.int64)]
    arr = 12.0 * mrr
    group = pd.Series(arr).groupby([cols, end_row, np.where(has_pair, pair, -1)]).transform("sum").to_numpy()
    share = np.divide(arr, group, out=np.zeros(len(due)), where=group > 0)
    renewed = 12.0 * nxt * np.where(group > 0, share, 0.0)
    early = np.zeros(len(due), bool)
    if "canceled_at" in due:
        early = (due["canceled_at"] < due["end_date"]).fillna(False).to_numpy(dtype=bool)
    return pd.DataFrame({"col": cols, "end_row": end_row, "due_arr": arr, "known": known,
                         "renewed_arr": np.where(known, renewed, 0.0), "early": early})


def build_renewals(contracts: pd.DataFrame, cube: MrrCube, fx: pd.DataFrame | None, currency: str) -> Renewals:
    """The renewal rows of the contracts ending inside the cube's months."""
    out = contract_outcomes(contracts, cube, fx, currency)
    inside = (out["end_row"] >= 0) & (out["end_row"] < len(cube.months)) & (out["col"] >= 0)
    out = out[inside.to_numpy()]
    months, cols = out["end_row"].to_numpy(), out["col"].to_numpy()
    rows, order = MonthRows.sorted(cols, months, len(cube.months))
    pick = out.iloc[order]
    due = pick["due_arr"].to_numpy()
    known = pick["known"].to_numpy()
    renewed = pick["renewed_arr"].to_numpy()
    return Renewals(rows, due, np.where(known, due, 0.0), renewed, np.minimum(renewed, due),
                    pick["early"].to_numpy(dtype=float))
