"""Monthly subscriptions derived from contracts or invoice lines (docs/data-contract.md, "MRR
from contracts and invoice lines").

The month rule, one for both sources (ChartMogul's end-of-period snapshot): a contract or a
recurring invoice line contributes its MRR and licenses to month m when it is in service on m's
last day. Rows of the same account × product add up. The months run through the last complete
month on or before the dataset's as-of date. Everything is vectorised over rows (NumPy); no
row is dropped without being counted in the returned notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cs_analysis.errors import DataError

DAYS_PER_MONTH = 30.4375  # 365.25 / 12: an invoice line's service period in months
OPEN = np.iinfo(np.int64).max // 4  # the end day of an open-ended contract
DENSE_CELLS = 40_000_000  # pairs × months summed in a dense array up to this size
MAX_DERIVED_ROWS = 200_000_000  # account × product × month rows a derivation may expand to
SOURCES = ("subscriptions", "contracts", "invoice_lines")  # the tables MRR may come from


@dataclass
class Derived:
    """Subscriptions derived from an MRR source, with what the derivation did."""

    subscriptions: pd.DataFrame
    source: str
    through: pd.Period  # the last month derived
    since: pd.Period  # the first month of the source table (its earliest start, trials included)
    notes: list[str] = field(default_factory=list)


def through_month(as_of: pd.Timestamp) -> pd.Period:
    """The last complete month on or before ``as_of``.

    >>> str(through_month(pd.Timestamp("2025-03-31"))), str(through_month(pd.Timestamp("2025-03-30")))
    ('2025-03', '2025-02')
    """
    month = as_of.to_period("M")
    return month if as_of.normalize() == month.end_time.normalize() else month - 1


def default_as_of(table: pd.DataFrame, columns: tuple[str, ...]) -> pd.Timestamp:
    """The latest date in ``columns`` of the MRR source table (its as-of date when the dataset
    gives none)."""
    latest = max((table[c].max() for c in columns if c in table and table[c].notna().any()), default=pd.NaT)
    if pd.isna(latest):
        raise DataError("no dates in the MRR source table to derive months from")
    return pd.Timestamp(latest)


def days_of(dates: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 (NaT → OPEN)."""
    values = dates.to_numpy(dtype="datetime64[D]")
    out = values.astype(np.int64)
    out[np.isnat(values)] = OPEN
    return out


