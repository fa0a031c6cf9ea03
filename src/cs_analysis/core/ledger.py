"""MRR cube and movement ledger (docs/kpis.md, MRR movements).

The subscriptions table is laid out once as dense arrays — (account, product) pairs × months of
MRR and licenses, and their per-account totals — so every KPI for every period is array
arithmetic. The first month of data is the opening balance: it has no movements, because what
happened before the data began is unknown (docs/kpis.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cs_analysis.errors import DataError, HistoryError

MOVEMENTS = ("new", "expansion", "contraction", "churn", "reactivation")


@dataclass(frozen=True)
class MrrCube:
    """MRR and licenses laid out as month-major arrays (rows: months, columns: accounts), so
    selecting months is a contiguous row copy.

    ``accounts``: sorted account ids (columns of the account-level arrays); ``months``: monthly
    ``PeriodIndex`` from the first to the last month of data (rows). ``pair_mrr`` has one
    column per (account, product) pair seen, sorted by account; ``pair_account`` maps each pair
    to its account column, ``pair_product`` names its product. ``licenses``: month × account
    licenses summed over products.
    """

    accounts: pd.Index
    months: pd.PeriodIndex
    pair_account: np.ndarray
    pair_product: np.ndarray
    pair_mrr: np.ndarray
    licenses: np.ndarray

    def require_day(self, day: pd.Timestamp, what: str = "as-of date") -> None:
        """A :class:`HistoryError` unless ``day`` falls in a month of the data."""
        month = pd.Period(day, "M")
        if len(self.months) == 0 or not self.months[0] <= month <= self.months[-1]:
            first = self.months[0].start_time if len(self.months) else None
            last = self.months[-1].end_time if len(self.months) else None
            span = f"{first:%Y-%m-%d}..{last:%Y-%m-%d}" if first is not None else "nothing"
            raise HistoryError(f"the {what} {pd.Timestamp(day):%Y-%m-%d} is outside the data: the subscriptions "
                               f"cover {span}; choose a date in that range")

    @cached_property
    def mrr(self) -> np.ndarray:
        """Month × account total MRR (0 where nothing was billed)."""
        return sum_by_account(self.pair_mrr, self.pair_account, len(self.accounts))

    @cached_property
    def active(self) -> np.ndarray:
        return self.mrr > 0

    @cached_property
    def next_active(self) -> np.ndarray:
        """Month × account: the first month row ≥ this one with MRR > 0 (len(months) if none)."""
        t = len(self.months)
        rows = np.where(self.active, np.arange(t, dtype=np.int32)[:, None], np.int32(t))
        return accumulate(np.minimum, rows, reverse=True)

    @cached_property
    def movement_rows(self) -> MovementRows:
        """The account-months with a movement (most have none), by month row then account; the
        opening month (row 0) has none. The one place movements are classified."""
        cur, prev = self.mrr[1:], self.mrr[:-1]
        on, was = cur > 0, prev > 0
        seen_before = accumulate(np.logical_or, self.active)[:-1]
        kind = np.zeros(self.mrr.shape, dtype=np.int8)
        later = kind[1:]  # movements are mutually exclusive: codes 1.. in MOVEMENTS order
        later[on & ~seen_before] = 1
        later[on & was & (cur > prev)] = 2
        later[on & was & (cur < prev)] = 3
        later[was & ~on] = 4
        later[on & ~was & seen_before] = 5
        months, cols = np.nonzero(kind)  # row-major: by month, then account (the index is sorted)
        code = kind[months, cols] - 1
        now, before = self.mrr[months, cols], self.mrr[months - 1, cols]
        amount = np.select([code == 1, code == 2, code == 3], [now - before, before - now, before], now)
        return MovementRows(months, cols, code, amount)

    @cached_property
    def movements(self) -> dict[str, np.ndarray]:
        """Month × account amounts of each movement (row 0, the opening month, is all 0)."""
        moved = self.movement_rows
        moves = {k: np.zeros(self.mrr.shape) for k in MOVEMENTS}
        for code, name in enumerate(MOVEMENTS):
            at = moved.code == code
            moves[name][moved.months[at], moved.cols[at]] = moved.amount[at]
        return moves

    @cached_property
    def churn_count(self) -> np.ndarray:
        """Month × account number of churns up to and including each month."""
        return accumulate(np.add, self.movements["churn"] > 0, dtype=np.int32)

    def month_rows(self, dates: pd.Series) -> np.ndarray:
        """Month row of each date (negative before the data, ≥ len(months) after it)."""
        return month_offsets(dates, self.months[0])

    @cached_property
    def account_texts(self) -> pa.Array:
        """The cube's account ids as one Arrow text array (lookups, and id columns taken from it
        with :func:`texts_at`)."""
        return _arrow_strings(self.accounts)

    def account_columns(self, ids: pd.Series | pd.Index) -> np.ndarray:
        """Account column of each id (−1 if unknown or missing)."""
        return _index_in(_arrow_strings(ids), self.account_texts)

    def month_index(self, month: pd.Period) -> int:
        """Row of ``month``; a clear error when it lies outside the data."""
        first, last = self.months[0], self.months[-1]
        if not first <= month <= last:
            raise DataError(f"month {month} is outside the data ({first}..{last})")
        return (month - first).n


@dataclass(frozen=True)
class MovementRows:
    """The MRR movements as rows, by month row then account column: each row's ``months``,
    ``cols``, ``code`` (its movement, an index into ``MOVEMENTS``) and ``amount`` (> 0)."""

    months: np.ndarray
    cols: np.ndarray
    code: np.ndarray
    amount: np.ndarray

    def amounts(self, movement: str) -> np.ndarray:
        """Per row, the amount of ``movement`` (0 on the rows of the other movements)."""
        return np.where(self.code == MOVEMENTS.index(movement), self.amount, 0.0)


@dataclass(frozen=True)
class MonthRows:
    """Sparse rows on the cube's grid (CS events, MRR movements), sorted by month: ``cols`` is
    each row's account column and ``bounds[m]`` where month ``m``'s rows start (``bounds[-1]``
    the end). Totals over any months m1..m2 are one bincount of that slice, so the work follows
    the rows, not accounts × months."""

    bounds: np.ndarray
    cols: np.ndarray

    @classmethod
    def of(cls, cols: np.ndarray, months: np.ndarray, n_months: int) -> MonthRows:
        """Rows with account columns ``cols`` in month rows ``months`` (0 ≤ month < n_months)."""
        return cls.sorted(cols, months, n_months)[0]

    @classmethod
    def sorted(cls, cols: np.ndarray, months: np.ndarray, n_months: int) -> tuple[MonthRows, np.ndarray]:
        """``of``, and the order of the rows it holds (to put per-row values in the same order).
        The order is stable: a radix sort on 16-bit month keys, several times faster than on
        wider integers."""
        keys = months.astype(np.int16) if n_months <= np.iinfo(np.int16).max else months
        order = np.argsort(keys, kind="stable")
        return cls(np.searchsorted(months[order], np.arange(n_months + 1)), cols[order]), order

    @property
    def months(self) -> np.ndarray:
        """The month row of each row."""
        return np.repeat(np.arange(len(self.bounds) - 1), np.diff(self.bounds))

    def in_periods(self, first: np.ndarray, last: np.ndarray) -> PeriodRows:
        """The rows in the months first..last of each period (a row in several periods appears
        once in each), with their period's position."""
        lo, hi = self.bounds[first], self.bounds[np.asarray(last) + 1]
        lengths = hi - lo
        index = np.arange(lengths.sum()) + np.repeat(lo - (np.cumsum(lengths) - lengths), lengths)
        return PeriodRows(np.repeat(np.arange(len(lengths)), lengths), self.cols[index], index, len(lengths))

    def totals(self, first: np.ndarray, last: np.ndarray, n: int,
               weights: np.ndarray | None = None) -> np.ndarray:
        """Per account (periods × ``n`` accounts): the number of rows, or the sum of their
        ``weights``, in the months first..last of each period."""
        out = np.empty((len(first), n), dtype=np.int64 if weights is None else np.float64)
        for p, (m1, m2) in enumerate(zip(first, last, strict=True)):
            part = slice(self.bounds[m1], self.bounds[m2 + 1])
            out[p] = np.bincount(self.cols[part], None if weights is None else weights[part], minlength=n)
        return out



