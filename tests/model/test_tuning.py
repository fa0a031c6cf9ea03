"""Scorecard tuning: a points scorecard of the same shape, learned from outcomes known by the
as-of date only, that round-trips through --config (cs_analysis.model.tuning)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cs_analysis.cli import main
from cs_analysis.config.scorecard import Measure
from cs_analysis.config.settings import default_scorecard, load_settings
from cs_analysis.data.dataset import load_dataset
from cs_analysis.model.tuning import _direction, _scorecard, band_text, hundred, tune_scorecard

AS_OF = "2026-03-31"


@pytest.fixture(scope="module")
def tuned(demo_small: Path):
    settings = load_settings()
    return tune_scorecard(load_dataset(demo_small, settings), settings, AS_OF, 3)


def test_hundred_keeps_the_ranking_and_adds_up():
    assert hundred(np.array([2.0, 1.0, 1.0])).tolist() == [50, 25, 25]
    assert hundred(np.array([0.5, 0.3, 0.2, 0.0])).tolist() == [50, 30, 20, 0]
    assert hundred(np.array([1.0, 1.0, 1.0])).sum() == 100
    assert hundred(np.array([0.0, 0.0])).tolist() == [0, 0]


def test_band_health_becomes_points_and_weights_by_hand():
    """Two measures in one dimension: u's bands have health −1, 0, 1 (range 2), v's 0 and 0.5
    with a missing value at −0.5 (range 1). Points rescale each to 0–100 within its measure
    (u: 0, 50, 100; v: 50, 100, missing 0); weights follow the ranges (2:1 → 67, 33)."""
    card = dataclasses.replace(default_scorecard(), dimensions=default_scorecard().dimensions[:1])
    u, v = card.dimensions[0].measures  # utilisation, seat_trend
    goodness = {u.name: (np.array([-1.0, 0.0, 1.0]), None), v.name: (np.array([0.0, 0.5]), -0.5)}
    out = _scorecard(card, [(card.dimensions[0], u), (card.dimensions[0], v)],
                     {u.name: (0.3, 0.6), v.name: (0.0,)}, goodness)
    mu, mv = out.dimensions[0].measures
    assert (mu.points, mu.bins, mu.missing, mu.weight) == ((0.0, 50.0, 100.0), (0.3, 0.6), None, 67.0)
    assert (mv.points, mv.missing, mv.weight) == ((50.0, 100.0), 0.0, 33.0)
    assert out.dimensions[0].weight == 100.0
    # the score is the band health rescaled: u in its top band, v missing → (67·100 + 33·0) / 100
    scores = [m.score(np.array([x]))[0] for m, x in ((mu, 0.7), (mv, np.nan))]
    assert np.average(scores, weights=[mu.weight, mv.weight]) == pytest.approx(67.0)


def test_the_tuned_scorecard_keeps_its_shape(tuned):
    card = tuned.scorecard
    default = {m.name: m for _, m in default_scorecard().measures()}
    assert sum(d.weight for d in card.dimensions) == 100
    for d in card.dimensions:
        if d.weight > 0:
            assert sum(m.weight for m in d.measures) == 100, d.name
        for m in d.measures:
            assert all(float(p).is_integer() and 0 <= p <= 100 for p in m.points), m
            assert m.missing is None or (float(m.missing).is_integer() and 0 <= m.missing <= 100)
            assert list(m.bins) == sorted(set(m.bins)) and len(m.points) == len(m.bins) + 1 <= 5
            direction = _direction(default[m.name].points)
            steps = np.diff(m.points)
            assert direction is None or (steps >= 0).all() if direction else (steps <= 0).all(), m
    assert card.level_minimums[0] < card.level_minimums[1] < card.level_minimums[2]
    assert tuned.held_out_dates[0] > tuned.fit_dates[1] + pd.DateOffset(months=2)  # a horizon apart
    assert tuned.held_out_dates[1] <= pd.Timestamp(AS_OF) - pd.DateOffset(months=3)


def test_tuning_ranks_held_out_dates_at_least_as_well(tuned):
    assert tuned.tuned.auc >= tuned.current.auc - 0.01
    assert set(tuned.weights.columns) >= {"measure", "current_share", "tuned_share", "change", "lift"}
    assert tuned.weights["tuned_share"].sum() == pytest.approx(100, abs=0.5)


def test_tuning_uses_no_outcome_after_the_as_of_date(demo_small: Path, tuned, tmp_path: Path):
    """Every account churns right after the as-of date in a copy of the data: the outcomes after
    it change completely, the tuned scorecard and every figure it reports do not."""
    copy = tmp_path / "future_changed"
    shutil.copytree(demo_small, copy)
    subs = pd.read_csv(copy / "subscriptions.csv", encoding="utf-8-sig")
    subs[pd.to_datetime(subs["month"]) <= AS_OF].to_csv(copy / "subscriptions.csv", index=False)
    settings = load_settings()
    again = tune_scorecard(load_dataset(copy, settings), settings, AS_OF, 3)
    assert again.scorecard == tuned.scorecard
    assert (again.current.auc, again.tuned.auc, again.model_auc) == (tuned.current.auc, tuned.tuned.auc,
                                                                      tuned.model_auc)


def test_the_tuned_file_round_trips_through_config(demo_small: Path, tuned, tmp_path: Path, capsys):
    out = tmp_path / "tuned.yaml"
    assert main(["tune-scorecard", str(demo_small), "--as-of", AS_OF, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ROC AUC on the held-out dates" in printed and "churn model" in printed and "weights that moved" in printed
    assert load_settings(out).health == tuned.scorecard  # the same scorecard, read back from the file
    assert main(["health", str(demo_small), "--as-of", AS_OF, "--config", str(out)]) == 0
    assert main(["tune-scorecard", str(demo_small), "--as-of", "2025-03-31", "--out", str(tmp_path / "x.yaml")]) == 2
    assert "error: tune-scorecard needs at least" in capsys.readouterr().err


def test_band_text():
    assert [band_text((0.3, 0.5), k) for k in range(3)] == ["< 0.3", "0.3–0.5", "≥ 0.5"]
    assert Measure("nps_latest", 1, (7.0,), (0.0, 100.0), missing=20.0).score(np.array([np.nan, 8]))[0] == 20.0
