"""Hand-worked KPI examples on tiny frames (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from conftest import dataset_from
from cs_analysis import load_settings
from cs_analysis.config.settings import Settings
from cs_analysis.core.ledger import build_cube, mrr_ledger
from cs_analysis.core.periods import PeriodError, latest_fiscal_quarter, parse_period
from cs_analysis.errors import DataError
from cs_analysis.kpis import KPIS, KpiEngine, compute_kpis, kpi_changes, monthly_trend

APRIL = Settings()  # fiscal year starts in April (default)
JANUARY = Settings(fiscal_year_start_month=1)


def kpi(ds, period, settings=APRIL, by=(), segment="all"):
    frame = compute_kpis(ds, period, settings, by)
    rows = frame[frame["segment"] == segment]
    return dict(zip(rows["kpi"], rows["value"], strict=True))


# --- periods ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text,start_month,first,last",
    [
        ("2025-07", 4, "2025-07", "2025-07"),
        ("2025Q3", 4, "2025-07", "2025-09"),
        ("2025q1", 4, "2025-01", "2025-03"),
        ("FY2025", 4, "2025-04", "2026-03"),
        ("FY2025", 1, "2025-01", "2025-12"),
        ("FY2025Q1", 4, "2025-04", "2025-06"),
        ("FY2025Q4", 4, "2026-01", "2026-03"),
        ("FY2025Q1", 1, "2025-01", "2025-03"),
        ("FY2025Q2", 10, "2026-01", "2026-03"),
        ("2025-04..2025-09", 4, "2025-04", "2025-09"),
    ],
)
def test_period_forms(text, start_month, first, last):
    p = parse_period(text, start_month)
    assert (str(p.first), str(p.last), str(p.start)) == (first, last, str(pd.Period(first, "M") - 1))


@pytest.mark.parametrize("bad", ["2025-13", "FY25", "2025Q5", "2025-09..2025-04", "last quarter"])
def test_bad_periods(bad):
    with pytest.raises(PeriodError):
        parse_period(bad)


def test_latest_fiscal_quarter():
    assert latest_fiscal_quarter(pd.Period("2026-10", "M"), 4).label == "FY2026Q2"
    assert latest_fiscal_quarter(pd.Period("2026-03", "M"), 4).label == "FY2025Q4"
    assert latest_fiscal_quarter(pd.Period("2026-02", "M"), 1).label == "FY2025Q4"


# --- the ledger ------------------------------------------------------------------------------
def test_ledger_movements_by_hand():
    ds = dataset_from([
        ("A", "2025-01", "core", 1, 100),   # opening month: no movement
        ("A", "2025-02", "core", 1, 150),   # expansion 50
        ("A", "2025-03", "core", 1, 120),   # contraction 30
        # A: no row in 2025-04 → churn 120
        ("A", "2025-05", "core", 1, 80),    # reactivation 80 (active before)
        ("B", "2025-03", "core", 1, 40),    # new 40
        ("B", "2025-04", "core", 1, 40),    # flat: no row in the ledger
        ("B", "2025-05", "core", 1, 0),     # zero MRR after active → churn 40
    ])
    ledger = mrr_ledger(build_cube(ds.subscriptions, ds.accounts["account_id"]))
    got = [(r.account_id, r.month.strftime("%Y-%m"), r.movement, r.amount, r.mrr_prev, r.mrr)
           for r in ledger.itertuples()]
    assert got == [
        ("A", "2025-02", "expansion", 50, 100, 150),
        ("A", "2025-03", "contraction", 30, 150, 120),
        ("B", "2025-03", "new", 40, 0, 40),
        ("A", "2025-04", "churn", 120, 120, 0),
        ("A", "2025-05", "reactivation", 80, 0, 80),
        ("B", "2025-05", "churn", 40, 40, 0),
    ]


# --- SPEC examples ---------------------------------------------------------------------------
def test_lost_revenue_spec_example():
    # F = 1: last billed month March at ¥200,000, churn month April → April..December = 9 months
    ds = dataset_from([("A", f"2025-{m:02d}", "core", 20, 200_000) for m in (1, 2, 3)]
                      + [("B", f"2025-{m:02d}", "core", 1, 1_000) for m in range(1, 13)])
    assert kpi(ds, "2025-04", JANUARY)["lost_revenue"] == 1_800_000
    assert kpi(ds, "2025Q2", JANUARY)["lost_revenue"] == 1_800_000
    # F = 4: April is the first month of the fiscal year → 12 months
    assert kpi(ds, "2025-04", APRIL)["lost_revenue"] == 2_400_000


def test_nps_example():
    # scores 10, 10, 9 promoters; 8 passive; 2 detractor → (3 − 1) ÷ 5 × 100 = 40
    ds = dataset_from(
        [("A", "2025-01", "core", 1, 10), ("A", "2025-02", "core", 1, 10), ("B", "2025-02", "core", 1, 10)],
        nps_responses=[("A", "2025-02-03", 10), ("A", "2025-02-04", 10), ("B", "2025-02-05", 9),
                       ("B", "2025-02-06", 8), ("A", "2025-02-07", 2),
                       ("A", "2025-01-15", 0)],  # outside the period: ignored
    )
    got = kpi(ds, "2025-02")
    assert (got["nps"], got["nps_responses"], got["promoters"], got["detractors"]) == (40.0, 5, 3, 1)
    # latest answer per account: A → 2 (not a candidate), B → 8: none are referral candidates
    assert got["referral_candidates"] == 0


def test_reactivation_after_a_gap():
    ds = dataset_from([("A", "2025-01", "core", 1, 100), ("A", "2025-04", "core", 1, 120),
                       ("Z", "2025-01", "core", 1, 1), ("Z", "2025-06", "core", 1, 1)])
    q2 = kpi(ds, "2025-04..2025-06")  # start 2025-03: A inactive (churned in February)
    assert q2["reactivation_mrr"] == 120 + 1 and q2["new_mrr"] == 0 and q2["new_accounts"] == 0  # A and Z
    assert q2["active_accounts_start"] == 0 and q2["customer_churn_rate"] is None
    feb = kpi(ds, "2025-02")
    assert feb["churned_mrr"] == 101 and feb["churned_accounts"] == 2 and feb["customer_churn_rate"] == 100.0


def test_churn_and_return_inside_one_period():
    # A: March 100 (start), April none (churn 100), May 100 (reactivation 100), June 100 (end)
    ds = dataset_from([("A", "2025-03", "core", 5, 100), ("A", "2025-05", "core", 5, 100),
                       ("A", "2025-06", "core", 5, 100)])
    q = kpi(ds, "FY2025Q1")  # 2025-04..06, start 2025-03
    assert q["churned_accounts"] == 0 and q["customer_churn_rate"] == 0.0  # A is in S and in E
    assert q["churned_mrr"] == 100 and q["reactivation_mrr"] == 100
    assert q["revenue_churn_rate"] == 100.0  # (100 + 0) ÷ 100: movements summed over the months
    assert q["net_revenue_churn_rate"] == 0.0  # (100 − 100) ÷ 100
    assert q["nrr"] == 100.0 and q["grr"] == 100.0
    # monthly churn: April 1/1 = 100 %, May: S = {} undefined, June 0/1 = 0 % → mean of defined = 50 %
    assert q["avg_monthly_churn_rate"] == 50.0


def test_dropping_one_of_two_products_is_contraction_not_churn():
    ds = dataset_from([("A", "2025-03", "core", 10, 100), ("A", "2025-03", "ivr", 0, 50),
                       ("A", "2025-04", "core", 10, 100)])
    q = kpi(ds, "2025-04")
    assert (q["contraction_mrr"], q["churned_mrr"], q["churned_accounts"]) == (50, 0, 0)
    assert q["grr"] == pytest.approx(100 * 100 / 150) and q["nrr"] == pytest.approx(100 * 100 / 150)
    assert q["revenue_churn_rate"] == pytest.approx(100 * 50 / 150)


def test_cross_sell_and_upsell():
    # A: core 100 → 100 plus new ivr 30 (cross-sell 30); B: core 100 → 150 (upsell 50);
    # C: core 100 → 80 (contraction 20, no upsell); D: new in April (not in S)
    ds = dataset_from([
        ("A", "2025-03", "core", 10, 100), ("A", "2025-04", "core", 10, 100), ("A", "2025-04", "ivr", 0, 30),
        ("B", "2025-03", "core", 10, 100), ("B", "2025-04", "core", 15, 150),
        ("C", "2025-03", "core", 10, 100), ("C", "2025-04", "core", 8, 80),
        ("D", "2025-04", "core", 1, 10), ("D", "2025-04", "ivr", 0, 30),
    ])
    q = kpi(ds, "2025-04")
    assert (q["cross_sell_mrr"], q["upsell_mrr"]) == (30, 50)
    assert q["cross_sell_rate"] == pytest.approx(100 / 3) and q["upsell_rate"] == pytest.approx(100 / 3)
    assert (q["expansion_mrr"], q["contraction_mrr"], q["new_mrr"]) == (80, 20, 40)
    # NRR = (130 + 150 + 80) ÷ 300 = 120 %; GRR = (100 + 100 + 80) ÷ 300 = 93.3 %
    assert q["nrr"] == pytest.approx(120.0) and q["grr"] == pytest.approx(280 / 3)
    # license churn: only C lost 2 of 30 start licenses → 6.67 %
    assert q["license_churn_rate"] == pytest.approx(100 * 2 / 30)


def test_retention_arpa_ltv_and_license_churn():
    # S = {A, B, C, D}; E = {A, B, N}: N new → retention (3 − 1) ÷ 4 = 50 %, churn 2 ÷ 4 = 50 %
    ds = dataset_from([
        ("A", "2025-03", "core", 10, 100), ("A", "2025-04", "core", 7, 70),
        ("B", "2025-03", "core", 5, 50), ("B", "2025-04", "core", 5, 50),
        ("C", "2025-03", "core", 4, 40), ("D", "2025-03", "core", 1, 10),
        ("N", "2025-04", "core", 3, 30),
    ])
    q = kpi(ds, "2025-04")
    assert q["customer_retention_rate"] == 50.0 and q["customer_churn_rate"] == 50.0
    assert q["license_churn_rate"] == pytest.approx(100 * (3 + 4 + 1) / 20)
    assert q["arpa"] == pytest.approx(150 / 3)  # mrr_end 150 over 3 active accounts
    assert q["ltv"] == pytest.approx(50 * 0.8 / 0.5)  # arpa × margin ÷ monthly churn
    assert q["net_new_mrr"] == 30 - 30 - 50  # new 30 − contraction 30 − churned 50


def test_ltv_is_empty_without_churn_and_rates_empty_without_base():
    ds = dataset_from([("A", "2025-03", "core", 1, 100), ("A", "2025-04", "core", 1, 100),
                       ("B", "2025-04", "core", 1, 10)], accounts=[("A", 5000), ("B", 10)])
    q = kpi(ds, "2025-04")
    assert q["ltv"] is None and q["avg_monthly_churn_rate"] == 0.0
    smb = kpi(ds, "2025-04", by=["size"], segment="SMB")
    assert smb["active_accounts_start"] == 0 and smb["customer_churn_rate"] is None
    assert smb["nrr"] is None and smb["new_accounts"] == 1


def test_fiscal_year_start_changes_the_period():
    subs = [("A", f"{y}-{m:02d}", "core", 1, 100) for y in (2024, 2025, 2026) for m in range(1, 13)]
    subs += [("B", f"2025-{m:02d}", "core", 1, 50) for m in range(1, 5)]  # B churns in 2025-05
    ds = dataset_from(subs)
    apr, jan = kpi(ds, "FY2025", APRIL), kpi(ds, "FY2025", JANUARY)
    # FY2025 from April starts 2025-03 with A and B; from January it starts 2024-12 with A only,
    # so B (new in January) churning in May is |S \ E| only in the April year
    assert apr["churned_accounts"] == 1 and jan["churned_accounts"] == 0
    assert apr["churned_mrr"] == jan["churned_mrr"] == 50
    assert (apr["active_accounts_start"], jan["active_accounts_start"]) == (2, 1)
    assert jan["new_accounts"] == 1 and apr["new_accounts"] == 0
    # lost revenue: churn in May; F=4 → May..March = 11 months; F=1 → May..December = 8 months
    assert (apr["lost_revenue"], jan["lost_revenue"]) == (50 * 11, 50 * 8)


def test_touch_tier_taken_at_start_or_first_active_month():
    # A: 12 licenses at start (high) then 3; N: new in May with 6 licenses (low) then 20
    ds = dataset_from([("A", "2025-03", "core", 12, 120), ("A", "2025-04", "core", 3, 30),
                       ("A", "2025-05", "core", 3, 30), ("A", "2025-06", "core", 3, 30),
                       ("N", "2025-05", "core", 6, 60), ("N", "2025-06", "core", 20, 200)])
    frame = compute_kpis(ds, "FY2025Q1", APRIL, by=["touch_tier"])
    tiers = frame[frame["kpi"] == "mrr_end"].set_index("segment")["value"].to_dict()
    assert tiers == {"all": 230, "high": 30, "low": 200}


def test_account_columns_segment_and_missing_values():
    ds = dataset_from([("A", "2025-03", "core", 1, 100), ("B", "2025-03", "core", 1, 50)],
                      accounts=[("A", 10, "製造", "佐藤"), ("B", 10, "小売", None)])
    with pytest.raises(DataError, match="needs data from 2025-02"):
        compute_kpis(ds, "2025-03", APRIL)
    ds = dataset_from([("A", "2025-03", "core", 1, 100), ("B", "2025-03", "core", 1, 50),
                       ("A", "2025-04", "core", 1, 100)],
                      accounts=[("A", 10, "製造", "佐藤"), ("B", 10, "小売", None)])
    frame = compute_kpis(ds, "2025-04", APRIL, by=["csm_owner", "industry"])
    churned = frame[frame["kpi"] == "churned_accounts"].set_index(["segment_by", "segment"])["value"]
    assert churned.to_dict() == {("all", "all"): 1, ("csm_owner", "(none)"): 1, ("csm_owner", "佐藤"): 0,
                                 ("industry", "小売"): 1, ("industry", "製造"): 0}


def test_output_shape_types_and_names():
    ds = dataset_from([("A", "2025-03", "core", 1, 100), ("A", "2025-04", "core", 1, 100)])
    frame = compute_kpis(ds, "2025-04", APRIL, by=["size"])
    assert list(frame.columns) == ["period", "segment_by", "segment", "kpi", "value"]
    assert frame["kpi"].drop_duplicates().tolist()[:8] == list(KPIS)[:8]
    counts = frame[frame["kpi"].isin([k for k, v in KPIS.items() if v[0] == "count"])]["value"]
    assert all(isinstance(v, int) for v in counts.dropna())
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in frame["value"] if v is not None)


def test_changes_previous_and_year_ago():
    subs = [("A", f"{y}-{m:02d}", "core", 1, 100) for y in (2024, 2025) for m in range(1, 13)]
    subs += [("B", "2024-03", "core", 1, 10), ("C", "2025-01", "core", 1, 10), ("C", "2025-02", "core", 1, 10)]
    ds = dataset_from(subs)
    engine = KpiEngine(ds, APRIL)
    ch = kpi_changes(engine, "2025-04").set_index("kpi")
    # 2025-04: nothing churns; previous month 2025-03 churned C; a year ago 2024-04 churned B
    assert ch.loc["churned_accounts", ["value", "previous", "year_ago"]].tolist() == [0, 1, 1]
    assert ch.loc["churned_accounts", "change_yoy"] == -1 and ch.loc["churned_accounts", "change_yoy_pct"] == -100
    early = kpi_changes(engine, "2024-03").set_index("kpi")  # a year ago is before the data
    assert early.loc["mrr_end", "year_ago"] is None and early.loc["mrr_end", "change_yoy"] is None


def test_monthly_trend_covers_every_month_after_the_opening_one():
    ds = dataset_from([("A", f"2025-{m:02d}", "core", 1, 100 * m) for m in range(1, 7)])
    trend = monthly_trend(KpiEngine(ds, APRIL), kpis=["mrr_end", "expansion_mrr"])
    assert trend["period"].drop_duplicates().tolist() == [f"2025-{m:02d}" for m in range(2, 7)]
    assert trend[trend["kpi"] == "expansion_mrr"]["value"].tolist() == [100.0] * 5
    with pytest.raises(DataError):
        monthly_trend(KpiEngine(ds, APRIL), kpis=["nope"])


def test_settings_from_default_file_are_used():
    assert load_settings().fiscal_year_start_month == APRIL.fiscal_year_start_month
