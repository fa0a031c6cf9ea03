"""Renewals (docs/kpis.md): hand-worked follow-on, auto-renewal, early cancellation and downsell
cases through the loader, and the reconciliation with the MRR ledger on the demo as contracts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cs_analysis.config import Settings
from cs_analysis.core.ledger import mrr_ledger
from cs_analysis.data.dataset import load_dataset
from cs_analysis.kpis import compute_kpis
from cs_analysis.kpis.engine import KpiEngine
from cs_analysis.kpis.renewals import contract_outcomes


def _dataset(tmp_path: Path, contracts: str, as_of: str, extra: str = ""):
    folder = tmp_path / "ds"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "accounts.csv").write_text("account_id\nA\nB\nC\nD\n", encoding="utf-8")
    (folder / "contracts.csv").write_text(contracts, encoding="utf-8")
    (folder / "dataset.yaml").write_text(f"as_of: {as_of}\n{extra}", encoding="utf-8")
    return load_dataset(folder)


HEADER = "account_id,product,start_date,end_date,mrr,auto_renew,canceled_at\n"


def test_follow_on_downsell_churn_and_early_notice(tmp_path):
    ds = _dataset(tmp_path, HEADER +
                  "A,core,2024-04-01,2025-03-31,100,,\n"          # renewed by a follow-on at the same price
                  "A,core,2025-04-01,2026-03-31,100,,\n"
                  "B,core,2024-04-01,2025-03-31,100,,\n"          # downsell at renewal: 60
                  "B,core,2025-04-01,,60,,\n"
                  "C,core,2024-04-01,2025-03-31,100,,2025-01-15\n"  # notice given early, not renewed
                  "D,core,2024-04-01,2025-06-30,50,,\n",          # due in the next quarter
                  as_of="2025-06-30")
    k = compute_kpis(ds, "FY2024Q4", Settings()).set_index("kpi")["value"]
    assert k["renewals_due_contracts"] == 3 and k["renewals_due_accounts"] == 3
    assert k["renewals_due_arr"] == 3600.0
    assert k["renewed_arr"] == 1920.0  # 12 × (100 + 60)
    assert k["gross_renewal_rate"] == k["net_renewal_rate"] == 1920 / 3600 * 100  # no upsell: equal
    assert k["early_cancellations"] == 1
    assert 0 < k["gross_renewal_rate"] <= k["net_renewal_rate"] < 100
    q2 = compute_kpis(ds, "FY2025Q1", Settings()).set_index("kpi")["value"]
    assert q2["renewals_due_contracts"] == 1
    assert q2["gross_renewal_rate"] is None  # D's outcome (July) is not in the data yet
    none = compute_kpis(ds, "FY2024Q3", Settings()).set_index("kpi")["value"]
    assert none["renewals_due_contracts"] == 0 and none["gross_renewal_rate"] is None


def test_upsell_at_renewal_counts_in_net_not_gross(tmp_path):
    ds = _dataset(tmp_path, HEADER + "A,core,2024-04-01,2025-03-31,100,,\nA,core,2025-04-01,,150,,\n"
                  "B,core,2024-04-01,2025-03-31,100,,\nB,core,2025-04-01,,50,,\n", as_of="2025-06-30")
    k = compute_kpis(ds, "2025-03", Settings()).set_index("kpi")["value"]
    assert k["gross_renewal_rate"] == 75.0  # min(150, 100) + 50 over 200
    assert k["net_renewal_rate"] == 100.0  # 150 + 50 over 200
    assert k["gross_renewal_rate"] < k["net_renewal_rate"]


def test_auto_renewal_renews_only_when_the_dataset_says_so(tmp_path):
    contracts = HEADER + "A,core,2024-04-01,2025-03-31,100,true,\nB,core,2024-04-01,2025-03-31,100,true,2025-02-01\n"
    plain = _dataset(tmp_path / "p", contracts, as_of="2025-06-30")
    assert compute_kpis(plain, "2025-03", Settings()).set_index("kpi")["value"]["renewed_arr"] == 0.0
    extends = _dataset(tmp_path / "e", contracts, as_of="2025-06-30", extra="auto_renew_extends: true\n")
    k = compute_kpis(extends, "2025-03", Settings()).set_index("kpi")["value"]
    assert k["renewed_arr"] == 1200.0 and k["gross_renewal_rate"] == 50.0  # B gave notice: not renewed
    assert k["early_cancellations"] == 1


def test_without_contracts_the_renewal_kpis_are_empty(demo_small):
    k = compute_kpis(load_dataset(demo_small), "FY2026Q1", Settings()).set_index("kpi")["value"]
    assert k["renewals_due_arr"] is None and k["gross_renewal_rate"] is None


def test_renewals_reconcile_with_the_ledger_on_the_demo_as_contracts(tmp_path):
    from cs_analysis.data.demo import DemoSpec, write_demo

    write_demo(tmp_path / "c", DemoSpec(accounts=300, months=24, end="2026-09", seed=7), mrr_as="contracts")
    ds = load_dataset(tmp_path / "c")
    engine = KpiEngine(ds, Settings(), with_health=False)
    out = contract_outcomes(ds.contracts, engine.cube, None, "JPY")
    known = out[out["known"] & (out["end_row"] >= 0)]
    renewed = known["renewed_arr"] > 0
    # renewed + not renewed = due
    assert np.isclose(known.loc[renewed, "due_arr"].sum() + known.loc[~renewed, "due_arr"].sum(),
                      known["due_arr"].sum())
    # churned ARR of the non-renewals whose account churned the month after = the ledger's churn there
    ledger = mrr_ledger(engine.cube)
    churn = ledger[ledger["movement"] == "churn"]
    months = pd.PeriodIndex(engine.cube.months)
    key = pd.DataFrame({"account_id": np.asarray(engine.cube.accounts)[known["col"]],
                        "month": months[np.minimum(known["end_row"] + 1, len(months) - 1)].to_timestamp(),
                        "due": known["due_arr"], "renewed": renewed.to_numpy()})
    lost = key[~key["renewed"]].merge(churn[["account_id", "month", "amount"]], on=["account_id", "month"])
    by_account = lost.groupby(["account_id", "month"]).agg(due=("due", "sum"), churn=("amount", "first"))
    assert len(by_account) > 10
    assert np.allclose(by_account["due"], 12 * by_account["churn"])
    tidy = engine.kpis("FY2025Q4")
    k = tidy[tidy["segment_by"] == "all"].set_index("kpi")["value"]
    assert k["renewals_due_contracts"] > 0 and 0 < k["gross_renewal_rate"] <= k["net_renewal_rate"]


def test_downsell_and_upsell_at_renewal_gross_below_net_below_100(tmp_path):
    ds = _dataset(tmp_path, HEADER + "A,core,2024-04-01,2025-03-31,100,,\nA,core,2025-04-01,,150,,\n"
                  "B,core,2024-04-01,2025-03-31,100,,\nB,core,2025-04-01,,20,,\n", as_of="2025-06-30")
    k = compute_kpis(ds, "2025-03", Settings()).set_index("kpi")["value"]
    assert k["gross_renewal_rate"] == 60.0  # min(150, 100) + 20 over 200
    assert k["net_renewal_rate"] == 85.0  # 150 + 20 over 200
    assert k["gross_renewal_rate"] < k["net_renewal_rate"] < 100
