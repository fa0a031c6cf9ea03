"""Training time against its floor, alternated in one run (A B A B).

Dataset mode (default): ``train_model`` on the demo company (features, the time-ordered
backtest of both candidates, the final model) vs one fit of the chosen pipeline on the same
training rows. Table mode (``--table``): ``train_table`` on a Telco-sized CRM table (7,043 rows ×
20 columns, made here with a known churn rule) vs one logistic plus one gradient-boosting fit on
the same typed columns. Targets: ratio ≤ 4 in both. The floors get the text columns as object
arrays, which is what training hands its fits (and faster than Arrow strings).

Run: ``../.venv/bin/python bench_train.py [--accounts N] [--repeat R] [--no-warm-up] [--table [--rows N]]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import pandas as pd

from _common import demo, interleaved, machine
from cs_analysis import load_dataset, load_settings
from cs_analysis.model.features import LABEL, feature_columns
from cs_analysis.model.pipelines import make_pipeline
from cs_analysis.model.table import parse_label, prepare, train_table
from cs_analysis.model.training import read_truth, train_model, training_rows, usable_features

AS_OF = pd.Timestamp("2026-09-30")


def telco_table(rows: int = 7043, seed: int = 0) -> pd.DataFrame:
    """A table shaped like the public Telco churn sample: 20 columns of yes/no flags, services,
    contract and payment kinds, tenure and charges (money as text), churn from a logistic rule."""
    rng = np.random.default_rng(seed)
    yes_no = lambda p: np.where(rng.random(rows) < p, "Yes", "No")  # noqa: E731
    tenure = rng.integers(0, 73, rows)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], rows, p=[0.55, 0.21, 0.24])
    internet = rng.choice(["DSL", "Fiber optic", "No"], rows, p=[0.34, 0.44, 0.22])
    payment = rng.choice(["Electronic check", "Mailed check", "Bank transfer (automatic)",
                          "Credit card (automatic)"], rows)
    monthly = np.round(rng.uniform(18, 119, rows), 2)
    support = np.where(internet == "No", "No internet service", yes_no(0.35))
    logit = (-1.2 - 0.035 * tenure + 1.3 * (contract == "Month-to-month") - 0.8 * (contract == "Two year")
             + 0.7 * (internet == "Fiber optic") + 0.45 * (payment == "Electronic check")
             - 0.5 * (support == "Yes") + 0.008 * (monthly - 65) + rng.normal(0, 0.6, rows))
    churn = rng.random(rows) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame({
        "customerID": [f"{i:04d}-TEL{i % 97:02d}" for i in range(rows)],
        "gender": rng.choice(["Female", "Male"], rows),
        "SeniorCitizen": (rng.random(rows) < 0.16).astype(int),
        "Partner": yes_no(0.48), "Dependents": yes_no(0.3), "tenure": tenure,
        "PhoneService": yes_no(0.9), "MultipleLines": yes_no(0.42), "InternetService": internet,
        "OnlineSecurity": yes_no(0.29), "OnlineBackup": yes_no(0.34), "DeviceProtection": yes_no(0.34),
        "TechSupport": support, "StreamingTV": yes_no(0.38), "StreamingMovies": yes_no(0.39),
        "Contract": contract, "PaperlessBilling": yes_no(0.59), "PaymentMethod": payment,
        "MonthlyCharges": monthly,
        "TotalCharges": [f"{v:,.2f}" for v in monthly * np.maximum(tenure, 1)],
        "Churn": np.where(churn, "Yes", "No"),
    })
    return frame


def ratios(times: list[tuple[list[float], object]]) -> tuple[float, float]:
    (a, _), (b, _) = times
    return min(a) / min(b), statistics.median(a) / statistics.median(b)


def bench_dataset(accounts: int, repeat: int, warm_up: bool = True) -> None:
    folder = demo(accounts)
    ds, settings = load_dataset(folder), load_settings()
    truth = read_truth(folder, 3)
    began = time.perf_counter()
    trained = train_model(ds, settings, AS_OF, 3, truth=truth)  # names the chosen candidate
    first = [time.perf_counter() - began] if not warm_up else []  # timed (A of A B A B) or a warm-up
    chosen = trained.model.meta.model
    rows = training_rows(ds, settings, AS_OF, 3)
    numeric, categorical = feature_columns(rows)
    numeric, categorical, _ = usable_features(rows, numeric, categorical)
    x = rows[numeric + categorical].astype({c: object for c in categorical})
    y = rows[LABEL].astype(bool).to_numpy()
    print(f"{accounts:,} accounts: {len(rows):,} training rows x {x.shape[1]} features; chosen {chosen}")
    fns = [lambda: train_model(ds, settings, AS_OF, 3, truth=truth),
           lambda: make_pipeline(chosen, numeric, categorical).fit(x, y)]
    if first:  # its B, then the other rounds A B
        (b0, _), = interleaved(fns[1:], 1)
        (a, last), (b, _) = interleaved(fns, repeat - 1)
        times = [(first + a, last or trained), (b0 + b, None)]
    else:
        times = interleaved(fns, repeat)
    (a, result), (b, _) = times
    best, median = ratios(times)
    print(f"train_model: best {min(a):.2f} s, median {statistics.median(a):.2f} s; one {chosen} fit: best "
          f"{min(b):.2f} s, median {statistics.median(b):.2f} s; ratio {best:.2f} best / {median:.2f} median "
          "(target <= 4)")
    print(result.backtest.overall[["model", "rows", "roc_auc", "pr_auc", "brier", "ece"]].round(4).to_string(index=False))
    for note in result.model.meta.notes:
        print("note:", note)


def bench_table(rows: int, repeat: int) -> None:
    frame = telco_table(rows)
    y = parse_label(frame["Churn"], "Churn")
    x, numeric, categorical, _ = prepare(frame, "Churn", "customerID")
    x = x.astype({c: object for c in categorical})
    print(f"table: {len(frame):,} rows x {frame.shape[1]} columns ({len(numeric)} numeric, {len(categorical)} "
          f"categorical features), churn rate {y.mean():.3f}")

    def floor() -> None:
        make_pipeline("logistic", numeric, categorical).fit(x, y)
        make_pipeline("gradient_boosting", numeric, categorical).fit(x, y)

    times = interleaved([lambda: train_table(frame, "Churn", "customerID"), floor], repeat)
    (a, result), (b, _) = times
    best, median = ratios(times)
    print(f"train_table: best {min(a):.2f} s, median {statistics.median(a):.2f} s; one logistic + one "
          f"gradient-boosting fit: best {min(b):.2f} s, median {statistics.median(b):.2f} s; ratio {best:.2f} "
          f"best / {median:.2f} median (target <= 4)")
    print(result.cv.round(4).to_string(index=False))
    for note in result.notes:
        print("note:", note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-warm-up", action="store_true",
                        help="no untimed train before the timed runs (large sizes: the first timed run names the model)")
    parser.add_argument("--table", action="store_true", help="train --table on a Telco-sized table instead")
    parser.add_argument("--rows", type=int, default=7043, help="rows of the table (--table)")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f} at the start")
    if args.table:
        bench_table(args.rows, args.repeat)
    else:
        bench_dataset(args.accounts, args.repeat, warm_up=not args.no_warm_up)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
