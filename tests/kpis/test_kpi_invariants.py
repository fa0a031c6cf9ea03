"""Invariants of the KPI engine over the demo company, for every month and every quarter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cs_analysis import load_dataset, load_settings
from cs_analysis.kpis import KPIS, KpiEngine, monthly_trend

ADDITIVE = [k for k, (unit, *_) in KPIS.items() if unit in ("money", "count") and k not in ("arpa", "ltv", "ltv_survival")]


@pytest.fixture(scope="module")
def engine(demo_default) -> KpiEngine:
    return KpiEngine(load_dataset(demo_default), load_settings())


@pytest.fixture(scope="module")
def monthly(engine) -> pd.DataFrame:
    return monthly_trend(engine, by=["size", "touch_tier", "industry"])


def _wide(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index(["period", "segment_by", "segment", "kpi"])["value"].unstack("kpi").astype(float)


def test_ledger_identity_every_month_and_segment(monthly):
    w = _wide(monthly)
    rhs = (w["mrr_start"] + w["new_mrr"] + w["expansion_mrr"] + w["reactivation_mrr"]
           - w["contraction_mrr"] - w["churned_mrr"])
    np.testing.assert_allclose(w["mrr_end"], rhs, rtol=0, atol=1e-6)
    np.testing.assert_allclose(w["net_new_mrr"], w["mrr_end"] - w["mrr_start"], atol=1e-6)


def test_churned_accounts_is_start_minus_end_set(engine, monthly):
    subs = engine.dataset.subscriptions
    mrr = subs.groupby(["month", "account_id"])["mrr"].sum()
    active = {m.strftime("%Y-%m"): set(g.index.get_level_values(1)[g.to_numpy() > 0])
              for m, g in mrr.groupby(level=0)}
    months = sorted(active)
    totals = _wide(monthly).xs(("all", "all"), level=("segment_by", "segment"))
    for prev, cur in zip(months, months[1:], strict=False):
        s, e = active[prev], active[cur]
        assert totals.loc[cur, "churned_accounts"] == len(s - e)
        assert totals.loc[cur, "active_accounts_start"] == len(s)
        assert totals.loc[cur, "active_accounts_end"] == len(e)


def test_retention_bounds(monthly):
    w = _wide(monthly).dropna(subset=["grr", "nrr"])
    assert len(w) > 100
    assert ((w["grr"] >= 0) & (w["grr"] <= 100)).all()
    assert (w["grr"] <= w["nrr"] + 1e-9).all()
    rates = w[["customer_churn_rate", "license_churn_rate", "upsell_rate", "cross_sell_rate",
               "revenue_churn_rate"]]
    assert (rates.fillna(0) >= 0).all().all()
    assert (w["customer_churn_rate"].fillna(0) <= 100).all()


def test_segments_sum_to_the_total(monthly):
    w = _wide(monthly)
    totals = w.xs(("all", "all"), level=("segment_by", "segment"))[ADDITIVE]
    for seg_by in ("size", "touch_tier", "industry"):
        parts = w.xs(seg_by, level="segment_by")[ADDITIVE].fillna(0).groupby(level="period").sum()
        pd.testing.assert_frame_equal(parts.reindex(totals.index), totals.fillna(0), check_exact=False,
                                      rtol=1e-12, obj=seg_by)


def test_quarters_sum_their_months(engine, monthly):
    quarter = _wide(engine.kpis("FY2025Q1", by=[])).iloc[0]
    months = _wide(monthly).xs(("all", "all"), level=("segment_by", "segment")).loc[["2025-04", "2025-05", "2025-06"]]
    for k in ("new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr",
              "lost_revenue", "nps_responses", "new_accounts"):
        assert quarter[k] == pytest.approx(months[k].sum()), k
    assert quarter["mrr_start"] == months["mrr_start"].iloc[0]
    assert quarter["mrr_end"] == months["mrr_end"].iloc[-1]
    assert quarter["avg_monthly_churn_rate"] == pytest.approx(months["customer_churn_rate"].mean())


def test_group_sums_paths_agree(monkeypatch):
    """Few segments share a one-hot matrix product, many use a bincount: same sums, alone or
    beside other segmentations (static or per period)."""
    import cs_analysis.kpis.engine as kpis

    rng = np.random.default_rng(1)
    x = rng.integers(0, 1000, (3, 4, 500)).astype(float)
    for codes in (rng.integers(0, 7, 500), rng.integers(0, 7, (3, 500))):
        expected = np.zeros((3, 4, 7))
        for p in range(3):
            c = codes if codes.ndim == 1 else codes[p]
            for seg in range(7):
                expected[p, :, seg] = x[p][:, c == seg].sum(axis=1)
        others = [(np.zeros(500, int), 1), (rng.integers(0, 3, (3, 500)), 3)]
        for max_segments in (64, 2):
            monkeypatch.setattr(kpis, "ONE_HOT_MAX", max_segments)
            np.testing.assert_array_equal(kpis._group_sums([x], [(codes, 7)])[0][0], expected)
            sums32, sums = kpis._group_sums([x.astype(np.float32), x], [others[0], (codes, 7), others[1]])
            np.testing.assert_array_equal(sums32[1], expected)
            np.testing.assert_array_equal(sums[1], expected)
            np.testing.assert_array_equal(sums[0][:, :, 0], x.sum(axis=2))
            assert [s.shape for s in sums] == [(3, 4, 1), (3, 4, 7), (3, 4, 3)]
