"""Churn model: point-in-time features and labels, time folds, metrics, persistence, scoring,
single tables, the CLI, and the quality bar on the demo company."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import as_known_on, dataset_from
from cs_analysis import load_dataset
from cs_analysis.cli import main
from cs_analysis.config.settings import Settings
from cs_analysis.errors import DataError
from cs_analysis.model.artefact import ChurnModel, ModelMeta, risk_tiers
from cs_analysis.model.features import LABEL, FeatureBuilder
from cs_analysis.model.persistence import ModelError, load_metadata, load_model, metadata_path, save_model
from cs_analysis.model.pipelines import capture, expected_calibration_error, metrics, time_folds
from cs_analysis.model.table import parse_label, train_table
from cs_analysis.model.training import at_risk_accounts, read_truth, train_model, training_rows


def test_features_use_only_data_known_then(demo_small: Path):
    ds = load_dataset(demo_small)
    for day in (pd.Timestamp("2025-06-30"), pd.Timestamp("2025-12-31")):
        full = FeatureBuilder(ds, Settings()).at(day).drop(columns=LABEL)
        then = FeatureBuilder(as_known_on(ds, day), Settings()).at(day).drop(columns=LABEL)
        pd.testing.assert_frame_equal(full, then)


def test_rows_of_many_dates_are_each_dates_rows_stacked_and_match_the_health_score(demo_small: Path):
    """The rows of several dates, joined once, are each date's rows one after the other, and the
    health features are the health score's own numbers for those accounts."""
    ds = load_dataset(demo_small)
    fb = FeatureBuilder(ds, Settings())
    days = [pd.Timestamp("2025-06-30"), pd.Timestamp("2025-07-31"), pd.Timestamp("2025-12-31")]
    many = fb.build(days)
    pd.testing.assert_frame_equal(many, pd.concat([fb.at(d) for d in days], ignore_index=True), check_exact=True)
    health = fb.scorer.at(days[-1], reasons=False).set_index("account_id")
    last = many[many["as_of"] == days[-1]].set_index("account_id")
    assert list(last.index) == list(health.index)
    np.testing.assert_array_equal(last["health_score"], health["score"])
    np.testing.assert_array_equal(last["health_level"], health["level"].astype(float))
    for flag in [c for c in health.columns if c.startswith("flag_")]:
        np.testing.assert_array_equal(last[f"health_{flag}"], health[flag].astype(float))
    assert set(last["band_utilisation"]) <= {"missing", *(f"b{k}" for k in range(10))}


def test_labels_by_hand_and_incomplete_windows_are_empty():
    # A churns in 2025-05 (last bill April); B stays; data ends 2025-08
    subs = [("A", f"2025-{m:02d}", "core", 5, 100) for m in range(1, 5)]
    subs += [("B", f"2025-{m:02d}", "core", 5, 100) for m in range(1, 9)]
    fb = FeatureBuilder(dataset_from(subs), Settings(), horizon_months=3)
    labels = {d: fb.at(d).set_index("account_id")[LABEL].to_dict() for d in ("2025-01-31", "2025-02-28", "2025-05-31", "2025-06-30")}
    assert labels["2025-01-31"] == {"A": 0.0, "B": 0.0}  # churn in May is 4 months after January
    assert labels["2025-02-28"] == {"A": 1.0, "B": 0.0}  # Mar..May contains the churn month
    assert labels["2025-05-31"] == {"B": 0.0}  # Jun..Aug all in the data
    assert np.isnan(labels["2025-06-30"]["B"])  # Jul..Sep: September is not in the data yet


def test_training_rows_never_include_incomplete_labels(demo_small: Path):
    rows = training_rows(load_dataset(demo_small), Settings(), pd.Timestamp("2026-03-31"), 3)
    assert rows[LABEL].notna().all()
    assert rows["as_of"].max() == pd.Timestamp("2025-12-31")  # + 3 months = March, the as-of month


def test_time_folds_keep_a_gap_of_h_months():
    dates = pd.Series(pd.date_range("2024-01-31", periods=30, freq="ME").repeat(5))
    for cutoff, train, test in time_folds(dates, 3, n_folds=3):
        assert dates[train].max() <= cutoff - pd.DateOffset(months=3)
        assert dates[test].min() >= cutoff
        assert not (train & test).any()


