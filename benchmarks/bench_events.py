"""Raw events -> usage features (cs_analysis.data.events, Ibis on DuckDB) against a hand-written
Polars reference of the same features in the same run (target, #18: <= 1.2x and peak RSS <=
Polars'), with peak memory; the same job on Spark local mode; and a run under a DuckDB memory
limit.

Run: .venv/bin/python benchmarks/bench_events.py [--accounts 500] [--memory-limit 1GB] [--spark]
(500 accounts x 36 months of the demo company = about 20M events; 2,500 = about 10^8.)
Each engine runs in its own process so that peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from _common import demo, machine


def polars_reference(events: Path, out: Path) -> int:
    """The same features as cs_analysis.data.events.usage_features, written directly in Polars."""
    import polars as pl

    ev = pl.scan_parquet(f"{events}/**/*.parquet", hive_partitioning=False)
    ud = (ev.with_columns(day=pl.col("ts").dt.date())
          .group_by("account_id", "user_id", "day", "event").agg(n=pl.len().cast(pl.Int64)))
    login = pl.col("event") == "login"
    monthly = (ud.with_columns(month=pl.col("day").dt.truncate("1mo"))
               .group_by("account_id", "month")
               .agg(active_users=pl.col("user_id").n_unique(), logins=pl.col("n").filter(login).sum(),
                    features_used=pl.col("event").filter(~login).n_unique(), calls=pl.col("n").filter(~login).sum()))
    ends = ud.select(end=pl.col("day").dt.month_end()).unique().with_columns(start=pl.col("end") - pl.duration(days=90))
    joined = (ud.join_where(ends, pl.col("day") <= pl.col("end"), pl.col("day") > pl.col("start"))
              .with_columns(age=(pl.col("end") - pl.col("day")).dt.total_days()))
    in30, prev30 = pl.col("age") < 30, (pl.col("age") >= 30) & (pl.col("age") < 60)
    w = (joined.group_by("account_id", "end")
         .agg(active_users_30d=pl.col("user_id").filter(in30).n_unique(),
              active_users_90d=pl.col("user_id").n_unique(),
              events_30d=pl.col("n").filter(in30).sum(), events_prev_30d=pl.col("n").filter(prev30).sum(),
              events_90d=pl.col("n").sum(),
              features_30d=pl.col("event").filter(in30 & ~login).n_unique(),
              features_90d=pl.col("event").filter(~login).n_unique(),
              last_day=pl.col("day").max())
         .sort("account_id", "end")
         .with_columns(last_day=pl.col("last_day").cum_max().over("account_id")))
    result = (w.with_columns(
                month=pl.col("end").dt.truncate("1mo"),
                events_per_user_30d=pl.when(pl.col("active_users_30d") > 0)
                .then(pl.col("events_30d") / pl.col("active_users_30d")),
                days_since_last_activity=(pl.col("end") - pl.col("last_day")).dt.total_days(),
                usage_trend_30d=pl.when(pl.col("events_prev_30d") > 0)
                .then((pl.col("events_30d") - pl.col("events_prev_30d")) / pl.col("events_prev_30d")))
              .join(monthly, on=["account_id", "month"], how="left")
              .with_columns(pl.col("active_users", "logins", "features_used", "calls").fill_null(0))
              .drop("end", "events_prev_30d", "last_day")
              .select("account_id", "month", "active_users", "logins", "features_used", "calls",
                      "active_users_30d", "active_users_90d", "events_30d", "events_90d", "events_per_user_30d",
                      "features_30d", "features_90d", "days_since_last_activity", "usage_trend_30d")
              .sort("account_id", "month"))
    result.sink_parquet(out)
    return pq.ParquetFile(out).metadata.num_rows


def _children_peak_mib() -> float:
    """Highest peak RSS (VmHWM) among this process's live children, e.g. Spark's JVM."""
    me, peak = str(os.getpid()), 0.0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:  # the process ended meanwhile
            continue
        if fields.get("PPid", "").strip() == me and "VmHWM" in fields:
            peak = max(peak, int(fields["VmHWM"].split()[0]) / 1024)
    return peak


def _child(engine: str, events: Path, out: Path, memory_limit: str | None) -> None:
    jvm_peak = [0.0]
    running = threading.Event()
    running.set()

    def sample() -> None:  # the JVM is gone once the session stops, so watch it while it runs
        while running.is_set():
            jvm_peak[0] = max(jvm_peak[0], _children_peak_mib())
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    if engine == "polars":
        rows = polars_reference(events, out)
    else:
        from cs_analysis.data.events import write_usage_features

        rows = write_usage_features(events, out, engine, memory_limit)
    seconds = time.perf_counter() - start
    running.clear()
    sampler.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"engine": engine, "seconds": seconds, "rows": rows, "peak_rss_mib": peak,
                      "children_peak_rss_mib": jvm_peak[0]}))


def run(engine: str, events: Path, out: Path, memory_limit: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", engine, "--events", str(events), "--out", str(out)]
    if memory_limit:
        cmd += ["--memory-limit", memory_limit]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def same_features(ours: Path, other: Path) -> bool:
    """Whether two feature files hold the same rows and values (float columns to 1e-9)."""
    a, b = (pd.read_parquet(p).sort_values(["account_id", "month"], ignore_index=True) for p in (ours, other))
    b = b.astype(a.dtypes.to_dict())
    try:
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)
    except AssertionError as error:
        print(f"  differs from ours: {str(error).splitlines()[0]}")
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory limit, e.g. 1GB")
    parser.add_argument("--spark", action="store_true", help="also time Spark local mode")
    parser.add_argument("--only-duckdb", action="store_true", help="skip the Polars reference")
    parser.add_argument("--child")
    parser.add_argument("--events", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.events, args.out, args.memory_limit)
        return
    folder = demo(args.accounts, events=True) / "events"
    n = sum(pq.ParquetFile(f).metadata.num_rows for f in folder.rglob("*.parquet"))
    print(f"machine: {machine()}; events: {n:,} ({args.accounts:,} accounts x 36 months)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-events-"))
    try:
        ours = run("duckdb", folder, tmp / "ours.parquet", args.memory_limit)
        print(f"cs-analysis (Ibis on DuckDB{', limit ' + args.memory_limit if args.memory_limit else ''}): "
              f"{ours['seconds']:.1f} s, {ours['rows']:,} rows, peak RSS {ours['peak_rss_mib']:.0f} MiB")
        if not args.only_duckdb:
            ref = run("polars", folder, tmp / "polars.parquet")
            print(f"Polars reference: {ref['seconds']:.1f} s, {ref['rows']:,} rows, peak RSS "
                  f"{ref['peak_rss_mib']:.0f} MiB; ratio {ours['seconds'] / ref['seconds']:.2f} (target <= 1.2); "
                  f"same features: {same_features(tmp / 'ours.parquet', tmp / 'polars.parquet')}")
        if args.spark:
            spark = run("spark", folder, tmp / "spark.parquet")
            print(f"Spark local[*]: {spark['seconds']:.1f} s, {spark['rows']:,} rows, peak RSS: driver "
                  f"{spark['peak_rss_mib']:.0f} MiB, JVM {spark['children_peak_rss_mib']:.0f} MiB; "
                  f"same features: {same_features(tmp / 'ours.parquet', tmp / 'spark.parquet')}")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
