"""Raw product events (account_id, user_id, event, ts) → the monthly ``usage`` table of the data
contract and trailing activity features, written once as Ibis expressions.

The same expressions run on DuckDB (the embedded default: it reads Parquet out of core under a
memory limit, spilling to disk) and on Spark (``pip install .[spark]``, ``engine="spark"``).
An event named ``login`` counts as a login; every other event name is a product feature, so
``calls`` counts feature events and ``features_used`` the distinct features used.

Trailing features are computed at every month end ``E`` from events with ``ts`` before the day
after ``E`` only: ``active_users_30d``/``_90d`` (distinct users in the 30/90 days ending on
``E``), ``events_30d``/``_90d``, ``events_per_user_30d``, ``features_30d``/``_90d``,
``days_since_last_activity`` (from the last event on or before ``E``) and ``usage_trend_30d``
(events of the last 30 days against the 30 before, as a fraction; empty when there were none).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow.parquet as pq

from cs_analysis.data.io import atomic_path, write_frame
from cs_analysis.errors import DataError

EVENT_COLUMNS = ("account_id", "user_id", "event", "ts")
LOGIN = "login"
ENGINES = ("duckdb", "spark")
USAGE_COLUMNS = ("account_id", "month", "active_users", "logins", "features_used", "calls")


def connect(engine: str = "duckdb", memory_limit: str | None = None) -> ibis.BaseBackend:
    """An Ibis backend: in-process DuckDB (with ``memory_limit``, e.g. "2GB", spilling to a temporary
    folder) or a local Spark session (UTC session time zone, Arrow transfers, warehouse in a
    temporary folder so no ``spark-warehouse/`` appears in the working folder)."""
    if engine == "duckdb":
        con = ibis.duckdb.connect()
        if memory_limit:
            con.raw_sql(f"SET memory_limit = '{_size(memory_limit)}'")
            con.raw_sql(f"SET temp_directory = '{tempfile.mkdtemp(prefix='cs-analysis-duckdb-')}'")
            con.raw_sql("SET preserve_insertion_order = false")
        return con
    if engine == "spark":
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise DataError("--engine spark needs PySpark: pip install 'cs-analysis[spark]' (and Java 17+)") from None
        builder = (SparkSession.builder.master(os.environ.get("CS_ANALYSIS_SPARK_MASTER", "local[*]"))
                   .appName("cs-analysis")
                   .config("spark.sql.session.timeZone", "UTC")
                   .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                   .config("spark.ui.enabled", "false")
                   .config("spark.sql.warehouse.dir", tempfile.mkdtemp(prefix="cs-analysis-spark-")))
        if memory_limit:
            builder = builder.config("spark.driver.memory", _size(memory_limit).replace("GB", "g").replace("MB", "m"))
        return ibis.pyspark.connect(builder.getOrCreate())
    raise DataError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")


def _size(text: str) -> str:
    value = text.strip().upper().replace(" ", "").replace("GIB", "GB").replace("MIB", "MB")
    if not value.endswith(("GB", "MB")) or not value[:-2].replace(".", "", 1).isdigit():
        raise DataError(f"memory limit {text!r}: write it like 2GB or 512MB")
    return value


def event_files(path: str | Path) -> list[str]:
    """The Parquet files of an events file or folder (searched recursively, e.g. month=…/ partitions)."""
    path = Path(path)
    if path.is_file():
        return [str(path)]
    files = sorted(str(p) for p in path.rglob("*.parquet")) if path.is_dir() else []
    if not files:
        raise DataError(f"{path}: no Parquet event files (expected a .parquet file or a folder of them)")
    return files


def read_events(con: ibis.BaseBackend, path: str | Path) -> ir.Table:
    """The events at ``path`` (file or folder of Parquet), checked for the contract's columns."""
    files = event_files(path)
    try:
        if Path(path).is_file():
            table = con.read_parquet(files[0])
        elif con.name == "pyspark":  # Spark reads the folder itself (any layout, partition folders too)
            table = con.read_parquet(str(path), recursiveFileLookup="true")
        else:
            table = con.read_parquet(f"{path}/**/*.parquet", hive_partitioning=False)
    except Exception as exc:  # each engine raises its own types for a file it cannot read
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot read the events as Parquet: {first}") from None
    missing = [c for c in EVENT_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{path}: events need columns {', '.join(EVENT_COLUMNS)}; missing {', '.join(missing)}")
    if not table.ts.type().is_timestamp():
        raise DataError(f"{path}: column ts must be a timestamp, not {table.ts.type()}")
    return table.select(*EVENT_COLUMNS)


def _user_days(events: ir.Table) -> ir.Table:
    """One row per account, user, day and event kind (feature name or login), with its event count:
    every feature below is computed from this much smaller table."""
    return (events.mutate(day=events.ts.cast("date"))
            .group_by(["account_id", "user_id", "day", "event"])
            .aggregate(n=lambda t: t.count()))


def monthly_usage(events: ir.Table) -> ir.Table:
    """The contract's usage table: account_id, month (first day), active_users, logins,
    features_used, calls; one row per account and month with at least one event."""
    ud = _user_days(events)
    ud = ud.mutate(month=ud.day.truncate("M").cast("date"))
    # per account, month, user and event kind first: the distinct counts then count rows
    kinds = (ud.group_by(["account_id", "month", "user_id", "event"])
             .aggregate(n=ud.n.sum()))
    kinds = kinds.mutate(is_login=kinds.event == LOGIN)
    users = kinds.group_by(["account_id", "month", "user_id"]).aggregate(
        logins=kinds.n.sum(where=kinds.is_login), calls=kinds.n.sum(where=~kinds.is_login))
    features = (kinds.filter(~kinds.is_login).group_by(["account_id", "month", "event"]).aggregate()
                .group_by(["account_id", "month"]).aggregate(features_used=lambda t: t.count()))
    months = users.group_by(["account_id", "month"]).aggregate(
        active_users=users.count(), logins=users.logins.sum(), calls=users.calls.sum())
    joined = months.left_join(features, ["account_id", "month"])
    return joined.select(
        "account_id", "month",
        active_users=joined.active_users.cast("int64"),
        logins=joined.logins.fill_null(0).cast("int64"),
        features_used=joined.features_used.fill_null(0).cast("int64"),
        calls=joined.calls.fill_null(0).cast("int64"))


def _month_end(day: ir.DateValue, ahead: int) -> ir.DateValue:
    """The last day of the month ``ahead`` months after ``day``'s."""
    return (day.truncate("M") + ibis.interval(months=ahead + 1) - ibis.interval(days=1)).cast("date")


def _windows(days: ir.Table, ends: ir.Table) -> ir.Table:
    """``days`` (rows with a ``day``) once for every month end ``end`` in ``ends`` whose 90-day
    window holds the day, with ``age`` (days before the end, 0..89). A day falls in the windows
    of its own month's end and of at most the next three: an equi-join on those candidates, not a
    range join (which Spark runs as a nested loop)."""
    days = days.mutate(ahead=ibis.literal(list(range(4))).unnest())
    days = days.mutate(end=ibis.cases(*[(days.ahead == k, _month_end(days.day, k)) for k in range(4)]))
    days = days.filter(days.day > days.end - ibis.interval(days=90)).drop("ahead")
    joined = days.join(ends, "end")
    return joined.mutate(age=joined.end.delta(joined.day, unit="day"))


def _last_days(days: ir.Table, key: str) -> ir.Table:
    """Per account, ``key`` value and month, the last day of ``days`` (rows with an account,
    ``key`` and day) in that month."""
    return (days.mutate(month=days.day.truncate("M"))
            .group_by(["account_id", key, "month"]).aggregate(day=lambda t: t.day.max()))


def _distinct_in_windows(last: ir.Table, ends: ir.Table, key: str) -> ir.Table:
    """Per account and month end, the distinct ``key`` values (users, features) with a day in its
    90-day window, and those with one in its last 30 days, from ``last`` (:func:`_last_days`).
    A month's days of a key fall in a window that ends on that month's end or a later one
    exactly when its last day does, so only each month's last day enters the windows (and no
    DISTINCT aggregate runs over them)."""
    w = _windows(last.select("account_id", key, "day"), ends)
    per_key = w.group_by(["account_id", "end", key]).aggregate(recent=(w.age < 30).max())
    return per_key.group_by(["account_id", "end"]).aggregate(
        in90=per_key.count(), in30=per_key.recent.cast("int64").sum())


def trailing_features(events: ir.Table) -> ir.Table:
    """Trailing activity features of every account at every month end with activity in the 90
    days before it (see module docs); one row per account_id and month (of the month end)."""
    ud = _user_days(events)
    # one row per account, user and day (with its events), then per account and day: each
    # grouping from the smaller table before it
    user_days = ud.group_by(["account_id", "user_id", "day"]).aggregate(n=ud.n.sum())
    account_days = user_days.group_by(["account_id", "day"]).aggregate(n=user_days.n.sum())
    # every month end of the data (some account is active in every month of a real company),
    # from the smallest table that has every day
    ends = account_days.select(end=_month_end(account_days.day, 0)).distinct()
    per_day = _windows(account_days, ends)
    counts = per_day.group_by(["account_id", "end"]).aggregate(
        events_30d=per_day.n.sum(where=per_day.age < 30),
        events_prev_30d=per_day.n.sum(where=(per_day.age >= 30) & (per_day.age < 60)),
        events_90d=per_day.n.sum(),
        last_day=per_day.day.max())
    users = _distinct_in_windows(_last_days(user_days, "user_id"), ends, "user_id")
    features = _distinct_in_windows(_last_days(ud.filter(ud.event != LOGIN), "event"), ends, "event")
    windows = (counts.join(users, ["account_id", "end"])
               .left_join(features, ["account_id", "end"], lname="", rname="{name}_feature"))
    windows = windows.select(
        "account_id", "end", "events_30d", "events_prev_30d", "events_90d", "last_day",
        active_users_30d=windows.in30, active_users_90d=windows.in90,
        features_30d=windows.in30_feature.fill_null(0), features_90d=windows.in90_feature.fill_null(0))
    w = windows.mutate(events_30d=windows.events_30d.fill_null(0).cast("int64"),
                       events_prev_30d=windows.events_prev_30d.fill_null(0).cast("int64"),
                       events_90d=windows.events_90d.cast("int64"),
                       active_users_30d=windows.active_users_30d.cast("int64"),
                       active_users_90d=windows.active_users_90d.cast("int64"),
                       features_30d=windows.features_30d.cast("int64"),
                       features_90d=windows.features_90d.cast("int64"))
    # the last activity may be older than 90 days: carry it from the account's earlier month ends
    order = ibis.window(group_by=w.account_id, order_by=w.end, preceding=None, following=0)
    w = w.mutate(last_day=w.last_day.max().over(order))
    return w.select(
        "account_id",
        month=w.end.truncate("M").cast("date"),
        active_users_30d=w.active_users_30d,
        active_users_90d=w.active_users_90d,
        events_30d=w.events_30d,
        events_90d=w.events_90d,
        events_per_user_30d=ibis.ifelse(w.active_users_30d > 0, w.events_30d / w.active_users_30d, ibis.null()),
        features_30d=w.features_30d,
        features_90d=w.features_90d,
        days_since_last_activity=w.end.delta(w.last_day, unit="day").cast("int64"),
        usage_trend_30d=ibis.ifelse(w.events_prev_30d > 0,
                                    (w.events_30d - w.events_prev_30d) / w.events_prev_30d, ibis.null()),
    )


def usage_features(events: ir.Table) -> ir.Table:
    """The usage table with the trailing features of each month's end beside it, one row per
    account and month with activity in the 90 days up to that month's end."""
    usage = monthly_usage(events)
    trailing = trailing_features(events)
    joined = trailing.left_join(usage, ["account_id", "month"])
    return joined.select(
        "account_id", "month",
        active_users=joined.active_users.fill_null(0), logins=joined.logins.fill_null(0),
        features_used=joined.features_used.fill_null(0), calls=joined.calls.fill_null(0),
        **{c: joined[c] for c in trailing.columns if c not in ("account_id", "month")},
    ).order_by(["account_id", "month"])


def write_usage_features(events_path: str | Path, out: str | Path, engine: str = "duckdb",
                         memory_limit: str | None = None) -> int:
    """Compute ``usage_features`` from the events at ``events_path`` and write them atomically to
    ``out`` (.parquet or .csv); returns the number of rows. On DuckDB the result streams from the
    engine into the file and never has to fit in memory; Spark's (small) result is collected."""
    out = Path(out)
    kind = out.suffix.lower()
    if kind not in (".parquet", ".csv"):
        raise DataError(f"{out}: output must end in .parquet or .csv")
    con = connect(engine, memory_limit)
    try:
        expr = usage_features(read_events(con, events_path))
        if engine == "spark":  # Spark would write a folder of part files
            frame = expr.to_pandas()
            write_frame(frame, out)
            return len(frame)
        with atomic_path(out) as tmp:
            (con.to_parquet if kind == ".parquet" else con.to_csv)(expr, tmp)
    finally:
        con.disconnect()
    if kind == ".parquet":
        return pq.ParquetFile(out).metadata.num_rows
    with out.open("rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b"")) - 1


def usage_from_events(events_path: str | Path, memory_limit: str | None = None) -> pd.DataFrame:
    """The monthly usage table computed from raw events on DuckDB, as a DataFrame (month as the
    first day of the month), for datasets that provide events in place of usage."""
    con = connect("duckdb", memory_limit)
    try:
        frame = con.to_pyarrow(monthly_usage(read_events(con, events_path)).order_by(["account_id", "month"]))
    finally:
        con.disconnect()
    out = frame.to_pandas()
    out["month"] = pd.to_datetime(out["month"]).dt.strftime("%Y-%m")
    return out


def complete_usage(usage: pd.DataFrame, subscriptions: pd.DataFrame) -> pd.DataFrame:
    """``usage`` computed from events plus a row of zeros for every month an account paid for
    (MRR > 0) without a single event: for raw events, no event means no use, not unknown."""
    paid = subscriptions.loc[subscriptions["mrr"] > 0, ["account_id", "month"]].drop_duplicates()
    merged = paid.merge(usage, on=["account_id", "month"], how="outer", sort=True)
    counts = [c for c in usage.columns if c not in ("account_id", "month")]
    merged[counts] = merged[counts].fillna(0).astype(usage[counts].dtypes.to_dict())
    return merged.reset_index(drop=True)
