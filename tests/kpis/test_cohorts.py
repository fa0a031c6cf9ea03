"""Cohort retention (docs/kpis.md): a hand-worked table on a tiny history — a reactivated account
stays in its first cohort, expansion lifts net MRR retention above 100 — and invariants."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import dataset_from
from cs_analysis.cli import main
from cs_analysis.config import Settings
from cs_analysis.kpis.cohorts import COLUMNS, cohort_retention
from cs_analysis.kpis.engine import KpiEngine

# signup in 2025-01 for all; the opening month 2025-01 is a start for A and B (signed up then)
SUBS = [("A", "2025-01", "core", 2, 100), ("A", "2025-02", "core", 4, 200), ("A", "2025-03", "core", 4, 200),
        ("B", "2025-01", "core", 2, 100), ("B", "2025-03", "core", 2, 100),  # B: churn in Feb, back in March
        ("C", "2025-02", "core", 5, 50), ("C", "2025-03", "core", 5, 50),
        ("D", "2025-02", "core", 5, 50)]                                      # D churns in March
ACCOUNTS = [("A", 100), ("B", 100), ("C", 100), ("D", 100)]


def _ds():
    ds = dataset_from(SUBS, ACCOUNTS)
    ds.accounts["signup_date"] = np.datetime64("2025-01-10", "us")
    return ds


def _table(grain="month", by=None):
    return cohort_retention(KpiEngine(_ds(), Settings(min_cohort_accounts=2), with_health=False), grain, by)


def _cell(table, cohort, age, measure):
    f = table.frame
    row = f[(f["segment_by"] == "all") & (f["cohort"] == cohort) & (f["age"] == age) & (f["measure"] == measure)]
    assert len(row) == 1
    return row["cohort_accounts"].item(), row["value"].item()


def test_hand_worked_monthly_cohorts():
    t = _table()
    assert list(t.frame.columns) == COLUMNS
    assert _cell(t, "2025-01", 0, "logo") == (2, 100.0)
    assert _cell(t, "2025-01", 1, "logo") == (2, 50.0)    # B inactive in February
    assert _cell(t, "2025-01", 2, "logo") == (2, 100.0)   # B reactivated: still in its first cohort
    assert _cell(t, "2025-01", 1, "mrr") == (2, 100.0)    # A 200 + B 0 over 100 + 100
    assert _cell(t, "2025-01", 2, "mrr") == (2, 150.0)    # expansion: above 100
    assert _cell(t, "2025-01", 2, "seats") == (2, 150.0)  # 4 + 2 over 2 + 2
    assert _cell(t, "2025-02", 0, "logo") == (2, 100.0)
    assert _cell(t, "2025-02", 1, "logo") == (2, 50.0)    # D churned
    assert _cell(t, "2025-02", 1, "mrr") == (2, 50.0)
    f = t.frame
    assert f[(f["cohort"] == "2025-02")]["age"].max() == 1  # no age beyond the data


def test_quarter_grain_ages_each_account_from_its_own_start():
    t = _table("quarter")
    assert set(t.frame["cohort"]) == {"FY2024Q4"}  # January-March 2025 with April fiscal years
    assert _cell(t, "FY2024Q4", 0, "logo") == (4, 100.0)
    assert t.frame["age"].max() == 0  # three months of data: no account reaches age 1


def test_small_cells_are_marked_not_hidden():
    ds = dataset_from(SUBS, ACCOUNTS)
    ds.accounts["signup_date"] = np.datetime64("2025-01-10", "us")
    t = cohort_retention(KpiEngine(ds, Settings(min_cohort_accounts=30), with_health=False))
    assert t.small().all() and len(t.frame) > 0


def test_truncated_accounts_are_left_out_and_segments_are_read_at_the_start():
    ds = dataset_from(SUBS, ACCOUNTS)  # signup dates of the fixture lie before 2025-01
    ds.accounts["signup_date"] = np.datetime64("2024-06-01", "us")
    t = cohort_retention(KpiEngine(ds, Settings(), with_health=False), by="touch_tier")
    assert t.left_out == 2 and set(t.frame["cohort"]) == {"2025-02"}
    seg = t.frame[(t.frame["segment_by"] == "touch_tier") & (t.frame["age"] == 0) & (t.frame["measure"] == "logo")]
    assert dict(zip(seg["segment"], seg["cohort_accounts"], strict=True)) == {"low": 2}  # 5 licenses at start


def test_invariants_on_the_demo(demo_small):
    from cs_analysis.data.dataset import load_dataset

    engine = KpiEngine(load_dataset(demo_small), Settings(), with_health=False)
    t = cohort_retention(engine, "month", "size")
    f = t.frame
    age0 = f[f["age"] == 0]
    assert (age0["value"] == 100).all()  # every measure starts at 100
    logo = f[f["measure"] == "logo"]
    assert logo["value"].between(0, 100).all()
    by_size = f[f["segment_by"] == "size"].groupby(["cohort", "age", "measure"])["cohort_accounts"].sum()
    total = f[f["segment_by"] == "all"].set_index(["cohort", "age", "measure"])["cohort_accounts"]
    assert (by_size.reindex(total.index) == total).all()  # segments partition the cohort


def test_as_they_stood_at_an_earlier_month():
    ended = cohort_retention(KpiEngine(_ds(), Settings(min_cohort_accounts=2), with_health=False),
                             "month", None, end="2025-02")
    assert ended.frame["cohort"].max() == "2025-02" and ended.frame["age"].max() == 1
    assert _cell(ended, "2025-01", 1, "logo") == (2, 50.0)  # as in the whole history
    assert not (ended.frame["cohort"] > "2025-02").any()


def test_an_end_month_cuts_the_monthly_table_to_the_cells_known_then(demo_small):
    """At the month grain a cell (cohort, age) holds the same accounts whenever it is known, so
    the table as it stood at month e is the whole table's cells with cohort + age <= e."""
    import pandas as pd

    from cs_analysis.data.dataset import load_dataset

    engine = KpiEngine(load_dataset(demo_small), Settings(), with_health=False)
    end = engine.cube.months[-5]
    full = cohort_retention(engine, "month", "size").frame
    ended = cohort_retention(engine, "month", "size", end=end).frame
    known = full[full["cohort"].map(lambda c: pd.Period(c, "M")) + full["age"] <= end].reset_index(drop=True)
    assert len(ended) and len(ended) < len(full)
    pd.testing.assert_frame_equal(ended, known)


@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_cli(demo_small, tmp_path, fmt, capsys):
    out = tmp_path / f"c.{fmt}"
    assert main(["cohorts", str(demo_small), "--grain", "quarter", "--by", "size", "--format", fmt,
                 "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8-sig")
    if fmt == "csv":
        assert text.splitlines()[0] == ",".join(COLUMNS)
