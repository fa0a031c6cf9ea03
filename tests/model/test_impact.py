"""What CS contact does (cs_analysis.model.impact): the matched estimate recovers a known effect,
finds none where there is none despite confounding, and covers the demo simulator's truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cs_analysis.cli import main
from cs_analysis.config.settings import load_settings
from cs_analysis.data.dataset import load_dataset
from cs_analysis.model.impact import contact_impact

TOUCH_MONTHS = (3, 7, 11)  # 4 months apart: a touch's 3-month window never reaches the next one
BASE = {"high": 0.02, "low": 0.06}  # monthly churn hazard of the high- and low-touch accounts
TOUCHED = {"high": 0.5, "low": 0.15}  # chance of a proactive touch in a touch month (confounding)


def _company(folder: Path, reduction: float, seed: int = 1, n: int = 2000) -> float:
    """``n`` accounts billed monthly from 2025-01 for 15 months, half with 40 seats (touched
    often, churning less), half with 5. In the touch months each is touched proactively by
    chance; for the 3 months after a touch its monthly hazard is cut by ``reduction``. Writes
    the dataset; returns the true effect among the touched: P(churn within 3 months | touch) −
    P(churn within 3 months | no touch), averaged over the touched account-months."""
    rng = np.random.default_rng(seed)
    months = pd.period_range("2025-01", periods=15, freq="M")
    group = np.where(np.arange(n) < n // 2, "high", "low")
    base = np.vectorize(BASE.get)(group)
    active = np.ones(n, bool)
    cut_until = np.full(n, -1)
    subs, touches, truth = [], [], []
    for t, month in enumerate(months):
        idx = np.flatnonzero(active)
        subs.append(pd.DataFrame({"account_id": idx, "month": str(month), "licenses": np.where(group[idx] == "high", 40, 5)}))
        if t in TOUCH_MONTHS:
            hit = idx[rng.random(len(idx)) < np.vectorize(TOUCHED.get)(group[idx])]
            touches.append(pd.DataFrame({"account_id": hit, "date": f"{month}-15"}))
            cut_until[hit] = t + 3
            if t + 3 < len(months):
                h = base[hit]
                truth.append((1 - (1 - h * (1 - reduction)) ** 3) - (1 - (1 - h) ** 3))
        hazard = base[idx] * np.where(cut_until[idx] > t, 1 - reduction, 1.0)  # churn after month t
        active[idx[rng.random(len(idx)) < hazard]] = False
    folder.mkdir(parents=True)
    ids = [f"C{i:05d}" for i in range(n)]
    pd.DataFrame({"account_id": ids, "employees": 100, "signup_date": "2024-12-01"}).to_csv(
        folder / "accounts.csv", index=False)
    s = pd.concat(subs)
    pd.DataFrame({"account_id": np.array(ids)[s["account_id"]], "month": s["month"] + "-01", "product": "core",
                  "licenses": s["licenses"], "mrr": s["licenses"] * 5000}).to_csv(folder / "subscriptions.csv", index=False)
    tp = pd.concat(touches)
    pd.DataFrame({"account_id": np.array(ids)[tp["account_id"]], "date": tp["date"], "channel": "call",
                  "kind": "proactive"}).to_csv(folder / "touchpoints.csv", index=False)
    return float(np.concatenate(truth).mean())


def _estimate(folder: Path, by: str | None = None):
    settings = load_settings()
    return contact_impact(load_dataset(folder, settings), settings, "2026-03-31", 3, by=by)


def test_a_known_effect_is_recovered(tmp_path: Path):
    truth = _company(tmp_path / "effect", reduction=0.8)
    impact = _estimate(tmp_path / "effect")
    e = impact.overall
    assert truth < -0.05  # by construction: about −7 points of churn
    assert e.ci_low <= truth <= e.ci_high, (truth, e)
    assert e.ci_high < 0 and e.pairs > 1000 and e.unmatched < 0.05 * e.touched
    assert impact.months == ("2025-03", "2025-12")  # signals from 2025-02; outcomes known by 2026-03-31 only
    assert impact.balance["smd_after"].abs().max() < 0.1


def test_no_effect_is_found_despite_confounding(tmp_path: Path):
    """The high-touch accounts are touched more and churn less: the raw comparison shows an
    "effect" that matching on the signals removes."""
    truth = _company(tmp_path / "none", reduction=0.0)
    impact = _estimate(tmp_path / "none", by="touch_tier")
    e = impact.overall
    assert truth == 0.0 and e.ci_low <= 0.0 <= e.ci_high, e
    settings = load_settings()
    from cs_analysis.model.impact import _account_months
    rows = _account_months(load_dataset(tmp_path / "none", settings), settings, pd.Timestamp("2026-03-31"), 3)
    raw = rows.loc[rows["touched"], "churned"].mean() - rows.loc[~rows["touched"], "churned"].mean()
    assert raw < -0.01 and raw < e.ci_low  # the naive difference lies outside the matched interval
    assert set(impact.segments) == {"high", "low"}
    assert all(s.ci_low <= 0.0 <= s.ci_high for s in impact.segments.values())


def test_the_demo_interval_covers_the_simulators_truth(demo_small: Path, tmp_path: Path, capsys):
    out = tmp_path / "impact.json"
    assert main(["contact-impact", str(demo_small), "--as-of", "2026-09-30", "--format", "json",
                 "--out", str(out)]) == 0
    found = json.loads(out.read_text(encoding="utf-8"))
    assert {"effect", "ci_low", "ci_high", "pairs", "balance"} <= set(found)
    truth = json.loads((demo_small / "_truth" / "contact_effect.json").read_text(encoding="utf-8"))
    first, last = found["months"]
    months = {m: v for m, v in truth["by_month"].items() if first <= m <= last}
    effect = sum(v["effect"] * v["touched"] for v in months.values()) / sum(v["touched"] for v in months.values())
    assert found["ci_low"] <= effect <= found["ci_high"], (effect, found)
    assert found["ci_low"] <= truth["effect"] <= found["ci_high"]
    assert main(["contact-impact", str(demo_small), "--as-of", "2026-09-30", "--by", "size"]) == 0
    text = capsys.readouterr().out
    assert "size=SMB" in text and "balance" in text and "95% CI" in text


def test_without_the_kind_of_contact_it_says_what_is_needed(demo_small: Path, tmp_path: Path, capsys):
    import shutil
    copy = tmp_path / "no_kind"
    shutil.copytree(demo_small, copy)
    tp = pd.read_csv(copy / "touchpoints.csv", encoding="utf-8-sig")
    tp.drop(columns="kind").to_csv(copy / "touchpoints.csv", index=False)
    assert main(["contact-impact", str(copy), "--as-of", "2026-09-30"]) == 2
    assert "needs the touchpoints table with its kind column" in capsys.readouterr().err


@pytest.mark.parametrize("horizon", [1, 6])
def test_the_truth_is_written_for_the_default_horizon(demo_small: Path, horizon: int):
    from cs_analysis.data.demo.simulator import DemoSpec, simulate

    sim = simulate(DemoSpec(accounts=300, months=24, end="2026-09", seed=7))
    written = json.loads((demo_small / "_truth" / "contact_effect.json").read_text(encoding="utf-8"))
    assert sim.contact_effect(3)["effect"] == pytest.approx(written["effect"])
    other = sim.contact_effect(horizon)
    assert other["horizon_months"] == horizon and other["effect"] < 0  # contact lowers the hazard


def test_the_report_chart_draws(tmp_path: Path):
    import io

    from cs_analysis.report import plots

    table = pd.DataFrame({"label": ["全体", "ハイタッチ", "ロータッチ"], "effect": [-1.1, 0.1, -3.3],
                          "low": [-2.1, -1.1, -5.6], "high": [-0.3, 0.8, -0.8]})
    fig = plots.effect_intervals(table, "能動的な接点による解約率の変化", "効果なし")
    fig.savefig(io.BytesIO(), format="png")
