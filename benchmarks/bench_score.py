"""Scoring speed and memory: the full scoring of R rows (probability, risk tier, top drivers in
English and Japanese, the playbook driver: ``ChurnModel.predict``) vs the bare
``predict_proba`` of the same calibrated pipeline on the same rows, alternated (A B A B) in one
run; then the traced peak memory of each against the input's size. Target: ratio <= 1.3, peak
<= 3x the input. The model is trained once on the demo company (--accounts); the rows are its
training rows repeated.
Run: .venv/bin/python benchmarks/bench_score.py [--accounts N] [--rows R] [--repeat K]
"""

from __future__ import annotations

import argparse
import os
import statistics

import numpy as np
import pandas as pd

from _common import demo, interleaved, machine, traced_peak
from cs_analysis import load_dataset, load_settings
from cs_analysis.model.training import train_model, training_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = demo(args.accounts)
    ds, settings = load_dataset(folder), load_settings()
    as_of = pd.Timestamp("2026-09-30")
    model = train_model(ds, settings, as_of, 3).model
    rows = training_rows(ds, settings, as_of, 3)
    big = pd.concat([rows] * int(np.ceil(args.rows / len(rows))), ignore_index=True).iloc[: args.rows]
    big = big[model.meta.features].copy()
    size = big.memory_usage(deep=True).sum() / 2**20
    print(f"machine: {machine()}; model: {model.meta.model} on {args.accounts:,} demo accounts; "
          f"{len(big):,} rows x {len(model.meta.features)} features ({size:,.0f} MiB in memory)")
    (bare_t, bare), (full_t, full) = interleaved(
        [lambda: model.estimator.predict_proba(big)[:, 1], lambda: model.predict(big, settings)], args.repeat)
    assert np.allclose(full["churn_probability"].to_numpy(), bare, rtol=0, atol=1e-12), "different probabilities"
    best, median = min(full_t) / min(bare_t), statistics.median(full_t) / statistics.median(bare_t)
    print(f"bare predict_proba: best {min(bare_t):.2f} s, median {statistics.median(bare_t):.2f} s")
    print(f"full scoring:       best {min(full_t):.2f} s, median {statistics.median(full_t):.2f} s")
    print(f"ratio: {best:.2f} best to best, {median:.2f} median to median (target <= 1.3; {args.repeat} runs each); "
          f"load average {os.getloadavg()[0]:.2f}")
    bare_peak = traced_peak(lambda: model.estimator.predict_proba(big))
    full_peak = traced_peak(lambda: model.predict(big, settings))
    print(f"traced peak: bare {bare_peak:,.0f} MiB ({bare_peak / size:.1f}x the input), full {full_peak:,.0f} MiB "
          f"({full_peak / size:.1f}x; target <= 3x)")


if __name__ == "__main__":
    main()
