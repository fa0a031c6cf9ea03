"""KPI engine vs a plain DuckDB ledger query, same data, same run.

Ours: lay out the cube, build the MRR ledger, and compute every KPI for every month with two
segmentations (size, touch_tier). Reference: one DuckDB SQL query that builds the same ledger
(densified account × month grid, LAG window, classification), materialised as Arrow.
Target: ours ≤ 1.5 × reference.  Run: .venv/bin/python benchmarks/bench_kpis.py [--accounts N]
"""

from __future__ import annotations


import duckdb

from _common import demo_from_args, max_rss_mib, timed, traced_peak
from cs_analysis.kpis import KpiEngine, monthly_trend
from cs_analysis.ledger import mrr_ledger

REFERENCE_SQL = """
WITH bounds AS (SELECT min(month) AS lo, max(month) AS hi FROM subs),
months AS (SELECT unnest(generate_series(lo, hi, INTERVAL 1 MONTH)) AS month FROM bounds),
acct_month AS (SELECT account_id, month, sum(mrr) AS mrr FROM subs GROUP BY ALL),
grid AS (SELECT a.account_id, m.month, coalesce(x.mrr, 0) AS mrr
         FROM (SELECT account_id FROM accounts) a CROSS JOIN months m
         LEFT JOIN acct_month x ON x.account_id = a.account_id AND x.month = m.month),
w AS (SELECT *, lag(mrr) OVER (PARTITION BY account_id ORDER BY month) AS mrr_prev,
        coalesce(max((mrr > 0)::INT) OVER (PARTITION BY account_id ORDER BY month
          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS seen_before
      FROM grid),
c AS (SELECT *, CASE
        WHEN mrr > 0 AND seen_before = 0 THEN 'new'
        WHEN mrr > 0 AND mrr_prev > 0 AND mrr > mrr_prev THEN 'expansion'
        WHEN mrr > 0 AND mrr_prev > 0 AND mrr < mrr_prev THEN 'contraction'
        WHEN mrr_prev > 0 AND mrr = 0 THEN 'churn'
        WHEN mrr > 0 AND mrr_prev = 0 AND seen_before = 1 THEN 'reactivation' END AS movement
      FROM w WHERE mrr_prev IS NOT NULL)
SELECT account_id, month, mrr_prev, mrr, movement,
  CASE movement WHEN 'expansion' THEN mrr - mrr_prev WHEN 'contraction' THEN mrr_prev - mrr
                WHEN 'churn' THEN mrr_prev ELSE mrr END AS amount
FROM c WHERE movement IS NOT NULL
"""


def main() -> None:
    ds, settings = demo_from_args(__doc__)

    con = duckdb.connect()
    con.register("subs", ds.subscriptions)
    con.register("accounts", ds.accounts)
    ref_time, ref = timed(lambda: con.sql(REFERENCE_SQL).to_arrow_table())

    def ours():
        engine = KpiEngine(ds, settings, with_health=False)  # SPEC §2 KPIs; health is bench_health
        ledger = mrr_ledger(engine.cube)
        trend = monthly_trend(engine, by=["size", "touch_tier"])
        return ledger, trend

    our_time, (ledger, trend) = timed(ours)
    assert len(ledger) == ref.num_rows, (len(ledger), ref.num_rows)
    peak = traced_peak(ours)
    print(f"reference DuckDB ledger query: {ref_time:.2f} s ({ref.num_rows:,} ledger rows)")
    print(f"cs-analysis ledger + all KPIs x {trend['period'].nunique()} months x 2 segmentations: "
          f"{our_time:.2f} s ({len(trend):,} KPI rows)")
    print(f"ratio: {our_time / ref_time:.2f} (target <= 1.5)")
    print(f"peak memory of one engine run: {peak:,.0f} MiB traced; process max RSS {max_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