@dataclass(frozen=True)
class PeriodRows:
    """Sparse rows of a chunk of periods: each row's ``period`` (0 .. n_periods − 1), account
    column ``cols``, position ``index`` in the ``MonthRows`` it came from and ``weights`` (None:
    each row counts 1). A per-account quantity that is a sum over rows (MRR movements, CS
    events) is summed per segment from its rows directly (``kpis.engine``), so the work follows
    the rows rather than periods × accounts."""

    period: np.ndarray
    cols: np.ndarray
    index: np.ndarray
    n_periods: int
    weights: np.ndarray | None = None

    def weighted(self, weights: np.ndarray) -> PeriodRows:
        """The same rows weighted by ``weights`` (one per row of the ``MonthRows``)."""
        return PeriodRows(self.period, self.cols, self.index, self.n_periods, weights[self.index])

    def per_account(self, n: int) -> np.ndarray:
        """The sums per account (periods × ``n`` accounts), laid out densely."""
        sums = np.bincount(self.period * n + self.cols, self.weights, self.n_periods * n)
        return sums.reshape(self.n_periods, n)

def accumulate(ufunc: np.ufunc, x: np.ndarray, dtype: np.dtype | type | None = None,
               reverse: bool = False) -> np.ndarray:
    """``ufunc.accumulate(x, axis=0)`` (backwards with ``reverse``), one month row at a time.

    Same result as numpy's, but numpy walks a month-major array down its columns (a strided
    read per element) and is about ten times slower on cube-sized arrays.
    """
    out = np.empty(x.shape, dtype=dtype or x.dtype)
    rows = range(len(x) - 1, -1, -1) if reverse else range(len(x))
    prev = None
    for i in rows:
        if prev is None:
            out[i] = x[i]
        else:
            ufunc(out[prev], x[i], out=out[i])
        prev = i
    return out