def _month_of_day(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of day numbers."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _last_full_month(end: np.ndarray, through: int) -> np.ndarray:
    """The last month whose last day the service reaches: the end's month when it ends on that
    month's last day, else the month before; ``through`` for open-ended rows."""
    out = np.full(end.shape, through, dtype=np.int64)
    bounded = end < OPEN
    e = end[bounded]
    month = _month_of_day(e)
    last_day = (month + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) - 1
    out[bounded] = np.where(e == last_day, month, month - 1)
    return np.minimum(out, through)


def next_start(pair: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Per row, the earliest start day of a row of the same pair that starts after the row's
    end (OPEN when there is none, or the row is open-ended)."""
    order = np.lexsort((start, pair))
    span, shift = np.int64(1) << 32, 1 << 20  # shifted day numbers fit in 32 bits; pairs above them
    keys = pair[order].astype(np.int64) * span + (start[order] + shift)
    probe = pair.astype(np.int64) * span + np.minimum(end + shift, span - 1)
    at = np.searchsorted(keys, probe, side="right")
    found = at < len(keys)
    out = np.full(len(pair), OPEN, dtype=np.int64)
    idx = np.flatnonzero(found)
    hit = order[at[idx]]
    same = pair[hit] == pair[idx]
    out[idx[same]] = start[hit[same]]
    out[end >= OPEN] = OPEN
    return out


def _expand(account: np.ndarray, product: np.ndarray, first: np.ndarray, last: np.ndarray,
            mrr: np.ndarray, licenses: np.ndarray) -> pd.DataFrame:
    """One row per account × product × month in service (first..last months), summed."""
    keep = last >= first
    account, product, first, last = account[keep], product[keep], first[keep], last[keep]
    mrr, licenses = mrr[keep], licenses[keep]
    columns = ["account_id", "month", "product", "licenses", "mrr"]
    if len(first) == 0:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            columns, ("str", "datetime64[us]", "str", "int64", "float64"), strict=True)})
    acc_codes, acc_names = pd.factorize(account, sort=True)
    prod_codes, prod_names = pd.factorize(product, sort=True)
    pair = acc_codes.astype(np.int64) * len(prod_names) + prod_codes
    pair_codes, pair_keys = pd.factorize(pair, sort=True)
    m0, m1 = int(first.min()), int(last.max())
    n_months = m1 - m0 + 1
    counts = (last - first + 1).astype(np.int64)
    if counts.sum() > MAX_DERIVED_ROWS:
        longest = int(np.argmax(counts))
        raise DataError(f"the contracts or invoice lines would expand to {int(counts.sum()):,} account x product x "
                        f"month rows (at most {MAX_DERIVED_ROWS:,}); the longest runs {int(counts[longest]):,} months "
                        f"from {np.datetime64(int(first[longest]), 'M')} (account {account[longest]}): check the "
                        "start dates, or give dataset.yaml an earlier as_of")
    rows = np.repeat(np.arange(len(first)), counts)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    cell = pair_codes[rows].astype(np.int64) * n_months + (first[rows] - m0 + within)
    n_cells = len(pair_keys) * n_months
    if n_cells <= DENSE_CELLS:
        present = np.bincount(cell, minlength=n_cells) > 0
        cells = np.flatnonzero(present)
        mrr_sum = np.bincount(cell, mrr[rows], minlength=n_cells)[cells]
        lic_sum = np.bincount(cell, licenses[rows], minlength=n_cells)[cells]
    else:
        cells, inverse = np.unique(cell, return_inverse=True)
        mrr_sum = np.bincount(inverse, mrr[rows], minlength=len(cells))
        lic_sum = np.bincount(inverse, licenses[rows], minlength=len(cells))
    pair_of, month_of = cells // n_months, cells % n_months + m0
    key = pair_keys[pair_of]
    months = (month_of.astype("datetime64[M]")).astype("datetime64[us]")
    frame = pd.DataFrame({
        "account_id": np.asarray(acc_names, dtype=object)[key // len(prod_names)],
        "month": months,
        "product": np.asarray(prod_names, dtype=object)[key % len(prod_names)],
        "licenses": np.rint(lic_sum).astype(np.int64),
        "mrr": np.round(mrr_sum, 6),
    })
    frame["account_id"] = frame["account_id"].astype("str")
    frame["product"] = frame["product"].astype("str")
    return frame.sort_values(["account_id", "month", "product"], ignore_index=True)


def rates(frame: pd.DataFrame, start: pd.Series, fx: pd.DataFrame | None, currency: str) -> np.ndarray:
    """Per row, the rate that converts its currency into ``currency`` at its start month (1 for
    rows in ``currency`` or without one). Validation has checked that every rate exists."""
    out = np.ones(len(frame))
    if "currency" not in frame or fx is None:
        return out
    cur = frame["currency"].str.strip().str.upper()
    foreign = cur.notna() & cur.ne(currency.upper())
    if not foreign.any():
        return out
    table = fx.assign(currency=fx["currency"].str.strip().str.upper(),
                      month=fx["month"].dt.to_period("M")).set_index(["currency", "month"])["rate"]
    keys = pd.MultiIndex.from_arrays([cur[foreign], start[foreign].dt.to_period("M")])
    rates = table.reindex(keys).to_numpy(dtype=float)
    if np.isnan(rates).any():  # validation reports these with their rows; a guard only
        raise DataError("fx_rates: a rate is missing for a foreign-currency row")
    out[foreign.to_numpy()] = rates
    return out


def contract_mrr(contracts: pd.DataFrame) -> np.ndarray:
    """Each contract's MRR before currency conversion: ``mrr``, ``arr`` ÷ 12, or ``amount`` ÷
    ``billing_period_months`` (default 1); 0 for trials."""
    if "mrr" in contracts:
        mrr = contracts["mrr"].to_numpy(dtype=float)
    elif "arr" in contracts:
        mrr = contracts["arr"].to_numpy(dtype=float) / 12.0
    else:
        months = (contracts["billing_period_months"].astype("Float64").fillna(1).to_numpy(dtype=float)
                  if "billing_period_months" in contracts else 1.0)
        mrr = contracts["amount"].to_numpy(dtype=float) / months
    return np.where(_flag(contracts, "trial"), 0.0, np.nan_to_num(mrr))


def paid(contracts: pd.DataFrame) -> np.ndarray:
    """The rows of ``contracts`` that are not trials (a trial contributes no MRR)."""
    return ~_flag(contracts, "trial")


def _flag(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.zeros(len(frame), bool)
    return frame[column].astype("boolean").fillna(False).to_numpy(dtype=bool)


def _licenses(frame: pd.DataFrame) -> np.ndarray:
    if "licenses" not in frame:
        return np.zeros(len(frame))
    return frame["licenses"].astype("Float64").fillna(0).to_numpy(dtype=float)


def from_contracts(contracts: pd.DataFrame, as_of: pd.Timestamp, *, grace_days: int = 0,
                   auto_renew_extends: bool = False, fx: pd.DataFrame | None = None,
                   currency: str = "JPY") -> Derived:
    """Subscriptions from validated ``contracts`` (docs/data-contract.md: the month rule, trials,
    grace between contracts, auto-renewal, currencies), through the month of ``as_of``."""
    through = through_month(as_of)
    trial = _flag(contracts, "trial")
    paid = contracts[~trial]
    account = paid["account_id"].to_numpy(dtype=object)
    product = paid["product"].to_numpy(dtype=object)
    start, end = days_of(paid["start_date"]), days_of(paid["end_date"])
    pair = pd.factorize(pd.MultiIndex.from_arrays([account, product]))[0] if len(paid) else np.zeros(0, np.int64)
    notes = []
    extended = np.zeros(len(paid), bool)
    if auto_renew_extends and "auto_renew" in paid:
        renews = _flag(paid, "auto_renew") & (end < OPEN)
        if "canceled_at" in paid:
            renews &= paid["canceled_at"].isna().to_numpy()
        nxt = next_start(pair, start, end)
        extended = renews
        end = np.where(renews, np.where(nxt < OPEN, nxt - 1, OPEN), end)
        if renews.any():
            notes.append(f"contracts: {int(renews.sum())} auto-renewing contract(s) without notice run on past "
                         "their end date (auto_renew_extends)")
    if grace_days > 0:
        nxt = next_start(pair, start, end)
        bridge = (nxt < OPEN) & (nxt - end - 1 <= grace_days) & ~extended
        end = np.where(bridge, nxt - 1, end)
        if bridge.any():
            notes.append(f"contracts: {int(bridge.sum())} gap(s) of at most {grace_days} day(s) before a "
                         "follow-on contract bridged (renewal_grace_days)")
    mrr = contract_mrr(paid) * rates(paid, paid["start_date"], fx, currency)
    first = _month_of_day(start)
    last = _last_full_month(end, through.ordinal)
    subs = _expand(account, product, first, last, mrr, _licenses(paid))
    if trial.any():
        notes.insert(0, f"contracts: {int(trial.sum())} trial contract(s) left out of MRR")
    return Derived(subs, "contracts", through, _first_month(contracts["start_date"], through), notes)


def from_invoice_lines(lines: pd.DataFrame, as_of: pd.Timestamp, *, fx: pd.DataFrame | None = None,
                       currency: str = "JPY") -> Derived:
    """Subscriptions from validated invoice ``lines``: each recurring line's MRR is its amount ÷
    its service period in months (days ÷ 30.4375, rounded, at least 1), by the month rule."""
    through = through_month(as_of)
    kind = lines["kind"].fillna("recurring") if "kind" in lines else pd.Series("recurring", index=lines.index)
    recurring = lines[kind.eq("recurring").to_numpy()]
    start, end = days_of(recurring["period_start"]), days_of(recurring["period_end"])
    months = np.maximum(1, np.rint((end - start + 1) / DAYS_PER_MONTH))
    mrr = recurring["amount"].to_numpy(dtype=float) / months
    mrr = mrr * rates(recurring, recurring["period_start"], fx, currency)
    subs = _expand(recurring["account_id"].to_numpy(dtype=object), recurring["product"].to_numpy(dtype=object),
                   _month_of_day(start), _last_full_month(end, through.ordinal), mrr, _licenses(recurring))
    notes = []
    for other in ("one_time", "refund"):
        n = int(kind.eq(other).sum())
        if n:
            notes.append(f"invoice_lines: {n} {other.replace('_', '-')} line(s) left out of MRR")
    return Derived(subs, "invoice_lines", through, _first_month(lines["period_start"], through), notes)


def _first_month(starts: pd.Series, through: pd.Period) -> pd.Period:
    """The month of the earliest start (the derived history begins there), at most ``through``."""
    first = starts.min()
    return through if pd.isna(first) else min(pd.Timestamp(first).to_period("M"), through)


def contracts_from_subscriptions(subscriptions: pd.DataFrame, last_month: pd.Period | None = None) -> pd.DataFrame:
    """Monthly subscriptions as contracts: one contract per run of consecutive months of an
    account × product at the same MRR and licenses (start = the run's first day, end = its last
    day; open-ended when the run reaches ``last_month``, default the last month of the data).
    Deriving subscriptions from these contracts through ``last_month`` gives back every row with
    MRR or licenses."""
    subs = subscriptions[(subscriptions["mrr"] > 0) | (subscriptions["licenses"] > 0)]
    subs = subs.sort_values(["account_id", "product", "month"], ignore_index=True)
    ordinal = subs["month"].to_numpy(dtype="datetime64[M]").astype(np.int64)  # months since 1970-01
    acc, prod = subs["account_id"].to_numpy(dtype=object), subs["product"].to_numpy(dtype=object)
    mrr, lic = subs["mrr"].to_numpy(dtype=float), subs["licenses"].to_numpy(dtype=float)
    same = np.zeros(len(subs), bool)
    if len(subs) > 1:
        same[1:] = ((acc[1:] == acc[:-1]) & (prod[1:] == prod[:-1]) & (np.diff(ordinal) == 1)
                    & (mrr[1:] == mrr[:-1]) & (lic[1:] == lic[:-1]))
    first = np.flatnonzero(~same)
    last = np.r_[first[1:] - 1, len(subs) - 1] if len(first) else first
    final = last_month.ordinal if last_month is not None else (int(ordinal.max()) if len(subs) else 0)
    start = ordinal[first].astype("datetime64[M]").astype("datetime64[D]")
    end = (ordinal[last] + 1).astype("datetime64[M]").astype("datetime64[D]") - np.timedelta64(1, "D")
    end_text = pd.Series(pd.DatetimeIndex(end).strftime("%Y-%m-%d"), dtype=object)
    return pd.DataFrame({
        "contract_id": pd.Series(np.arange(1, len(first) + 1)).map("C{:07d}".format).to_numpy(dtype=object),
        "account_id": acc[first],
        "product": prod[first],
        "start_date": pd.DatetimeIndex(start).strftime("%Y-%m-%d"),
        "end_date": end_text.where(ordinal[last] < final, None).to_numpy(),
        "licenses": subs["licenses"].to_numpy()[first],
        "mrr": mrr[first],
    })
