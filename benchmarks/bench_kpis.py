"""KPI engine vs a plain DuckDB ledger query, same data, same run.

Ours: lay out the cube, build the MRR ledger, and compute every KPI for every month with two
segmentations (size, touch_tier). Reference: one DuckDB SQL query that builds the same ledger
(densified account × month grid, LAG window, classification), materialised as Arrow.
Target (#18): ours ≤ 1.0 × reference (best of --repeat runs each, alternated). Also timed: our ledger
alone (cube + ledger frame). Run: .venv/bin/python benchmarks/bench_kpis.py [--accounts N] [--repeat R]
"""

from __future__ import annotations

import statistics

import duckdb

from _common import demo_from_args, interleaved, max_rss_mib, traced_peak
from cs_analysis.core.ledger import mrr_ledger
from cs_analysis.kpis.engine import KpiEngine, monthly_trend

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
    ds, settings, repeat = demo_from_args(__doc__)

    con = duckdb.connect()
    con.register("subs", ds.subscriptions)
    con.register("accounts", ds.accounts)

    def reference():
        return con.sql(REFERENCE_SQL).to_arrow_table()

    def ledger_only():
        return mrr_ledger(KpiEngine(ds, settings, with_health=False).cube)

    def ours():
        engine = KpiEngine(ds, settings, with_health=False)  # SPEC §2 KPIs; health is bench_health
        ledger = mrr_ledger(engine.cube)
        trend = monthly_trend(engine, by=["size", "touch_tier"])
        return ledger, trend

    # alternate them, so a noisy spell of the machine hits both alike
    runs = interleaved([reference, ledger_only, ours], repeat=repeat)
    (ref_times, ref), (ledger_times, _), (our_times, (ledger, trend)) = runs
    assert len(ledger) == ref.num_rows, (len(ledger), ref.num_rows)
    peak, ledger_peak = traced_peak(ours), traced_peak(ledger_only)
    ref_best, our_best = min(ref_times), min(our_times)
    ref_mid, our_mid = statistics.median(ref_times), statistics.median(our_times)
    print(f"reference DuckDB ledger query: best {ref_best:.2f} s, median {ref_mid:.2f} s "
          f"({ref.num_rows:,} ledger rows)")
    print(f"cs-analysis ledger alone (cube + ledger frame): best {min(ledger_times):.2f} s, "
          f"median {statistics.median(ledger_times):.2f} s")
    print(f"cs-analysis ledger + all KPIs x {trend['period'].nunique()} months x 2 segmentations: "
          f"best {our_best:.2f} s, median {our_mid:.2f} s ({len(trend):,} KPI rows)")
    print(f"ratio: {our_best / ref_best:.2f} best to best, {our_mid / ref_mid:.2f} median to median "
          f"(target <= 1.0, #18; {repeat} runs each)")
    print(f"peak memory traced: ledger alone {ledger_peak:,.0f} MiB, ledger + all KPIs {peak:,.0f} MiB; "
          f"process max RSS {max_rss_mib():,.0f} MiB (with the dataset and DuckDB)")


if __name__ == "__main__":
    main()
