"""The simulated demo company: contract-valid, deterministic, realistic, with real churn signal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cs_analysis import load_dataset
from cs_analysis.cli import main
from cs_analysis.data.demo import DemoSpec, generate_demo
from cs_analysis.data.schema import TABLES


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path: Path):
    args = ["--accounts", "150", "--months", "12", "--end", "2025-03"]
    for out in ("a", "b"):
        assert main(["demo-data", "--out", str(tmp_path / out), *args, "--seed", "3"]) == 0
    assert main(["demo-data", "--out", str(tmp_path / "c"), *args, "--seed", "4"]) == 0
    a, b, c = (_files(tmp_path / x) for x in "abc")
    assert a == b
    assert a.keys() == c.keys() and a != c
    alternatives = {"contracts", "invoice_lines", "fx_rates"}  # not in the monthly demo
    assert {f"{t.name}.csv" for t in TABLES if t.name not in alternatives} | {"_truth/hazard.csv",
                                                                           "_truth/contact_effect.json"} == set(a)


def test_parquet_output_loads_the_same(tmp_path: Path, demo_small: Path):
    args = ["--accounts", "300", "--months", "24", "--end", "2026-09", "--seed", "7", "--format", "parquet"]
    assert main(["demo-data", "--out", str(tmp_path / "pq"), *args]) == 0
    assert load_dataset(tmp_path / "pq").fingerprint() == load_dataset(demo_small).fingerprint()


def test_demo_meets_the_contract_and_cli_validates_it(demo_small: Path, capsys):
    assert main(["validate", str(demo_small)]) == 0
    assert "11 tables meet the data contract" in capsys.readouterr().out


@pytest.fixture(scope="module")
def company() -> dict[str, pd.DataFrame]:
    return generate_demo(DemoSpec(accounts=4000, months=36, end="2026-10", seed=11))


def _activity(subs: pd.DataFrame) -> pd.DataFrame:
    return subs.groupby(["account_id", "month"])["mrr"].sum().unstack(fill_value=0) > 0


def test_churn_levels_are_realistic(company):
    act = _activity(company["subscriptions"])
    enterprise = company["accounts"].set_index("account_id")["employees"].ge(2000)
    rates = {}
    for label, is_ent in (("Enterprise", True), ("SMB", False)):
        sub = act[act.index.map(enterprise) == is_ent]
        prev = sub.shift(1, axis=1, fill_value=False)
        rates[label] = ((prev & ~sub).sum() / prev.sum()).iloc[1:].mean()
    assert 0.01 <= rates["SMB"] <= 0.03
    assert rates["Enterprise"] < 0.008


def test_hazard_truth_covers_every_active_month_and_predicts_churn(company):
    act = _activity(company["subscriptions"])
    hz = company["hazard"]
    assert hz["hazard"].between(0, 1, inclusive="neither").all()
    assert len(hz) == int(act.to_numpy().sum())
    stacked = act.stack()
    nxt = act.shift(-1, axis=1, fill_value=True).stack()  # last month: outcome unknown
    obs = hz.set_index(["account_id", "month"])["hazard"]
    obs.index = obs.index.set_levels(pd.to_datetime(obs.index.levels[1]).astype(str), level=1)
    churned = (stacked & ~nxt)[stacked]
    churned.index = churned.index.set_levels(churned.index.levels[1].astype(str), level=1)
    joined = pd.concat({"h": obs, "y": churned}, axis=1, join="inner")
    assert len(joined) == len(obs)
    # rank AUC of the true hazard against realised next-month churn: real, imperfect signal
    ranks = joined["h"].rank()
    pos = joined["y"].to_numpy()
    auc = (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())
    assert 0.7 < auc < 0.95
    assert abs(joined["h"].mean() - joined["y"].mean()) < 0.004  # hazard is calibrated


def test_story_elements_are_present(company):
    subs, acc = company["subscriptions"], company["accounts"]
    act = _activity(subs)
    starts = (act & ~act.shift(1, axis=1, fill_value=False)).sum(axis=1)
    assert (starts >= 2).sum() > 5  # reactivations
    assert set(subs["product"]) == {"core", "analytics", "ivr", "crm_link"}
    assert acc["employees"].ge(2000).mean() == pytest.approx(0.15, abs=0.03)
    assert acc["csm_owner"].isna().any() and acc["csm_owner"].notna().mean() > 0.95
    core = subs[subs["product"] == "core"].sort_values(["account_id", "month"])
    seat_change = core.groupby("account_id")["licenses"].diff()
    assert (seat_change > 0).sum() > 100 and (seat_change < 0).sum() > 100
    ob = company["onboarding"]
    learned = set(ob.loc[ob["milestone"] == "operations_learned", "account_id"])
    assert 0.05 < 1 - len(learned) / ob["account_id"].nunique() < 0.4  # some stuck
    tp = company["touchpoints"]
    last = pd.to_datetime(tp.groupby("account_id")["date"].max())
    active_end = act.index[act.iloc[:, -1]]
    gap = (pd.Timestamp("2026-10-31") - last.reindex(active_end)).dt.days
    assert (gap.isna() | (gap > 180)).sum() > 20  # neglected accounts
    assert set(company["tickets"]["severity"]) == {"low", "medium", "high", "critical"}
    assert company["tickets"]["resolved_at"].isna().any()
    assert set(acc["target_health_level"]) == {2, 3, 4}
    assert company["nps_responses"]["score"].between(0, 10).all()
    assert len(company["champion_changes"]) > 50 and len(company["roi"]) > 100


def test_default_end_is_last_full_month():
    today = np.datetime64("today", "M")
    assert DemoSpec().end_month() == today - 1
