"""Health score: hand-worked scoring, Karakuri's caps, targets, leakage, configuration, back-test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import as_known_on, dataset_from
from cs_analysis import ConfigError, load_dataset, load_settings
from cs_analysis.cli import main
from cs_analysis.config.scorecard import Measure
from cs_analysis.config.settings import Settings
from cs_analysis.health.review import backtest, engagement_gaps, transition_matrix
from cs_analysis.health.scorer import HealthScorer
from cs_analysis.kpis.engine import compute_kpis

MONTHS = [f"2025-{m:02d}" for m in range(1, 7)]


def _healthy(champion: str | None = None, target: int = 3):
    """Account A: 10 seats, 9 active users and 10 features every month, two meetings in the last
    90 days, ROI measured, NPS 10, no tickets. B: a weak account (1 of 10 users, no contact)."""
    subs = [(a, m, "core", 10, 50_000) for a in "AB" for m in MONTHS]
    usage = [("A", f"{m}-01", 9, 100, 10) for m in MONTHS] + [("B", f"{m}-01", 1, 5, 2) for m in MONTHS]
    tables = dict(
        usage=usage,
        touchpoints=[("A", "2025-05-01", "meeting", "proactive"), ("A", "2025-06-10", "meeting", "proactive")],
        nps_responses=[("A", "2025-06-01", 10), ("B", "2025-06-02", 3)],
        tickets=[("B", "2025-06-05", "bug", "critical", "2025-06-06")],
        roi=[("A", "2025-03-01", 120.0)],
        champion_changes=[("A", champion)] if champion else [("B", "2020-01-01")],
    )
    return dataset_from(subs, accounts=[("A", 100, "製造", "佐藤", target), ("B", 100, "製造", "鈴木", 2)], **tables)


def test_scores_by_hand():
    ds = _healthy()
    row = HealthScorer(ds, Settings()).at("2025-06-30").set_index("account_id").loc["A"]
    # deployment: utilisation 0.9 → 100 (×70), seat change 0 → 75 (×30) = 92.5
    # engagement: 20 days since contact → 100, 2 meetings → 100; adoption: 10 features → 100 (×60),
    # active users flat → 70 (×40) = 88; ROI measured → 100; other: NPS 10, no tickets → 100
    assert row[["deployment", "engagement", "adoption", "roi", "other"]].tolist() == [92.5, 100, 88, 100, 100]
    assert row["score"] == pytest.approx((30 * 92.5 + 25 * 100 + 25 * 88 + 10 * 100 + 10 * 100) / 100)
    assert (row["level"], row["level_en"], row["level_ja"]) == (4, "Good", "良好")
    assert row["reasons"] == "Adoption: active-user trend +0%; Deployment: seat change over 3 months +0%"


def test_weak_account_flags_and_reasons():
    weak = HealthScorer(_healthy(), Settings()).at("2025-06-30").set_index("account_id").loc["B"]
    assert weak["level"] == 1 and weak["level_ja"] == "要対応"
    assert weak["flag_low_utilisation"] and weak["flag_detractor"] and weak["flag_severe_ticket"]
    assert weak["flag_no_contact"]  # never contacted: counted from signup (2020-01-01)
    assert weak["reasons"].startswith("Deployment: license utilisation 10%")
    assert "導入: ライセンス利用率 10%" in weak["reasons_ja"]


@pytest.mark.parametrize("change,days,capped", [("2025-06-01", 180, True), ("2024-12-01", 180, False),
                                                ("2024-12-01", 365, True)])
def test_champion_change_caps_level_at_two(change, days, capped):
    # 2025-06-30 − 2025-06-01 = 29 days; − 2024-12-01 = 211 days
    card = load_settings().health
    settings = Settings(health=type(card)(**{**card.__dict__, "champion_cap_days": days}))
    row = HealthScorer(_healthy(champion=change), settings).at("2025-06-30").set_index("account_id").loc["A"]
    assert row["level"] == (2 if capped else 4)
    assert row["capped_by_champion_change"] == capped and row["flag_champion_change"] == capped


def test_target_achievement_by_hand():
    # A is level 4: meets target 4; B is level 1: misses target 2 → 1 of 2 = 50 %
    ds = _healthy(target=4)
    frame = HealthScorer(ds, Settings()).at("2025-06-30").set_index("account_id")
    assert frame["target_level"].to_dict() == {"A": 4, "B": 2}
    assert frame["meets_target"].to_dict() == {"A": True, "B": False}
    kpis = compute_kpis(ds, "2025-06", Settings()).set_index("kpi")["value"]
    assert kpis["target_achievement_rate"] == 50.0
    assert (kpis["health_level_4_accounts"], kpis["health_level_1_accounts"]) == (1, 1)
    assert kpis["caution_or_action_accounts_end"] == 1


def test_onboarding_cap_and_rules():
    # C started in May: not onboarded by 2025-06-30 under the usage rule (needs 3 steady months)
    subs = [("C", m, "core", 10, 50_000) for m in ("2025-05", "2025-06")] + [("Z", m, "core", 1, 1) for m in MONTHS]
    usage = [("C", "2025-05-01", 9, 1, 10), ("C", "2025-06-01", 9, 1, 10)]
    ds = dataset_from(subs, usage=usage, touchpoints=[("C", "2025-06-20", "meeting", "proactive")],
                      onboarding=[("C", "training_started", "2025-05-10"), ("C", "operations_learned", "2025-06-25")])
    card = load_settings().health
    by_usage = Settings(health=type(card)(**{**card.__dict__, "onboarding": type(card.onboarding)(rule="steady_usage")}))
    row = HealthScorer(ds, by_usage).at("2025-06-30").set_index("account_id").loc["C"]
    assert row["level"] <= card.onboarding_cap_level and row["capped_by_onboarding"]
    row = HealthScorer(ds, Settings()).at("2025-06-30").set_index("account_id").loc["C"]  # milestones done
    assert not row["capped_by_onboarding"]
    before = HealthScorer(ds, Settings()).at("2025-06-24").set_index("account_id").loc["C"]
    assert before["capped_by_onboarding"]  # operations_learned is dated 06-25


def test_measure_points_and_missing_values():
    m = Measure("utilisation", 1, (0.3, 0.5), (0, 50, 100))
    np.testing.assert_array_equal(m.score(np.array([0.1, 0.3, 0.49, 0.5, 2.0, np.nan])),
                                  [0, 50, 50, 100, 100, np.nan])


def test_missing_tables_switch_measures_off_and_reweight():
    ds = dataset_from([("A", m, "core", 10, 100) for m in MONTHS])  # subscriptions only
    scorer = HealthScorer(ds, Settings())
    assert "utilisation" in scorer.notes[0] and "seat_trend" not in scorer.notes[0]
    row = scorer.at("2025-06-30").iloc[0]
    assert row["deployment"] == 75 and np.isnan(row["engagement"])  # only seat change is left
    assert row["score"] == 75


def test_no_future_data_changes_health(demo_small: Path):
    as_of = pd.Timestamp("2025-12-31")
    ds = load_dataset(demo_small)
    before = HealthScorer(ds, Settings()).at(as_of)
    future = {}
    for name, frame in ds.tables().items():
        later = frame.copy()
        for col in later.columns:
            if str(later[col].dtype).startswith("datetime"):
                later[col] = later[col] + pd.DateOffset(years=1)
        dated = [c for c in later.columns if str(later[c].dtype).startswith("datetime")]
        if name == "accounts":
            later["account_id"] = later["account_id"] + "-new"
        elif dated:
            keep = (later[dated[0]] > as_of) & (frame[dated[0]] <= as_of)
            later = later[keep]
            if "score" in later:
                later["score"] = 0
            if "active_users" in later:
                later["active_users"] = 0
        future[name] = pd.concat([frame, later], ignore_index=True)
    future["subscriptions"] = future["subscriptions"].drop_duplicates(["account_id", "month", "product"], keep="first")
    future["usage"] = future["usage"].drop_duplicates(["account_id", "month"], keep="first")
    future["onboarding"] = future["onboarding"].drop_duplicates(["account_id", "milestone"], keep="first")
    future["success_plans"] = future["success_plans"].drop_duplicates(["account_id", "objective"], keep="first")
    grown = type(ds)(**future)
    assert len(grown.touchpoints) > len(ds.touchpoints)
    after = HealthScorer(grown, Settings()).at(as_of)
    pd.testing.assert_frame_equal(before, after)


@pytest.mark.parametrize(
    "yaml,message",
    [
        ("health: {dimensions: {deployment: {measures: {colour: {bins: [1], points: [0, 1]}}}}}", "unknown measure 'colour'"),
        ("health: {dimensions: {deployment: {measures: {utilisation: {bins: [1, 2], points: [0, 1]}}}}}",
         "needs one more point than bins"),
        ("health: {dimensions: {deployment: {measures: {utilisation: {bins: [2, 1], points: [0, 1, 2]}}}}}",
         "bins must increase"),
        ("health: {levels: {good: 50, healthy: 60, caution: 10}}", "need caution < healthy < good"),
        ("health: {dimensions: {happiness: {measures: {}}}}", "unknown dimension"),
        ("health: {champion_change: {cap_level: 7}}", "must be a level 1-4"),
        ("health: {onboarding: {rule: vibes}}", "onboarding.rule must be one of"),
    ],
)
def test_bad_scorecard_is_a_clear_error(tmp_path, yaml, message):
    f = tmp_path / "s.yaml"
    f.write_text(yaml + "\n")
    with pytest.raises(ConfigError, match="health") as err:
        load_settings(f)
    assert message in str(err.value) and str(f) in str(err.value)


def test_scorecard_override_merges_one_value(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("health: {champion_change: {days: 90}}\n")
    card = load_settings(f).health
    assert card.champion_cap_days == 90 and card.champion_cap_level == 2 and len(card.dimensions) == 5


def test_backtest_on_the_demo_company(demo_default: Path):
    scorer = HealthScorer(load_dataset(demo_default), load_settings())
    bt = backtest(scorer, horizon_months=3)
    assert bt.monotonic, bt.by_level
    assert bt.auc > 0.7, bt.auc
    assert all(v > 0.5 for v in bt.auc_by_dimension.values())
    table = transition_matrix(scorer, "2025-09-30", "2026-09-30")
    assert table.to_numpy().sum() == len(scorer.at("2025-09-30", reasons=False))
    gaps = engagement_gaps(scorer, "2026-09-30")
    assert (gaps["days_since_contact"] > 180).all() and gaps["arr"].is_monotonic_decreasing


def test_health_cli(demo_small: Path, tmp_path: Path, capsys):
    out = tmp_path / "h.csv"
    assert main(["health", str(demo_small), "--as-of", "2026-06-30", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "4 良好 Good" in text and "1 要対応 Action required" in text
    frame = pd.read_csv(out)
    assert {"account_id", "score", "level", "level_ja", "meets_target", "reasons"} <= set(frame.columns)
    assert frame["level"].between(1, 4).all()


def test_health_equals_health_on_data_known_then(demo_small: Path):
    ds = load_dataset(demo_small)
    for day in (pd.Timestamp("2025-06-30"), pd.Timestamp("2025-11-15")):
        full = HealthScorer(ds, Settings()).at(day)
        then = HealthScorer(as_known_on(ds, day), Settings()).at(day)
        pd.testing.assert_frame_equal(full, then)


def test_moved_by_names_the_measure_that_crossed_a_band():
    """A's seats go from 10 to 20 in August 2025 while 8 users stay active: utilisation falls
    from 80 % (band 70–85 %: 85 points) to 40 % (band 30–50 %: 30 points); nothing else changes
    band (the 3-month seat change is 0 again by December). With only subscriptions and usage,
    the score is (30 × deployment + 25 × adoption) / 55 and utilisation is 70 % of deployment,
    so the score falls by (85 − 30) × 30/55 × 0.7 = 21 points, all of it utilisation's."""
    months = [f"2025-{m:02d}" for m in range(1, 13)]
    subs = [("A", m, "core", 10 if m < "2025-08" else 20, 50_000) for m in months]
    usage = [("A", f"{m}-01", 8, 100, 5) for m in months]
    scorer = HealthScorer(dataset_from(subs, usage=usage), Settings())
    moved = scorer.moved_by("2025-06-30", "2025-12-31").set_index("account_id").loc["A"]
    now = scorer.at("2025-12-31").set_index("account_id").loc["A"]
    assert now["score"] - moved["score_since"] == pytest.approx(-(85 - 30) * 30 / 55 * 0.7)
    assert moved["moved_by_ja"] == "ライセンス利用率 80%→40% (−21点)"
    assert moved["moved_by"] == "license utilisation 80%→40% (−21 pts)"
    contributions, _ = scorer.contributions("2025-12-31")
    assert contributions.loc["A"].sum() == pytest.approx(now["score"])  # the parts add up to the score
    same = scorer.moved_by("2025-11-30", "2025-12-31").set_index("account_id").loc["A"]
    assert same["moved_by"] == ""  # no band crossed: nothing moved it


def test_health_since_on_the_command_line(demo_small: Path, tmp_path: Path, capsys):
    out = tmp_path / "h.csv"
    assert main(["health", str(demo_small), "--as-of", "2026-09-30", "--since", "2026-06-30", "--out", str(out)]) == 0
    assert "accounts dropped a level" in capsys.readouterr().out
    frame = pd.read_csv(out, encoding="utf-8-sig")
    assert {"score_since", "level_since", "moved_by", "moved_by_ja"} <= set(frame.columns)
    dropped = frame[(frame["level"] < frame["level_since"]).fillna(False)]
    as_text = pd.read_csv(out, encoding="utf-8-sig", dtype=str)["level_since"].dropna()
    assert as_text.isin(["1", "2", "3", "4"]).all()  # levels, not "3.0" in the CSV
    assert len(dropped) and dropped["moved_by_ja"].str.contains("点").all()
    assert main(["health", str(demo_small), "--as-of", "2026-06-30", "--since", "2026-09-30"]) == 2
    assert main(["health", str(demo_small), "--as-of", "2026-06-30", "--since", "2020-01-31"]) == 2
    assert "the --since date 2020-01-31 is outside the data" in capsys.readouterr().err
