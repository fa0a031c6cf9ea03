"""Property-based tests on random small subscription histories (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import dataset_from
from cs_analysis.config.settings import Settings
from cs_analysis.core.ledger import (
    MonthRows,
    _index_in,
    _short_text_keys,
    _sorted_codes,
    accumulate,
    build_cube,
    month_offsets,
    mrr_ledger,
)
from cs_analysis.core.periods import Period
from cs_analysis.errors import DataError
from cs_analysis.kpis.engine import KpiEngine

MONTHS = [f"2025-{m:02d}" for m in range(1, 9)]
cells = st.dictionaries(
    keys=st.tuples(st.sampled_from("ABCDE"), st.sampled_from(MONTHS), st.sampled_from(["core", "ivr", "crm"])),
    values=st.tuples(st.integers(0, 15), st.sampled_from([0, 10, 20, 30, 50, 80, 100])),
    min_size=1, max_size=60,
)


def _dataset(history: dict):
    rows = [(a, m, p, lic, mrr) for (a, m, p), (lic, mrr) in sorted(history.items())]
    employees = {"A": 3000, "B": 10, "C": 2500, "D": 50, "E": 5}
    accounts = [(a, employees[a]) for a in sorted({r[0] for r in rows})]
    return dataset_from(rows, accounts=accounts)


def _oracle_ledger(history: dict) -> list[tuple]:
    """Plain-Python ledger, month by month, straight from SPEC §2.2."""
    months = sorted({m for (_, m, _) in history})
    months = pd.period_range(months[0], months[-1], freq="M").astype(str).tolist()
    out = []
    for acc in sorted({a for (a, _, _) in history}):
        mrr = [sum(v[1] for (a, m, _), v in history.items() if a == acc and m == mon) for mon in months]
        for t in range(1, len(months)):
            prev, cur, seen = mrr[t - 1], mrr[t], any(x > 0 for x in mrr[:t])
            if cur > 0 and not seen:
                out.append((acc, months[t], "new", cur))
            elif cur > 0 and prev > 0 and cur != prev:
                out.append((acc, months[t], "expansion" if cur > prev else "contraction", abs(cur - prev)))
            elif prev > 0 and cur == 0:
                out.append((acc, months[t], "churn", prev))
            elif cur > 0 and prev == 0:
                out.append((acc, months[t], "reactivation", cur))
    return sorted(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells)
def test_ledger_matches_the_spec_oracle(history):
    ds = _dataset(history)
    ledger = mrr_ledger(build_cube(ds.subscriptions, ds.accounts["account_id"]))
    got = sorted((r.account_id, r.month.strftime("%Y-%m"), r.movement, r.amount) for r in ledger.itertuples())
    assert got == _oracle_ledger(history)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells, st.integers(1, 7), st.integers(0, 6))
def test_kpi_invariants_on_random_periods(history, first, length):
    ds = _dataset(history)
    engine = KpiEngine(ds, Settings())
    months = engine.cube.months
    if len(months) < 2:
        return
    i1 = min(first, len(months) - 1)
    i2 = min(i1 + length, len(months) - 1)
    frame = engine.kpis(Period("p", months[i1], months[i2]), by=["size", "touch_tier"])
    wide = frame.set_index(["segment_by", "segment", "kpi"])["value"].unstack("kpi").astype(float)
    identity = (wide["mrr_start"] + wide["new_mrr"] + wide["expansion_mrr"] + wide["reactivation_mrr"]
                - wide["contraction_mrr"] - wide["churned_mrr"])
    assert ((wide["mrr_end"] - identity).abs() < 1e-9).all(), wide.T
    grr, nrr = wide["grr"].dropna(), wide["nrr"].dropna()
    assert ((grr >= 0) & (grr <= 100 + 1e-9)).all() and (grr <= nrr.reindex(grr.index) + 1e-9).all()
    assert (wide["churned_accounts"] <= wide["active_accounts_start"]).all()
    total = wide.loc[("all", "all")]
    for seg_by in ("size", "touch_tier"):
        rows = wide[wide.index.get_level_values("segment_by") == seg_by]
        part = rows.fillna(0).sum()  # no rows: every segment had no activity, so the total is 0
        for k in ("mrr_start", "mrr_end", "churned_mrr", "new_accounts", "churned_accounts", "upsell_mrr",
                  "cross_sell_mrr", "lost_revenue"):
            assert abs(part[k] - total[k]) < 1e-9, (seg_by, k)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.lists(st.integers(-5, 5), min_size=3, max_size=3), min_size=0, max_size=7),
    ufunc=st.sampled_from([np.add, np.maximum, np.minimum, np.logical_or]),
    reverse=st.booleans(),
)
def test_accumulate_matches_numpy(values, ufunc, reverse):
    """The row-at-a-time accumulate of the cube equals numpy's own, forwards and backwards."""
    x = np.array(values, dtype=np.int64).reshape(len(values), 3)
    if ufunc is np.logical_or:
        x = x > 0
    expected = ufunc.accumulate(x[::-1] if reverse else x, axis=0)
    expected = expected[::-1] if reverse else expected
    np.testing.assert_array_equal(accumulate(ufunc, x, reverse=reverse), expected)
    assert accumulate(np.add, x, dtype=np.int32).dtype == np.int32