def _arrow_strings(values: pd.Series | pd.Index) -> pa.Array:
    """``values`` as Arrow strings (no copy when they already are)."""
    series = pd.Series(values, copy=False)
    return pa.array(series if series.dtype == "str" else series.astype("str"))


def texts_at(texts: pa.Array | Sequence[str], positions: np.ndarray) -> pd.Series:
    """A text column of ``texts[positions]``, taken in Arrow (pandas converts an object array of
    strings one by one, several times slower)."""
    texts = texts if isinstance(texts, pa.Array) else pa.array(texts, type=pa.large_string())
    return pd.Series(texts.take(positions), dtype="str", copy=False)


def _short_text_keys(values: pa.Array) -> np.ndarray | None:
    """Each string of ``values`` as one uint64 (its UTF-8 bytes, zero-padded), when every string
    is at most 8 bytes long and none holds a NUL byte, so that the key is one-to-one with the text;
    None otherwise. Missing values get arbitrary keys (the caller masks them)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return None
    n = len(values)
    _, offset_buffer, data_buffer = values.buffers()
    offset_type = np.int64 if pa.types.is_large_string(values.type) else np.int32
    offsets = np.frombuffer(offset_buffer, offset_type, n + 1, values.offset * np.dtype(offset_type).itemsize)
    lengths = np.diff(offsets)
    lo, hi = int(offsets[0]), int(offsets[-1])
    data = np.zeros(0, np.uint8) if data_buffer is None else np.frombuffer(data_buffer, np.uint8)[lo:hi]
    if n == 0 or lengths.max() > 8 or not data.all():  # long or NUL-holding text: not one word
        return None
    padded = np.zeros((n, 8), np.uint8)
    if (lengths == lengths[0]).all():  # ids of one length (the common case): a reshape
        padded[:, :lengths[0]] = data.reshape(n, -1)
    else:  # each byte to its string's row, at its place in the string
        starts = np.arange(n, dtype=np.int64) * 8 - (offsets[:-1].astype(np.int64) - lo)
        padded.ravel()[np.repeat(starts, lengths) + np.arange(hi - lo)] = data
    return padded.view(np.uint64).ravel()


def _index_in(values: pa.Array, value_set: pa.Array) -> np.ndarray:
    """Position of each value in ``value_set`` (of distinct, non-missing values), −1 where absent
    or missing. Short ids (≤ 8 bytes, the usual case) are looked up as one integer each, about 2x
    faster than Arrow's string hash; other text by Arrow's ``index_in`` (C++)."""
    keys, set_keys = _short_text_keys(values), _short_text_keys(value_set)
    if keys is not None and set_keys is not None and value_set.null_count == 0:
        index = pd.Index(set_keys)
        if index.is_unique:
            found = index.get_indexer(keys)
            if values.null_count:
                found[np.asarray(values.is_null())] = -1
            return found
    found = pc.index_in(values, value_set=value_set.cast(values.type))
    return pc.fill_null(found, -1).to_numpy().astype(np.intp, copy=False)


def month_offsets(dates: pd.Series, first: pd.Period) -> np.ndarray:
    """Whole months from ``first`` to each date's month (dates must not be missing)."""
    values = dates.to_numpy()
    if np.isnat(values).any():
        raise DataError(f"{dates.name}: missing dates where a month is needed")
    if not len(values):
        return np.zeros(0, dtype=np.int64)
    unit, count = np.datetime_data(values.dtype)
    if unit in ("s", "ms", "us", "ns"):  # integer division: much faster than a calendar cast
        days = values.view(np.int64) // (np.timedelta64(1, "D") // np.timedelta64(count, unit))
    else:
        days = values.astype("datetime64[D]").view(np.int64)
    lo = days.min()
    # the month of each day from lo to the latest, looked up (dates span a few thousand days);
    # in place, as these arrays are as long as the table
    month_of_day = np.arange(lo, days.max() + 1).astype("datetime64[D]").astype("datetime64[M]").view(np.int64)
    month_of_day -= (first.year - 1970) * 12 + first.month - 1
    days -= lo
    return np.take(month_of_day, days, out=days)