def test_metrics_by_hand():
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1] * 10)
    risk = np.where(y == 1, 0.9, 0.1)
    risk[9] = 0.05  # one churner ranked last
    assert capture(y, risk, top=0.10) == pytest.approx(10 / 20)  # the riskiest 10 rows hold 10 of 20
    p = np.full(100, 0.2)
    brier = metrics(np.r_[np.ones(20), np.zeros(80)], p)["brier"]
    assert brier == pytest.approx((20 * 0.8 ** 2 + 80 * 0.2 ** 2) / 100)  # mean squared error: 0.16
    assert expected_calibration_error(np.r_[np.ones(20), np.zeros(80)], p) == pytest.approx(
        sum(0.1 * abs(0.2 - r) for r in [1, 1] + [0] * 8))


def test_roc_auc_by_hand_and_as_scikit_learn_computes_it():
    from sklearn.metrics import roc_auc_score

    from cs_analysis.core.ranking import roc_auc

    # 2 churners × 3 others: 0.9 beats all 3, 0.5 beats 0.2 and ties 0.5, loses to 0.7 -> 4.5 / 6
    assert roc_auc(np.array([1, 0, 1, 0, 0]), np.array([0.9, 0.2, 0.5, 0.5, 0.7])) == pytest.approx(4.5 / 6)
    assert np.isnan(roc_auc(np.zeros(4, bool), np.arange(4.0)))
    rng = np.random.default_rng(3)
    for n in (7, 500, 20_000):
        y = rng.random(n) < 0.2
        y[:2] = [True, False]
        s = np.round(rng.random(n) + 0.3 * y, 1)  # many ties
        assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_average_precision_by_hand_and_as_scikit_learn_computes_it():
    from sklearn.metrics import average_precision_score

    from cs_analysis.core.ranking import average_precision

    # ranked 0.9 (churner), 0.8, 0.3 (churner), 0.1: recall 1/2 at precision 1, then 1/2 at 2/3
    assert average_precision(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.8, 0.3])) == pytest.approx(5 / 6)
    # a tie enters as one threshold: 0.5 holds a churner and another row, precision 1/2 for all recall
    assert average_precision(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert np.isnan(average_precision(np.zeros(3, bool), np.arange(3.0)))
    rng = np.random.default_rng(4)
    for n in (5, 500, 20_000):
        y = rng.random(n) < 0.15
        y[:2] = [True, False]
        s = np.round(rng.random(n) + 0.4 * y, 1)  # many ties
        assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_risk_tiers_by_rank():
    tiers = risk_tiers(np.linspace(0, 1, 100), Settings())
    assert (tiers[90:] == "high").all() and (tiers[70:90] == "medium").all() and (tiers[:70] == "low").all()
    tiers = risk_tiers(np.linspace(0, 1, 100), Settings(risk_high_share=0.05, risk_medium_share=0.5))  # settings
    assert (tiers[95:] == "high").all() and (tiers[50:95] == "medium").all() and (tiers[:50] == "low").all()


@pytest.fixture(scope="module")
def trained(demo_default: Path):
    ds = load_dataset(demo_default)
    return ds, train_model(ds, Settings(), "2026-09-30", 3, truth=read_truth(demo_default, 3))


def test_backtest_meets_the_bar_on_the_demo_company(trained):
    _, t = trained
    overall = t.backtest.overall.set_index("model")
    chosen = overall.loc[t.backtest.chosen]
    assert chosen["roc_auc"] >= overall.loc["oracle", "roc_auc"] - 0.02, overall
    assert chosen["roc_auc"] > overall.loc["baseline:health_score", "roc_auc"]
    assert chosen["ece"] <= 0.03
    assert set(t.backtest.folds["cutoff"]) == set(t.backtest.cutoffs) and len(t.backtest.cutoffs) == 3


def test_the_model_is_calibrated_on_its_out_of_time_backtest_scores(trained):
    """No fit is spent on calibration: the chosen pipeline fitted once on every row, its
    probability a sigmoid of its decision values fitted on its backtest (out-of-time) scores."""
    from scipy.special import expit

    from cs_analysis.model.calibration import sigmoid_fit

    ds, t = trained
    bt, est = t.backtest, t.model.estimator
    slope, intercept = sigmoid_fit(bt.predictions[f"{bt.chosen}_score"], bt.predictions["churned"])
    assert (est.slope, est.intercept) == (slope, intercept)
    assert est.estimator is t.model.explainer and len(est.estimator[0].feature_names_in_) == len(t.model.meta.features)
    rows = training_rows(ds, Settings(), "2026-09-30", 3).head(500)
    x = rows[t.model.meta.features]
    np.testing.assert_allclose(est.predict_proba(x)[:, 1], expit(slope * est.estimator.decision_function(x) + intercept))
    assert all("left the comparison" in n or "was not compared" in n for n in bt.left)


def test_save_load_round_trip_and_refusals(trained, tmp_path: Path):
    ds, t = trained
    path = tmp_path / "model.skops"
    save_model(t.model, path)
    back = load_model(path)
    a = at_risk_accounts(t.model, ds, Settings(), "2026-09-30")
    b = at_risk_accounts(back, ds, Settings(), "2026-09-30")
    pd.testing.assert_frame_equal(a, b)
    assert back.meta.horizon_months == 3 and back.meta.data_fingerprint == ds.fingerprint()
    assert {"scikit-learn", "skops", "numpy", "pandas"} <= set(back.meta.versions)
    assert load_metadata(path) == back.meta  # the metadata alone, without loading the model

    tampered = tmp_path / "tampered.skops"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    metadata_path(tampered).write_text(metadata_path(path).read_text())
    with pytest.raises(ModelError, match="tampered or corrupted"):
        load_model(tampered)
    lonely = tmp_path / "lonely.skops"
    lonely.write_bytes(path.read_bytes())
    with pytest.raises(ModelError, match="metadata .* is missing"):
        load_model(lonely)
    meta_bad = json.loads(metadata_path(path).read_text())
    meta_bad["versions"]["scikit-learn"] = "0.1.0"
    metadata_path(path).write_text(json.dumps(meta_bad))
    with pytest.raises(ModelError, match="retrain"):
        load_model(path)


def test_scoring_transforms_each_chunk_once_with_the_same_numbers(trained, tmp_path: Path, monkeypatch):
    """The chosen logistic model is its own explainer: one transform per chunk gives the
    probabilities of predict_proba exactly and the drivers of explain; chunks change nothing,
    and a saved model scores the same way."""
    import cs_analysis.model.artefact as artefact

    ds, t = trained
    model = t.model
    rows = training_rows(ds, Settings(), "2026-09-30", 3).head(3000)
    assert model.meta.model == "logistic" and model._calibration() is not None
    out = model.predict(rows, Settings())
    np.testing.assert_array_equal(out["churn_probability"].to_numpy(),
                                  model.estimator.predict_proba(rows[model.meta.features])[:, 1])
    en, ja, code = model.explain(rows)
    assert out["top_drivers"].tolist() == list(en) and out["top_drivers_ja"].tolist() == list(ja)
    assert out["top_driver"].tolist() == list(code)
    monkeypatch.setattr(artefact, "SCORE_CHUNK", 7)
    pd.testing.assert_frame_equal(model.predict(rows, Settings()), out)
    assert model.predict(rows.head(0), Settings()).empty
    save_model(model, tmp_path / "m.skops")
    back = load_model(tmp_path / "m.skops")
    assert back._calibration() is not None  # skops keeps the shared pipeline one object
    pd.testing.assert_frame_equal(back.predict(rows, Settings()), out)


class Sneaky:
    """Not on the allow-list."""


def _table_meta(**kw) -> ModelMeta:
    return ModelMeta(kind="table", model="logistic", numeric_features=("utilisation",), categorical_features=("plan",),
                     rows=1, churn_rate=0.5, label="churned", **kw)


def test_untrusted_types_are_refused(tmp_path: Path):
    path = tmp_path / "m.skops"
    save_model(ChurnModel(Sneaky(), None, np.zeros(1), _table_meta()), path)
    with pytest.raises(ModelError, match="untrusted type.*Sneaky"):
        load_model(path)


def test_at_risk_list(trained):
    ds, t = trained
    risk = at_risk_accounts(t.model, ds, Settings(), "2026-09-30", capacity=3)
    assert risk["account_id"].is_unique and risk["churn_probability"].between(0, 1).all()
    assert risk["arr_at_risk"].is_monotonic_decreasing
    np.testing.assert_allclose(risk["arr_at_risk"], risk["arr"] * risk["churn_probability"])
    plays = Settings().playbook.plays.values()
    assert set(risk["next_action"]) <= {p.action[0] for p in plays}  # from the playbook, by top driver
    assert len(set(risk["next_action"])) > 1 and risk["action_owner_ja"].notna().all()
    assert (risk.groupby(risk["csm_owner"].fillna("-"))["assigned"].sum() <= 3).all()
    top = risk.iloc[0]["top_drivers"]
    assert 1 <= len(top.split("; ")) <= 3 and ":" in top


def test_labels_from_tables():
    assert parse_label(pd.Series(["yes", "No", "TRUE", "0", "1", "はい"]), "x").tolist() == [1, 0, 1, 0, 1, 1]
    with pytest.raises(DataError, match="not yes/no.*'maybe'"):
        parse_label(pd.Series(["yes", "maybe", "no"]), "x")
    with pytest.raises(DataError, match=r"empty cell\(s\) \(rows 3\)"):
        parse_label(pd.Series(["yes", None, "no"]), "x")


def _crm_table(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    util = rng.random(n)
    plan = rng.choice(["basic", "pro", "enterprise"], n)
    p = 1 / (1 + np.exp(-(-2.5 + 2.5 * (util < 0.3) + 0.7 * (plan == "basic"))))
    churned = rng.random(n) < p
    return pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(n)],
        "plan": plan,
        "mrr": [f"¥{v:,}" for v in rng.integers(5_000, 200_000, n)],
        "utilisation": util,
        "email": [f"user{i}@example.jp" for i in range(n)],
        "churned": np.where(churned, "yes", "no"),
        "cancel_reason": np.where(churned, "price", ""),
    })