@settings(max_examples=60, deadline=None)
@given(
    stamps=st.lists(st.datetimes(min_value=pd.Timestamp("1900-01-01").to_pydatetime(),
                                 max_value=pd.Timestamp("2100-12-31").to_pydatetime()), max_size=20),
    unit=st.sampled_from(["s", "ms", "us", "ns", "D"]),
)
def test_month_offsets_match_the_calendar(stamps, unit):
    """Month rows from a day lookup equal the calendar's month arithmetic, before 1970 too."""
    dates = pd.Series(np.array(stamps, dtype=f"datetime64[{unit}]"), name="d")
    first = pd.Period("1999-11", freq="M")
    expected = [(t.year - 1999) * 12 + t.month - 11 for t in pd.to_datetime(dates)]
    assert month_offsets(dates, first).tolist() == expected


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(st.integers(0, 50), max_size=40), size_extra=st.sampled_from([0, 1 << 22]))
def test_sorted_codes_equal_factorize(keys, size_extra):
    """Pair codes from the lookup table (and the hash fallback for sparse keys) equal pandas'."""
    keys = np.array(keys, dtype=np.int64)
    codes, uniques = _sorted_codes(keys, 51 + size_extra)
    expected_codes, expected_uniques = pd.factorize(keys, sort=True)
    np.testing.assert_array_equal(codes, expected_codes)
    np.testing.assert_array_equal(uniques, expected_uniques)


# ids short enough for one integer key (≤ 8 bytes), longer ones, multi-byte text, NUL bytes, ""
_ids = st.text(st.sampled_from(["a", "b", "é", "日", "\x00", "7"]), max_size=5)


@settings(max_examples=150, deadline=None)
@given(known=st.lists(_ids, unique=True, max_size=12), asked=st.lists(st.one_of(st.none(), _ids), max_size=30),
       large=st.booleans(), sliced=st.booleans())
@example(known=["a"], asked=["a\x00", "a"], large=False, sliced=False)  # a NUL must not pad to a known id
@example(known=["", "a"], asked=["", None, ""], large=True, sliced=True)  # only empty texts (no data bytes)
def test_index_in_equals_arrow(known, asked, large, sliced):
    """The id lookup (one integer per short id, else Arrow's hash) gives Arrow's index_in: the
    position in the set, −1 when absent or missing; on string and large_string, sliced arrays."""
    kind = pa.large_string() if large else pa.string()
    value_set, values = pa.array(known, type=pa.string()), pa.array(["x", *asked, "y"], type=kind)
    if sliced:
        values = values.slice(1, len(asked))
    expected = pc.fill_null(pc.index_in(values, value_set=value_set.cast(kind)), -1).to_numpy()
    np.testing.assert_array_equal(_index_in(values, value_set), expected)


