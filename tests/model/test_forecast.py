"""Committed MRR, the renewal calendar and the forecast (docs/model.md): hand-worked cases and a
forecast that equals the truth on a history without churn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cs_analysis.config import Settings
from cs_analysis.data.dataset import load_dataset
from cs_analysis.model.forecast import (
    committed_mrr,
    forecast_backtest,
    forecast_mrr,
    months_ahead_to_next_quarter,
    renewal_calendar,
)

HEADER = "contract_id,account_id,product,start_date,end_date,mrr,auto_renew,canceled_at\n"
CONTRACTS = (HEADER +
             "K1,A,core,2024-04-01,2025-06-30,100,true,\n"          # ends, no notice: assumed to renew
             "K2,B,core,2024-04-01,2025-07-31,200,false,2025-05-10\n"  # notice known: gone from August
             "K3,C,core,2025-08-01,,50,,\n"                          # signed, starts in August
             "K4,D,core,2024-04-01,2025-08-31,70,,2025-07-15\n"      # notice after the as-of date: unknown then
             "K5,E,core,2024-04-01,2025-06-15,30,,\n"                # ended before the as-of month's end
             "K6,E,core,2025-09-01,,40,,\n")                         # ... and comes back in September


def _ds(tmp_path: Path, contracts: str = CONTRACTS):
    folder = tmp_path / "ds"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "accounts.csv").write_text("account_id,name,csm_owner\nA,a,佐藤\nB,b,\nC,c,\nD,d,\nE,e,\n",
                                         encoding="utf-8")
    (folder / "contracts.csv").write_text(contracts, encoding="utf-8")
    (folder / "dataset.yaml").write_text("as_of: 2025-06-30\n", encoding="utf-8")
    return load_dataset(folder)


def test_committed_mrr_by_month_ahead(tmp_path):
    c = committed_mrr(_ds(tmp_path), Settings(), "2025-06-30", 3)
    t = c.table.set_index("month")
    assert t["current_mrr"].iloc[0] == 370.0  # A 100 + B 200 + D 70 (E ended 06-15)
    assert t.loc["2025-07", "cmrr"] == 370.0
    assert t.loc["2025-08", "cmrr"] == 100 + 50 + 70  # B's notice known: gone; C signed
    assert t.loc["2025-08", "known_cancellations"] == 200.0 and t.loc["2025-08", "signed_new"] == 50.0
    assert t.loc["2025-09", "cmrr"] == 100 + 50 + 70 + 40  # D's notice came after the as-of date: not known
    assert np.allclose(t["current_mrr"] - t["known_cancellations"] + t["signed_new"] + t["other"], t["cmrr"])


def test_forecast_equals_the_truth_without_churn(tmp_path):
    ds = _ds(tmp_path, HEADER + "K1,A,core,2024-04-01,,100,,\nK2,B,core,2024-04-01,,200,,\n"
                                "K3,C,core,2025-08-01,,50,,\n")
    c = committed_mrr(ds, Settings(), "2025-06-30", 3)
    p = pd.Series({"A": 0.0, "B": 0.0})
    f = forecast_mrr(c, p, 3, calibration_error=0.0)
    assert f["base"].tolist() == [300.0, 350.0, 350.0] == f["low"].tolist() == f["high"].tolist()
    later = _ds(tmp_path / "t", HEADER + "K1,A,core,2024-04-01,,100,,\nK2,B,core,2024-04-01,,200,,\n"
                                          "K3,C,core,2025-08-01,,50,,\n")
    truth = later.subscriptions.groupby(later.subscriptions["month"].dt.strftime("%Y-%m"))["mrr"].sum()
    assert truth.get("2025-06") == 300.0


def test_forecast_with_churn_probabilities_and_bands(tmp_path):
    c = committed_mrr(_ds(tmp_path), Settings(), "2025-06-30", 3)
    p = pd.Series({"A": 0.271, "B": 0.0, "D": 0.0})  # A: 10 % a month over a 3-month horizon
    f = forecast_mrr(c, p, 3, calibration_error=0.05).set_index("month")
    assert f.loc["2025-07", "base"] == pytest.approx(0.9 * 100 + 200 + 70, rel=1e-3)
    assert (f["low"] <= f["base"]).all() and (f["base"] <= f["high"]).all()
    with pytest.raises(Exception, match="churn probability for every account"):
        forecast_mrr(c, pd.Series({"A": 0.1}), 3)


def test_renewal_calendar(tmp_path):
    ds = _ds(tmp_path)
    cal = renewal_calendar(ds, Settings(renewal_notice_days=30), "2025-06-30", 3,
                           probability=pd.Series({"B": 0.5, "D": 0.0}), horizon_months=3)
    assert cal["contract_id"].tolist() == ["K2", "K4"]  # K1 ends on the as-of date: not ahead
    b = cal.iloc[0]
    assert b["arr_due"] == 2400.0 and b["days_to_renewal"] == 31
    assert b["notice_deadline"] == pd.Timestamp("2025-07-01") and b["canceled_at"] == pd.Timestamp("2025-05-10")
    assert b["expected_renewal_arr"] < 2400.0
    d = cal.iloc[1]
    assert pd.isna(d["canceled_at"])  # notice dated after the as-of date is not known then
    assert d["expected_renewal_arr"] == 840.0


def test_months_to_the_next_fiscal_quarter():
    assert months_ahead_to_next_quarter(pd.Timestamp("2025-06-30"), 4) == 3
    assert months_ahead_to_next_quarter(pd.Timestamp("2025-07-31"), 4) == 5


def test_forecast_backtest_errors():
    mrr = pd.DataFrame({pd.Period("2025-01", "M"): [100.0, 100.0], pd.Period("2025-02", "M"): [100.0, 0.0]},
                       index=pd.Index(["A", "B"], name="account_id"))
    preds = pd.DataFrame({"account_id": ["A", "B"], "as_of": pd.Timestamp("2025-01-31"), "mrr": 100.0,
                          "p": [0.0, 1.0]})
    out = forecast_backtest(preds, mrr, 1)
    assert out["forecast"].tolist() == [100.0] and out["actual_existing"].tolist() == [100.0]
    assert out["ape_existing"].tolist() == [0.0]
