"""Health scores for every account at every month end: 100k accounts x 36 monthly snapshots.

Reports the one-off setup (lookups), the time per snapshot, the total, and peak memory.
Run: .venv/bin/python benchmarks/bench_health.py [--accounts N]
"""

from __future__ import annotations

import time

from _common import demo_from_args, max_rss_mib, traced_peak
from cs_analysis.health.scorer import HealthScorer, month_ends


def main() -> None:
    ds, settings, _ = demo_from_args(__doc__)

    def run():
        scorer = HealthScorer(ds, settings)
        start = time.perf_counter()
        _ = scorer.signals.onboarded_day, scorer.signals._indexes, scorer.signals._usage
        setup = time.perf_counter() - start
        dates = month_ends(scorer.signals.cube.months[0], scorer.signals.cube.months[-1])
        hist = scorer.history(dates)
        return setup, time.perf_counter() - start, len(dates), len(hist)

    setup, total, snapshots, rows = run()
    peak = traced_peak(run)
    print(f"setup (cube, lookups, onboarding): {setup:.2f} s")
    print(f"{snapshots} monthly snapshots, {rows:,} account scores: {total:.2f} s in all, "
          f"{(total - setup) / snapshots * 1000:.0f} ms per snapshot")
    print(f"peak memory: {peak:,.0f} MiB traced; process max RSS {max_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