def test_single_table_training_and_leakage_warning():
    tm = train_table(_crm_table(), "churned", "customer_id")
    assert "customer_id" not in tm.model.meta.features
    assert "mrr" in tm.model.meta.numeric_features and "plan" in tm.model.meta.categorical_features
    assert any("'email': free text" in n for n in tm.notes)
    assert any("'cancel_reason' predicts the label almost perfectly" in n for n in tm.notes)
    clean = train_table(_crm_table().drop(columns="cancel_reason"), "churned", "customer_id")
    assert 0.7 < clean.cv.set_index("model").loc[clean.model.meta.model, "roc_auc"] < 0.95
    assert not any("leakage" in n for n in clean.notes)


def test_table_cli_round_trip(tmp_path: Path, capsys):
    table = tmp_path / "crm.csv"
    crm = _crm_table().drop(columns="cancel_reason")
    crm["mrr"] = crm["mrr"].str.replace("¥", "￥")  # Excel's CP932 has the full-width yen sign
    crm.to_csv(table, index=False, encoding="cp932")
    model = tmp_path / "crm.skops"
    assert main(["train", "--table", str(table), "--label", "churned", "--id", "customer_id",
                 "--model-out", str(model)]) == 0
    assert "stratified 5-fold" in capsys.readouterr().out
    out = tmp_path / "scores.csv"
    assert main(["score", "--table", str(table), "--model", str(model), "--out", str(out)]) == 0
    scores = pd.read_csv(out)
    assert list(scores.columns[:4]) == ["customer_id", "churn_probability", "risk_tier", "top_drivers"]
    assert len(scores) == 1500 and scores["churn_probability"].between(0, 1).all()


