"""Churn model: training time (features + time-ordered backtest + final fit) and scoring speed.

Scoring: 1M rows (the training rows repeated) through the full scoring (probability, risk tier,
drivers in words) vs the bare ``predict_proba`` of the same model on the same matrix; target
<= 2x. Run: .venv/bin/python benchmarks/bench_model.py [--accounts N] [--score-rows R]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from _common import demo, machine, max_rss_mib
from cs_analysis import load_dataset, load_settings
from cs_analysis.model.training import read_truth, train_model, training_rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--score-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    folder = demo(args.accounts)
    ds = load_dataset(folder)
    settings = load_settings()
    as_of = pd.Timestamp("2026-09-30")
    print(f"machine: {machine()}; data: {args.accounts:,} accounts x 36 months")
    start = time.perf_counter()
    trained = train_model(ds, settings, as_of, 3, truth=read_truth(folder, 3))
    took = time.perf_counter() - start
    overall = trained.backtest.overall.set_index("model")
    print(f"training (features, 3-fold time backtest of 2 candidates, final fit): {took:.1f} s on "
          f"{trained.model.meta.rows:,} rows; chosen {trained.model.meta.model}")
    print(overall[["roc_auc", "pr_auc", "brier", "ece", "top10_capture"]].round(4).to_string())
    print(f"max RSS after training: {max_rss_mib():,.0f} MiB")

    rows = training_rows(ds, settings, as_of, 3)
    reps = int(np.ceil(args.score_rows / len(rows)))
    big = pd.concat([rows] * reps, ignore_index=True).iloc[: args.score_rows]
    features = trained.model.meta.features
    matrix = big[features]
    t0 = time.perf_counter()
    trained.model.estimator.predict_proba(matrix)
    bare = time.perf_counter() - t0
    t0 = time.perf_counter()
    trained.model.predict(big, settings)
    full = time.perf_counter() - t0
    print(f"scoring {len(big):,} rows: bare predict_proba {bare:.2f} s; full scoring with tiers and "
          f"drivers {full:.2f} s; ratio {full / bare:.2f} (target <= 2)")
    print(f"max RSS: {max_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