def test_short_text_keys_only_when_one_to_one():
    """A key is the text's bytes, zero-padded: used only when no string is over 8 bytes or holds
    a NUL (else "a" and "a\\0" would share one)."""
    keys = _short_text_keys(pa.array(["A000001", "A2", "", "日本"]))
    assert keys is not None and len(set(keys.tolist())) == 4
    assert _short_text_keys(pa.array(["a", "a\x00"])) is None
    assert _short_text_keys(pa.array(["123456789"])) is None  # 9 bytes
    assert _short_text_keys(pa.array(["12345678"])) is not None
    assert (_index_in(pa.array(["C", "A000001", "B"]), pa.array(["B", "A000001"])) == [-1, 1, 0]).all()


def test_month_offsets_name_missing_dates():
    with pytest.raises(DataError, match="opened_at: missing dates"):
        month_offsets(pd.Series(pd.to_datetime(["2025-01-03", None]), name="opened_at"), pd.Period("2025-01", "M"))


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 5), st.integers(-3, 9)), max_size=30),
       first=st.integers(0, 5), length=st.integers(0, 5))
def test_month_rows_totals_equal_dense_sums(rows, first, length):
    """Counts and weighted sums of a months slice equal those of a dense months × accounts grid."""
    last = min(first + length, 5)
    cols = np.array([c for c, _, _ in rows], dtype=np.intp)
    months = np.array([m for _, m, _ in rows], dtype=np.int32)
    weights = np.array([w for _, _, w in rows], dtype=float)
    dense_counts, dense_sums = np.zeros((6, 5)), np.zeros((6, 5))
    np.add.at(dense_counts, (months, cols), 1)
    np.add.at(dense_sums, (months, cols), weights)
    month_rows = MonthRows.of(cols, months, 6)
    order_weights = weights[np.argsort(months, kind="stable")]  # the rows' order inside MonthRows
    span = (np.array([first]), np.array([last]))
    np.testing.assert_array_equal(month_rows.totals(*span, 5)[0], dense_counts[first:last + 1].sum(axis=0))
    np.testing.assert_allclose(month_rows.totals(*span, 5, order_weights)[0], dense_sums[first:last + 1].sum(axis=0))
    np.testing.assert_array_equal(month_rows.months, np.sort(months))


def test_period_rows_hand_example():
    """Rows of months 1..2 and of month 0..2 (overlapping periods): each row once per period."""
    month_rows = MonthRows.of(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)  # (col, month) pairs
    rows = month_rows.in_periods(np.array([1, 0]), np.array([2, 2])).weighted(np.array([5.0, 7.0, 1.0, 2.0]))
    assert rows.n_periods == 2
    assert rows.period.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert rows.cols.tolist() == [1, 1, 2, 0, 1, 1, 2]
    assert rows.weights.tolist() == [7.0, 1.0, 2.0, 5.0, 7.0, 1.0, 2.0]


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 5), st.integers(-3, 9)), max_size=30),
       spans=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=4))
def test_period_rows_sum_to_the_dense_totals(rows, spans):
    """Per period, the rows' weights summed per account equal ``MonthRows.totals`` (the dense
    per-account sums the segment sums replace)."""
    cols = np.array([c for c, _, _ in rows], dtype=np.intp)
    months = np.array([m for _, m, _ in rows], dtype=np.int32)
    weights = np.array([w for _, _, w in rows], dtype=float)
    first = np.array([min(a, b) for a, b in spans])
    last = np.array([max(a, b) for a, b in spans])
    month_rows = MonthRows.of(cols, months, 6)
    order_weights = weights[np.argsort(months, kind="stable")]
    period_rows = month_rows.in_periods(first, last).weighted(order_weights)
    sums = np.zeros((len(spans), 5))
    np.add.at(sums, (period_rows.period, period_rows.cols), period_rows.weights)
    np.testing.assert_allclose(sums, month_rows.totals(first, last, 5, order_weights))
    counts = np.zeros((len(spans), 5))
    np.add.at(counts, (period_rows.period, period_rows.cols), 1)
    np.testing.assert_array_equal(counts, month_rows.totals(first, last, 5))
