"""The revenue ahead (docs/model.md, "Renewals, committed MRR and the forecast"): the renewal
calendar, committed MRR (CMRR) by month ahead, and the MRR forecast with its bands.

Everything uses only what is known at the as-of date: a notice (``canceled_at``) counts only
when it is dated on or before the as-of date; a contract that starts after it counts as signed;
a contract that ends without a known notice is assumed to renew at the same MRR until a
follow-on contract of the same account × product starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cs_analysis.config.settings import Settings
from cs_analysis.data.billing import OPEN, contract_mrr, days_of, from_contracts, next_start, rates, through_month
from cs_analysis.data.billing import paid as billing_paid
from cs_analysis.data.dataset import Dataset
from cs_analysis.errors import HistoryError

CALENDAR_COLUMNS = ["account_id", "name", "product", "contract_id", "end_date", "days_to_renewal", "arr_due",
                    "auto_renew", "notice_deadline", "canceled_at", "csm_owner", "health_level",
                    "churn_probability", "expected_renewal_arr"]


def months_ahead_to_next_quarter(as_of: pd.Timestamp, fiscal_year_start_month: int) -> int:
    """Months from the as-of month (the last complete month) to the end of the next fiscal quarter.

    >>> months_ahead_to_next_quarter(pd.Timestamp("2025-06-30"), 4)
    3
    >>> months_ahead_to_next_quarter(pd.Timestamp("2025-05-31"), 4)
    4
    """
    current = through_month(as_of)
    into_quarter = (current.month - fiscal_year_start_month) % 12 % 3  # 0, 1 or 2
    return 2 - into_quarter + 3


@dataclass
class Committed:
    """Committed MRR by account (rows: ``accounts``) and month ahead (columns: ``months``)."""

    accounts: pd.Index
    months: pd.PeriodIndex
    mrr: np.ndarray  # accounts × months ahead
    current: np.ndarray  # each account's MRR in the as-of month
    table: pd.DataFrame  # per month ahead: month, current_mrr, known_cancellations, signed_new, other, cmrr


def committed_mrr(dataset: Dataset, settings: Settings, as_of: str | pd.Timestamp, months_ahead: int = 3) -> Committed:
    """Committed MRR for the ``months_ahead`` months after the as-of month: the MRR of the month
    (the last complete month on or before ``as_of``) less the contracts whose notice is known and
    whose service ends by then, plus signed contracts that start later. Without contracts, the
    current MRR carries forward (nothing is known to change)."""
    as_of = pd.Timestamp(as_of).normalize()
    current_month = through_month(as_of)
    months = pd.period_range(current_month + 1, periods=months_ahead, freq="M")
    subs = dataset.subscriptions
    in_month = subs[subs["month"].dt.to_period("M") == current_month]
    accounts = pd.Index(np.sort(dataset.accounts["account_id"].astype("str").unique()), name="account_id")
    current = in_month.groupby("account_id")["mrr"].sum().reindex(accounts, fill_value=0.0).to_numpy()
    last = subs["month"].max().to_period("M")
    if dataset.through is not None:
        last = max(last, dataset.through)
    if current_month > last:
        raise HistoryError(f"the data ends in {last}, before the as-of month {current_month} (the last complete "
                           f"month on or before {as_of:%Y-%m-%d})")
    contracts = dataset.contracts
    if contracts is None:
        mrr = np.repeat(current[:, None], months_ahead, axis=1)
        table = pd.DataFrame({"month": months.astype(str), "current_mrr": current.sum(), "known_cancellations": 0.0,
                              "signed_new": 0.0, "other": 0.0, "cmrr": mrr.sum(axis=0)})
        return Committed(accounts, months, mrr, current, table)
    paid = contracts[billing_paid(contracts)].reset_index(drop=True)
    start, end = days_of(paid["start_date"]), days_of(paid["end_date"])
    pair = pd.factorize(pd.MultiIndex.from_arrays([paid["account_id"].to_numpy(object),
                                                   paid["product"].to_numpy(object)]))[0]
    noticed = np.zeros(len(paid), bool)
    if "canceled_at" in paid:
        noticed = (paid["canceled_at"] <= as_of).fillna(False).to_numpy(bool)
    nxt = next_start(pair, start, end)
    # without a known notice, a contract ending on or after the as-of date renews at the same MRR
    # until a follow-on starts; one that ended before it is over (the data shows what followed)
    as_of_day = int(np.datetime64(as_of.date(), "D").astype(np.int64))
    renews = ~noticed & (end < OPEN) & (end >= as_of_day)
    effective_end = np.where(renews, np.where(nxt < OPEN, nxt - 1, OPEN), end)
    value = contract_mrr(paid) * rates(paid, paid["start_date"], dataset.fx_rates, settings.currency)
    last_days = months.end_time.normalize().to_numpy().astype("datetime64[D]").astype(np.int64)
    current_day = int(np.datetime64(current_month.end_time.normalize().date(), "D").astype(np.int64))
    # the month rule of data.billing on the contracts as committed (ends as known at the as-of date)
    ends = pd.Series(np.where(effective_end < OPEN, effective_end, 0).astype("datetime64[D]"), index=paid.index)
    committed = paid.assign(end_date=ends.where(effective_end < OPEN).astype("datetime64[us]"))
    derived = from_contracts(committed, months[-1].end_time.normalize(), fx=dataset.fx_rates,
                             currency=settings.currency).subscriptions
    derived = derived[derived["month"].dt.to_period("M").isin(months)]
    mrr = np.zeros((len(accounts), months_ahead))
    if len(derived):
        mrr = (derived.pivot_table(index="account_id", columns=derived["month"].dt.to_period("M"), values="mrr",
                                   aggfunc="sum")
               .reindex(index=accounts, columns=months).fillna(0.0).to_numpy())
    live_now = (start <= current_day) & (end >= current_day)
    cancelled = np.array([value[live_now & noticed & (end < day)].sum() for day in last_days])
    signed = np.array([value[(start > current_day) & (start <= day)].sum() for day in last_days])
    cmrr = mrr.sum(axis=0)
    table = pd.DataFrame({"month": months.astype(str), "current_mrr": current.sum(), "known_cancellations": cancelled,
                          "signed_new": signed, "other": cmrr - current.sum() + cancelled - signed, "cmrr": cmrr})
    return Committed(accounts, months, mrr, current, table)


def survival(p: np.ndarray, months: np.ndarray, horizon_months: int) -> np.ndarray:
    """P(still a customer k months ahead) from P(churn within the horizon), with a constant
    monthly hazard: (1 − p)^(k / H); accounts × months.

    >>> survival(np.array([0.19]), np.array([1, 2]), 2).round(3).tolist()
    [[0.9, 0.81]]
    """
    return np.power(1.0 - np.clip(p, 0, 1)[:, None], np.asarray(months)[None, :] / horizon_months)


def forecast_mrr(committed: Committed, probability: pd.Series, horizon_months: int,
                 calibration_error: float = 0.0) -> pd.DataFrame:
    """Expected MRR per month ahead = Σ committed MRR × survival of the accounts active in the
    as-of month (``probability``: their churn probability within the horizon, by account_id)
    + the committed MRR of accounts not active yet (signed, starting later). ``low``/``high``:
    the same with every probability raised / lowered by ``calibration_error`` (the model's
    expected calibration error in its backtest)."""
    p = probability.reindex(committed.accounts).to_numpy(dtype=float)
    active = committed.current > 0
    if np.isnan(p[active]).any():
        raise HistoryError("the forecast needs a churn probability for every account active in the as-of month")
    ahead = np.arange(1, len(committed.months) + 1)
    out = {"month": committed.months.astype(str), "cmrr": committed.mrr.sum(axis=0)}
    for name, shift in (("low", calibration_error), ("base", 0.0), ("high", -calibration_error)):
        s = np.ones((len(p), len(ahead)))
        s[active] = survival(p[active] + shift, ahead, horizon_months)
        out[name] = (committed.mrr * s).sum(axis=0)
    return pd.DataFrame(out)[["month", "low", "base", "high", "cmrr"]]


def renewal_calendar(dataset: Dataset, settings: Settings, as_of: str | pd.Timestamp, months: int = 3,
                     probability: pd.Series | None = None, health_level: pd.Series | None = None,
                     horizon_months: int = 3) -> pd.DataFrame:
    """The paid contracts whose end date falls in the ``months`` months after the as-of date,
    soonest first: ARR up for renewal, auto-renew, the notice deadline (end date − the setting
    ``renewal_notice_days``), owner, health level, the churn probability by the end date (from
    the probability within the horizon, constant monthly hazard) and the expected renewal ARR =
    ARR × (1 − that probability). Empty without contracts."""
    as_of = pd.Timestamp(as_of).normalize()
    contracts = dataset.contracts
    if contracts is None:
        return pd.DataFrame(columns=CALENDAR_COLUMNS)
    limit = as_of + pd.DateOffset(months=months)
    due = contracts[billing_paid(contracts) & (contracts["end_date"] > as_of).fillna(False).to_numpy(bool)
                    & (contracts["end_date"] <= limit).fillna(False).to_numpy(bool)].reset_index(drop=True)
    acc = dataset.accounts.set_index("account_id")
    arr = 12 * contract_mrr(due) * rates(due, due["start_date"], dataset.fx_rates, settings.currency)
    days = (due["end_date"] - as_of).dt.days.to_numpy()
    if probability is not None:
        p = probability.reindex(due["account_id"]).to_numpy(dtype=float)
        p_by_end = 1 - np.power(1 - np.clip(p, 0, 1), (days / 30.4375) / horizon_months)
    else:
        p_by_end = np.full(len(due), np.nan)
    notice = pd.to_timedelta(settings.renewal_notice_days, unit="D")
    out = pd.DataFrame({
        "account_id": due["account_id"],
        "name": acc["name"].reindex(due["account_id"]).to_numpy(),
        "product": due["product"],
        "contract_id": due["contract_id"] if "contract_id" in due else pd.NA,
        "end_date": due["end_date"],
        "days_to_renewal": days,
        "arr_due": arr,
        "auto_renew": due["auto_renew"] if "auto_renew" in due else pd.NA,
        "notice_deadline": due["end_date"] - notice,
        "canceled_at": due["canceled_at"].where(due["canceled_at"] <= as_of) if "canceled_at" in due else pd.NaT,
        "csm_owner": acc["csm_owner"].reindex(due["account_id"]).to_numpy(),
        "health_level": (health_level.reindex(due["account_id"]).to_numpy() if health_level is not None else np.nan),
        "churn_probability": p_by_end,
        "expected_renewal_arr": arr * (1 - p_by_end),
    })
    return out.sort_values(["end_date", "account_id", "product"], ignore_index=True)[CALENDAR_COLUMNS]


def forecast_backtest(predictions: pd.DataFrame, cube_mrr: pd.DataFrame, horizon_months: int) -> pd.DataFrame:
    """The forecast made at past dates with out-of-time probabilities (a backtest fold's model,
    fitted on earlier observation dates only) against the MRR that followed.

    ``predictions``: account_id, as_of, mrr, p (one test row per account and date);
    ``cube_mrr``: MRR per account_id (index) × month (columns, Periods). Per date and month ahead:
    the forecast, the actual MRR of those accounts (``actual_existing``) and of every account
    (``actual_all``), and the absolute percentage errors."""
    rows = []
    column = {month: j for j, month in enumerate(pd.PeriodIndex(cube_mrr.columns))}
    later = cube_mrr.to_numpy(dtype=float)
    totals = cube_mrr.sum(axis=0).to_numpy()
    account = cube_mrr.index.get_indexer(predictions["account_id"])  # −1: not in the cube
    all_mrr, all_p = predictions["mrr"].to_numpy(dtype=float), predictions["p"].to_numpy(dtype=float)
    ahead = np.arange(1, horizon_months + 1)
    for as_of, at in sorted(predictions.groupby("as_of").indices.items()):
        t = pd.Timestamp(as_of).to_period("M")
        mrr, rows_at = all_mrr[at], account[at]
        kept = survival(all_p[at], ahead, horizon_months)
        for k in ahead:
            j = column.get(t + int(k))
            if j is None:
                continue
            existing = np.where(rows_at >= 0, later[rows_at, j], 0.0)
            rows.append({"as_of": str(t), "months_ahead": int(k), "forecast": float((mrr * kept[:, k - 1]).sum()),
                         "actual_existing": float(np.nan_to_num(existing).sum()), "actual_all": float(totals[j])})
    out = pd.DataFrame(rows, columns=["as_of", "months_ahead", "forecast", "actual_existing", "actual_all"])
    out["ape_existing"] = (out["forecast"] - out["actual_existing"]).abs() / out["actual_existing"] * 100
    out["ape_all"] = (out["forecast"] - out["actual_all"]).abs() / out["actual_all"] * 100
    return out
