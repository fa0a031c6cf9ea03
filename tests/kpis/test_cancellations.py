"""Churn by cancellation reason (docs/kpis.md): hand-worked attribution and the invariant that
the reasons add up to churned MRR and churned accounts, per period and segment."""

from __future__ import annotations

import pandas as pd

from conftest import dataset_from
from cs_analysis.config import Settings
from cs_analysis.kpis import compute_kpis
from cs_analysis.kpis.engine import KpiEngine


def _values(frame: pd.DataFrame, segment: str = "all") -> dict[str, object]:
    return frame[frame["segment"] == segment].set_index("kpi")["value"].to_dict()


def test_churns_take_the_latest_cancellation_of_the_current_run():
    subs = [("A", "2025-01", "core", 1, 100), ("A", "2025-02", "core", 1, 100),  # A churns in March
            ("B", "2025-01", "core", 1, 50), ("B", "2025-02", "core", 1, 50),   # B churns in March, no record
            ("C", "2025-01", "core", 1, 30),                                      # C churns in Feb (old reason)
            ("C", "2025-02", "core", 0, 0), ("C", "2025-03", "core", 1, 30),      # ... reactivates in March
            ("D", "2025-01", "core", 1, 10), ("D", "2025-02", "core", 1, 10), ("D", "2025-03", "core", 1, 10)]
    cancellations = [("A", "2025-01-20", "価格"), ("A", "2025-02-10", "機能不足"),  # the latest one counts
                     ("C", "2025-01-05", "予算削減"),
                     ("D", "2025-04-15", "価格")]  # after the data: D has not churned
    ds = dataset_from(subs, cancellations=cancellations)
    k = _values(compute_kpis(ds, "2025-03", Settings()))
    assert k["churned_mrr_by_reason:機能不足"] == 100.0 and k["churned_accounts_by_reason:機能不足"] == 1
    assert k["churned_mrr_by_reason:(unknown)"] == 50.0 and k["churned_accounts_by_reason:(unknown)"] == 1
    assert "churned_mrr_by_reason:価格" not in k and "churned_mrr_by_reason:予算削減" not in k
    feb = _values(compute_kpis(ds, "2025-02", Settings()))
    assert feb["churned_mrr_by_reason:予算削減"] == 30.0


def test_reasons_add_up_to_churned_mrr_and_accounts(demo_small):
    from cs_analysis.data.dataset import load_dataset

    ds = load_dataset(demo_small)
    assert ds.cancellations is not None and len(ds.cancellations)
    engine = KpiEngine(ds, Settings())
    periods = [p for p in ("FY2025Q3", "FY2025Q4", "FY2026Q1", "FY2026Q2", "2025-04..2026-09")]
    tidy = engine.kpis_for(periods, ["size", "touch_tier"])
    for (period, by, seg), rows in tidy.groupby(["period", "segment_by", "segment"]):
        v = rows.set_index("kpi")["value"]
        mrr = sum(x for k, x in v.items() if k.startswith("churned_mrr_by_reason:"))
        accounts = sum(x for k, x in v.items() if k.startswith("churned_accounts_by_reason:"))
        assert abs(mrr - v["churned_mrr"]) < 1e-6, (period, by, seg)
        assert accounts == v["churned_accounts"], (period, by, seg)