def test_dataset_cli_round_trip(demo_small: Path, tmp_path: Path, capsys):
    model = tmp_path / "m.skops"
    assert main(["train", str(demo_small), "--as-of", "2026-09-30", "--model-out", str(model)]) == 0
    text = capsys.readouterr().out
    assert "time-ordered backtest" in text and "oracle" in text and "baseline:health_score" in text
    out = tmp_path / "risk.csv"
    assert main(["score", str(demo_small), "--model", str(model), "--as-of", "2026-09-30", "--out", str(out)]) == 0
    risk = pd.read_csv(out)
    assert risk["account_id"].is_unique and risk["churn_probability"].between(0, 1).all()
    assert main(["score", str(demo_small), "--table", "x.csv", "--model", str(model), "--out", str(out)]) == 2
    assert "not both" in capsys.readouterr().err


def test_gradient_boosting_model_round_trips(tmp_path: Path):
    from cs_analysis.model.calibration import SigmoidCalibrated
    from cs_analysis.model.pipelines import make_pipeline

    frame = _crm_table(600)
    x = frame[["plan", "utilisation"]]
    y = frame["churned"].eq("yes").to_numpy()
    pipe = make_pipeline("gradient_boosting", ["utilisation"], ["plan"]).fit(x, y)
    model = SigmoidCalibrated.from_scores(pipe, pipe.decision_function(x), y)
    path = tmp_path / "hgb.skops"
    save_model(ChurnModel(model, None, np.zeros(1), _table_meta()), path)
    back = load_model(path)
    np.testing.assert_array_equal(back.estimator.predict_proba(x), model.predict_proba(x))


