"""Subscriptions derived from contracts vs a DuckDB SQL query doing the same derivation, same run.

Data: the demo company's monthly subscriptions turned into contracts (one per run of months at
the same price; the last ones open-ended), ~300k contracts for 100k accounts × 36 months.
Ours: ``billing.from_contracts`` (month rule, grouping, output sorted as a pandas frame).
Reference: one DuckDB query (generate_series per contract, GROUP BY, ORDER BY) into pandas.
Both results are checked equal. Target: ours ≤ 2 × reference (alternated runs, best and median).
Run: .venv/bin/python benchmarks/bench_contracts.py [--accounts N] [--repeat R]
"""

from __future__ import annotations

import os
import statistics

import duckdb
import numpy as np
import pandas as pd

from _common import demo_from_args, interleaved, max_rss_mib
from cs_analysis.data import billing

SQL = """
SELECT account_id, m::TIMESTAMP AS month, product, sum(licenses)::BIGINT AS licenses, sum(mrr) AS mrr
FROM (
  SELECT account_id, product, licenses, mrr,
         unnest(generate_series(date_trunc('month', start_date),
                least(DATE '{through}', CASE WHEN end_date IS NULL THEN DATE '{through}'
                                             WHEN end_date = last_day(end_date) THEN date_trunc('month', end_date)
                                             ELSE date_trunc('month', end_date) - INTERVAL 1 MONTH END),
                INTERVAL 1 MONTH)) AS m
  FROM contracts)
GROUP BY ALL ORDER BY account_id, month, product
"""


def main() -> None:
    ds, _, repeat = demo_from_args(__doc__)
    last = ds.subscriptions["month"].max().to_period("M")
    text = billing.contracts_from_subscriptions(ds.subscriptions, last)
    contracts = text.assign(start_date=pd.to_datetime(text["start_date"]).astype("datetime64[us]"),
                            end_date=pd.to_datetime(text["end_date"]).astype("datetime64[us]"),
                            account_id=text["account_id"].astype("str"), product=text["product"].astype("str"))
    as_of = last.end_time.normalize()
    print(f"contracts: {len(contracts):,}; as-of {as_of:%Y-%m-%d}; load average {os.getloadavg()[0]:.2f}")
    con = duckdb.connect()
    con.register("contracts", contracts)
    sql = SQL.format(through=f"{last.start_time:%Y-%m-%d}")

    def reference():
        return con.sql(sql).df()

    def ours():
        return billing.from_contracts(contracts, as_of).subscriptions

    (t_ref, r_ref), (t_ours, r_ours) = interleaved([reference, ours], repeat)
    mine = r_ours.reset_index(drop=True)
    theirs = r_ref.reset_index(drop=True)
    assert len(mine) == len(theirs), (len(mine), len(theirs))
    assert (mine["account_id"].astype(str).to_numpy() == theirs["account_id"].astype(str).to_numpy()).all()
    assert np.allclose(mine["mrr"].to_numpy(), theirs["mrr"].to_numpy())
    assert (mine["licenses"].to_numpy() == theirs["licenses"].to_numpy()).all()
    for name, t in (("duckdb reference", t_ref), ("ours (from_contracts)", t_ours)):
        print(f"{name:<24} best {min(t):6.2f} s  median {statistics.median(t):6.2f} s")
    print(f"ratio ours / reference: best {min(t_ours) / min(t_ref):.2f}, "
          f"median {statistics.median(t_ours) / statistics.median(t_ref):.2f} (target <= 2)")
    print(f"rows: {len(mine):,}; max RSS {max_rss_mib():,.0f} MiB; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