def _sorted_codes(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(keys, sort=True)`` for non-negative integer keys below ``size``: a lookup
    table when that is not much larger than ``keys`` (far faster than hashing), else a hash."""
    if size > 4 * len(keys) + (1 << 20):
        return pd.factorize(keys, sort=True)
    seen = np.zeros(size, dtype=bool)
    seen[keys] = True
    uniques = np.flatnonzero(seen)
    position = np.cumsum(seen) - 1
    return position[keys], uniques


def sum_by_account(values: np.ndarray, columns: np.ndarray, n: int) -> np.ndarray:
    """Sum the columns of ``values`` (rows × pairs) into ``n`` columns by ``columns``."""
    out = np.zeros((values.shape[0], n), dtype=values.dtype)
    for row, x in zip(out, values, strict=True):  # a bincount per month or period
        row[:] = np.bincount(columns, x, minlength=n)
    return out


def build_cube(subscriptions: pd.DataFrame, account_ids: pd.Series | pd.Index,
               through: pd.Period | None = None, since: pd.Period | None = None) -> MrrCube:
    """Lay out a validated subscriptions table over ``account_ids`` (normally all accounts), from
    its first month through its last, widened to ``since`` .. ``through`` when given (derived
    from contracts: the history runs from the first contract, trials included, to the as-of
    month, though the first or last months may hold no MRR)."""
    if subscriptions.empty:
        raise DataError("subscriptions: no rows, so there is no MRR to analyse")
    month = subscriptions["month"]
    first = month.min().to_period("M")
    last = month.max().to_period("M")
    if through is not None and through > last:
        last = through
    if since is not None and since < first:
        first = since
    n_months = (last - first).n + 1

    def account_columns() -> tuple[pd.Index, np.ndarray]:
        ids = pc.unique(_arrow_strings(pd.Series(account_ids, copy=False)))
        ids = ids.take(pc.sort_indices(ids))  # code point order, as Python sorts text
        return pd.Index(ids.to_numpy(zero_copy_only=False), dtype=object, name="account_id"), \
            _index_in(_arrow_strings(subscriptions["account_id"]), ids)

    # the two halves are hash lookups and array passes that release the GIL: side by side
    with ThreadPoolExecutor(2) as pool:
        looked_up = pool.submit(account_columns)
        prod_codes, products = pd.factorize(subscriptions["product"], sort=True)
        month_row = month_offsets(month, first)
        accounts, acc = looked_up.result()
        if (acc < 0).any():
            raise DataError("subscriptions: account_id not in accounts")
        pair_key = acc.astype(np.int64)
        pair_key *= len(products)
        pair_key += prod_codes
        pair_codes, pair_keys = _sorted_codes(pair_key, len(accounts) * len(products))
        pair_mrr = np.zeros((n_months, len(pair_keys)))
        filled = pool.submit(pair_mrr.__setitem__, (month_row, pair_codes), subscriptions["mrr"].to_numpy(dtype=float))
        # licenses are only read per account: summed straight into the month × account grid (one
        # row per account, month and product, a key of the contract)
        cell = month_row * len(accounts) + acc
        licenses = np.bincount(cell, subscriptions["licenses"].to_numpy(dtype=float), n_months * len(accounts))
        filled.result()
    return MrrCube(
        accounts=accounts,
        months=pd.period_range(first, last, freq="M"),
        pair_account=(pair_keys // len(products)).astype(np.intp),
        pair_product=np.asarray(products)[pair_keys % len(products)],
        pair_mrr=pair_mrr,
        licenses=licenses.reshape(n_months, len(accounts)),
    )


def mrr_ledger(cube: MrrCube) -> pd.DataFrame:
    """The monthly MRR movement ledger: one row per account and month with a movement, ordered
    by month then account_id.

    Columns: account_id, month (first day), mrr_prev, mrr, movement, amount. Months without a
    subscription row count as MRR 0; churn is a month with no MRR after an active month.
    """
    moved = cube.movement_rows
    rows, cols = moved.months, moved.cols
    return pd.DataFrame({
        "account_id": texts_at(cube.account_texts, cols),
        "month": cube.months.to_timestamp().to_numpy()[rows],
        "mrr_prev": np.where(rows > 0, cube.mrr[np.maximum(rows - 1, 0), cols], 0.0),
        "mrr": cube.mrr[rows, cols],
        "movement": texts_at(MOVEMENTS, moved.code),
        "amount": moved.amount,
    })