def test_auc_difference_z_by_hand():
    """Churners 0.9, 0.8 / others 0.3, 0.1 (AUC 1) against 0.9, 0.2 / 0.3, 0.1 (AUC 3/4).
    Per churner, the share of others below it: [1, 1] and [1, 1/2]; per other row, the share of
    churners above it: [1, 1] and [1/2, 1]. Var = (0 + 1/8 - 0)/2 + (0 + 1/8 - 0)/2 = 1/8, so
    z = (1 - 3/4) / sqrt(1/8) = 0.7071."""
    from cs_analysis.model.pipelines import auc_difference_z

    y = np.array([1, 1, 0, 0])
    a, b = np.array([0.9, 0.8, 0.3, 0.1]), np.array([0.9, 0.2, 0.3, 0.1])
    assert auc_difference_z(y, a, b) == pytest.approx(0.25 / np.sqrt(1 / 8))
    assert auc_difference_z(y, b, a) == pytest.approx(-0.25 / np.sqrt(1 / 8))
    assert auc_difference_z(y, a, a) == 0.0


def test_race_drops_a_clearly_worse_candidate_and_is_deterministic(monkeypatch):
    """A candidate far behind after the first fold is not fitted on later folds (nor on every
    row); the results are the same on one thread and on two; each fold's fit sees only its
    training rows; the final model is fitted once, on every row."""
    from sklearn.model_selection import StratifiedKFold

    import cs_analysis.model.pipelines as pipelines

    frame = _crm_table(3000)
    x = frame[["plan", "utilisation"]]
    y = frame["churned"].eq("yes").to_numpy()
    folds = list(StratifiedKFold(n_splits=4, shuffle=True, random_state=0).split(x, y))
    real, fitted = pipelines.make_pipeline, []

    def make(kind, numeric, categorical, seed=0):
        pipe = real(kind, numeric, categorical, seed)
        if kind == "gradient_boosting":  # crippled: one shallow tree on the plan alone
            pipe.set_params(model__max_iter=1, model__max_leaf_nodes=2, prep__num="drop", model__categorical_features=[0])
        prep = pipe.steps[0][1]  # every fit starts by fitting the preprocessing on its rows
        fit = prep.fit_transform

        def spy(xs, ys=None, **kw):  # rows by their (distinct) utilisation: fold fits take a matrix, by position
            rows = xs[:, numeric[0]] if isinstance(xs, np.ndarray) else xs[numeric[0]].to_numpy()
            fitted.append((kind, len(xs), frozenset(rows)))
            return fit(xs, ys, **kw)
        prep.fit_transform = spy
        return pipe

    monkeypatch.setattr(pipelines, "make_pipeline", make)
    one = pipelines.race(x, y, folds, ["utilisation"], ["plan"], threads=1)
    fits_one = sorted((k, n) for k, n, _ in fitted)
    fitted.clear()
    two = pipelines.race(x, y, folds, ["utilisation"], ["plan"], threads=2)
    assert one.chosen == two.chosen == "logistic"
    assert set(one.left) == {"gradient_boosting"} and "standard errors behind" in one.left["gradient_boosting"]
    assert one.scores["gradient_boosting"][1:] == [None] * 3 and one.scores["gradient_boosting"][0] is not None
    for a, b in zip(one.scores["logistic"], two.scores["logistic"], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(one.explainer_means, two.explainer_means)
    # the typical account is the mean of the explainer's own transform of every row
    from cs_analysis.model.drivers import transformed_means
    np.testing.assert_array_equal(one.explainer_means, transformed_means(one.full["logistic"], x, x.columns))
    assert sorted((k, n) for k, n, _ in fitted) == fits_one
    assert [k for k, n, _ in fitted].count("gradient_boosting") == 1  # fold 1 only
    assert sum(1 for k, n, _ in fitted if n == len(x)) == 1  # the logistic pipeline on every row
    train_sets = [frozenset(x["utilisation"].to_numpy()[train]) for train, _ in folds]
    assert all(rows in train_sets or len(rows) == len(x) for _, _, rows in fitted)
    assert sum(1 for _, _, rows in fitted if rows in train_sets) == len(fitted) - 1  # every fit but the full one


def test_eligible_counts_the_rarer_outcome_per_feature_in_the_smallest_training_fold():
    """400 churned of 1,000 rows: the rarer outcome holds 400 rows, 200 per feature with 2
    features (gradient boosting's minimum, so it is compared) and 133.3 with 3 (it is not); a
    fold whose training rows all churned holds 0 of the rarer outcome. Logistic is always in."""
    from cs_analysis.model.pipelines import MIN_EVENTS_PER_FEATURE, eligible

    assert MIN_EVENTS_PER_FEATURE["gradient_boosting"] == 200
    y = np.arange(1000) < 400
    every = [(np.arange(1000), np.arange(0))]
    assert eligible(y, every, 2) == (["logistic", "gradient_boosting"], {})
    kinds, why = eligible(y, every, 3)
    assert kinds == ["logistic"] and set(why) == {"gradient_boosting"}
    assert "400 rows of the rarer outcome for 3 features (133.3 per feature)" in why["gradient_boosting"]
    kinds, why = eligible(y, [*every, (np.arange(300), np.arange(300, 1000))], 1)  # the smallest fold counts
    assert kinds == ["logistic"] and "holds 0 rows" in why["gradient_boosting"]


def test_fold_fits_on_ranked_categories_score_exactly_as_on_text():
    """The race fits its folds on category ranks (model.pipelines.ranked_categories): the same
    decision values as the pipelines fitted on the text, for both candidates, with missing
    categories and a category the training rows never saw."""
    from cs_analysis.model.pipelines import CANDIDATES, make_pipeline, ranked_categories

    rng = np.random.default_rng(3)
    n = 2000
    plan = rng.choice(["basic", "pro", "enterprise", None], n, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    tier = rng.choice(["low", "mid", "high"], n).astype(object)
    util = np.where(rng.random(n) < 0.1, np.nan, rng.random(n))
    y = rng.random(n) < 1 / (1 + np.exp(-(-1.5 + 2 * (util < 0.3) + 0.8 * (plan == "basic"))))
    x = pd.DataFrame({"utilisation": util, "plan": plan, "tier": tier})
    x.loc[1900:, "tier"] = "aaa"  # only among the test rows, and first in order: every training rank moves
    train, test = np.arange(1500), np.arange(1500, n)
    objects = {"plan": object, "tier": object}
    for typed in (x, x.astype({"plan": "string[pyarrow]", "tier": "str"}), x.astype(objects)):
        pd.testing.assert_frame_equal(ranked_categories(typed, ["plan", "tier"])[0], typed.astype(objects))
    x, ranked = ranked_categories(x, ["plan", "tier"])
    assert ranked["plan"].isna().sum() == (x["plan"].isna()).sum() and ranked["tier"].max() == 3.0
    matrix = ranked[["utilisation", "plan", "tier"]].to_numpy(dtype=float)  # as the race's fold fits take it
    for kind in CANDIDATES:
        text = make_pipeline(kind, ["utilisation"], ["plan", "tier"]).fit(x.iloc[train], y[train])
        codes = make_pipeline(kind, ["utilisation"], ["plan", "tier"]).fit(ranked.iloc[train], y[train])
        by_position = make_pipeline(kind, [0], [1, 2]).fit(matrix[train], y[train])
        expected = text.decision_function(x.iloc[test])
        np.testing.assert_array_equal(codes.decision_function(ranked.iloc[test]), expected)
        np.testing.assert_array_equal(by_position.decision_function(matrix[test]), expected)


def test_race_leaves_out_a_candidate_the_data_cannot_train(monkeypatch):
    """Gradient boosting below its events per feature is never fitted; the note says why; the
    logistic scores are those of the race that compared both."""
    from sklearn.model_selection import StratifiedKFold

    import cs_analysis.model.pipelines as pipelines

    frame = _crm_table(3000)
    x = frame[["plan", "utilisation"]]
    y = frame["churned"].eq("yes").to_numpy()
    folds = list(StratifiedKFold(n_splits=4, shuffle=True, random_state=0).split(x, y))
    both = pipelines.race(x, y, folds, ["utilisation"], ["plan"], threads=2)
    real, fitted = pipelines.make_pipeline, []

    def make(kind, numeric, categorical, seed=0):
        fitted.append(kind)
        return real(kind, numeric, categorical, seed)

    monkeypatch.setattr(pipelines, "make_pipeline", make)
    monkeypatch.setitem(pipelines.MIN_EVENTS_PER_FEATURE, "gradient_boosting", 10_000)
    one = pipelines.race(x, y, folds, ["utilisation"], ["plan"], threads=2)
    assert fitted.count("gradient_boosting") == 0 and fitted.count("logistic") == len(folds) + 1
    assert one.chosen == "logistic" and one.scores["gradient_boosting"] == [None] * len(folds)
    assert "gradient_boosting was not compared" in one.left["gradient_boosting"]
    for a, b in zip(one.scores["logistic"], both.scores["logistic"], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore:Skipping features without any observed values")
def test_median_imputer_learns_what_simple_imputer_learns():
    """MedianImputer's medians come from numpy.nanmedian: the same statistics as
    SimpleImputer(strategy="median") to the bit (odd and even counts, a column without values,
    huge values), the same indicators and the same output; other strategies are SimpleImputer's."""
    from sklearn.impute import SimpleImputer

    from cs_analysis.model.impute import MedianImputer

    rng = np.random.default_rng(7)
    x = rng.normal(size=(1001, 6)).round(2)  # ties
    x[rng.random(x.shape) < 0.2] = np.nan
    x[:, 3] = np.nan  # no value at all
    x[::97, 4] = 1e300  # huge values
    x[0, 5] = np.nan  # 1,000 values: an even count
    for keep in (True, False):  # keep_empty_features=False drops the empty column (and warns: both do)
        ours = MedianImputer(add_indicator=True, keep_empty_features=keep).fit(x)
        theirs = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=keep).fit(x)
        assert ours.get_params() == theirs.get_params()
        np.testing.assert_array_equal(ours.statistics_, theirs.statistics_)
        np.testing.assert_array_equal(ours.transform(x), theirs.transform(x))
    assert (MedianImputer().fit(np.array([[1.0], [2.0], [np.nan], [10.0]])).statistics_ == [2.0]).all()
    assert (MedianImputer().fit(np.array([[1.0], [2.0], [3.0], [10.0]])).statistics_ == [2.5]).all()
    mean = MedianImputer(strategy="mean").fit(x[:, :3])
    np.testing.assert_array_equal(mean.statistics_, SimpleImputer().fit(x[:, :3]).statistics_)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigmoid_fit_finds_scikit_learns_optimum(seed):
    """The sigmoid's Newton fit (model.calibration.sigmoid_fit) against LogisticRegression(C=1e6)
    with a tight tolerance on the same scores: the same slope and intercept; scores that
    separate the outcomes perfectly stay finite (the tiny penalty)."""
    from sklearn.linear_model import LogisticRegression

    from cs_analysis.model.calibration import sigmoid_fit

    rng = np.random.default_rng(seed)
    scores = rng.normal(-3, 1.5, 4000)
    y = rng.random(4000) < 1 / (1 + np.exp(-(0.7 * scores + 0.4)))
    ref = LogisticRegression(C=1e6, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(scores[:, None], y)
    slope, intercept = sigmoid_fit(scores, y)
    assert slope == pytest.approx(ref.coef_[0, 0], rel=1e-6) and intercept == pytest.approx(ref.intercept_[0], rel=1e-6)
    assert 0.55 < slope < 0.85
    apart = sigmoid_fit(np.array([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0]), np.array([0, 0, 0, 1, 1, 1]))
    assert all(np.isfinite(apart)) and apart[0] > 0
