"""Raw events → usage and activity features: hand-worked values, the demo's consistency, no
leakage, the CLI, and DuckDB/Spark parity."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cs_analysis.cli import main
from cs_analysis.data import events as ev
from cs_analysis.data.dataset import load_dataset
from cs_analysis.data.demo import DemoSpec, write_demo
from cs_analysis.errors import DataError

SMALL = pd.DataFrame({
    "account_id": ["A", "A", "A", "A", "B", "A"],
    "user_id": ["u1", "u2", "u1", "u1", "v1", "u3"],
    "event": ["login", "report", "export", "login", "login", "report"],
    "ts": pd.to_datetime(["2025-01-05 10:00", "2025-01-20 09:00", "2025-01-31 23:59", "2025-02-10 08:00",
                          "2025-03-01 00:00", "2025-04-30 12:00"]),
})
# by hand (month ends Jan 31 .. Apr 30; 30-day window: the 30 days ending on the month end)
EXPECTED = pd.DataFrame({
    "account_id": ["A", "A", "A", "A", "B", "B"],
    "month": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01", "2025-03-01", "2025-04-01"]),
    "active_users": [2, 1, 0, 1, 1, 0],
    "logins": [1, 1, 0, 0, 1, 0],
    "features_used": [2, 0, 0, 1, 0, 0],
    "calls": [2, 0, 0, 1, 0, 0],
    "active_users_30d": [2, 1, 0, 1, 0, 0],
    "active_users_90d": [2, 2, 2, 2, 1, 1],
    "events_30d": [3, 2, 0, 1, 0, 0],
    "events_90d": [3, 4, 4, 3, 1, 1],
    "events_per_user_30d": [1.5, 2.0, np.nan, 1.0, np.nan, np.nan],
    "features_30d": [2, 1, 0, 1, 0, 0],
    "features_90d": [2, 2, 2, 2, 0, 0],
    "days_since_last_activity": [0, 18, 49, 0, 30, 60],
    "usage_trend_30d": [np.nan, 0.0, -1.0, np.nan, -1.0, np.nan],
})


def _features(path: Path, engine: str) -> pd.DataFrame:
    con = ev.connect(engine)
    try:
        frame = ev.usage_features(ev.read_events(con, path)).to_pandas()
    finally:
        con.disconnect()
    frame["month"] = pd.to_datetime(frame["month"])
    return frame.astype({c: "float64" for c in frame.columns if c not in ("account_id", "month")})


@pytest.fixture(scope="module")
def small_events(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("events") / "events.parquet"
    SMALL.to_parquet(path)
    return path


def test_usage_features_by_hand(small_events: Path):
    got = _features(small_events, "duckdb")
    want = EXPECTED.astype({c: "float64" for c in EXPECTED.columns if c not in ("account_id", "month")})
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_window_counts_equal_a_brute_force_over_random_events(tmp_path: Path):
    """Distinct users and features, and events, in each month end's 30- and 90-day windows, as a
    plain loop over the days counts them: users with several days in a month, some in a window
    and some out of it, and month ends 28 to 31 days apart."""
    rng = np.random.default_rng(7)
    n = 3000
    days = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 240, n), unit="D")
    events = pd.DataFrame({
        "account_id": rng.choice(["A", "B", "C"], n),
        "user_id": rng.choice([f"u{i}" for i in range(12)], n),
        "event": rng.choice(["login", "report", "export", "share", "api"], n, p=[0.4, 0.2, 0.2, 0.1, 0.1]),
        "ts": days + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"),
    })
    path = tmp_path / "events.parquet"
    events.to_parquet(path)
    got = _features(path, "duckdb").set_index(["account_id", "month"])
    day = events["ts"].dt.normalize()
    for (account, month), row in got.iterrows():
        end = month + pd.offsets.MonthEnd(0)
        mine = events[(events["account_id"] == account) & (day <= end)]
        age = (end - day[mine.index]).dt.days
        for span in (30, 90):
            w = mine[age < span]
            feats = w.loc[w["event"] != "login", "event"]
            assert row[f"active_users_{span}d"] == w["user_id"].nunique(), (account, month, span)
            assert row[f"features_{span}d"] == feats.nunique(), (account, month, span)
            assert row[f"events_{span}d"] == len(w), (account, month, span)


@pytest.fixture(scope="module")
def demo_events(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo-events")
    write_demo(folder, DemoSpec(accounts=120, months=18, end="2026-06", seed=11), fmt="parquet", events=True)
    return folder


def test_demo_events_give_back_the_usage_table(demo_events: Path, tmp_path: Path):
    """Every account-month with active users is given back exactly, features too, except where
    the demo's table counts calls with no feature (an event must name one: the events show 1).
    Months without any user become zeros (the demo's table may still count features there,
    which no event can show)."""
    without_usage = tmp_path / "data"
    shutil.copytree(demo_events, without_usage)
    (without_usage / "usage.parquet").unlink()
    given, derived = load_dataset(demo_events), load_dataset(without_usage)
    assert "usage computed from the raw events in events/" in derived.notes
    key = ["account_id", "month"]
    a = given.usage.sort_values(key, ignore_index=True).astype({"account_id": str})
    b = derived.usage.sort_values(key, ignore_index=True).astype({"account_id": str})
    pd.testing.assert_frame_equal(a[key], b[key])
    used = (a["active_users"] > 0).to_numpy()
    featureless_calls = used & ((a["calls"] > 0) & (a["features_used"] == 0)).to_numpy()
    assert used.mean() > 0.8 and featureless_calls.mean() < 0.01
    exact = [*key, "active_users", "logins", "calls"]
    pd.testing.assert_frame_equal(a.loc[used, exact].reset_index(drop=True), b.loc[used, exact].reset_index(drop=True),
                                  check_dtype=False)
    same = used & ~featureless_calls
    assert (a.loc[same, "features_used"].to_numpy() == b.loc[same, "features_used"].to_numpy()).all()
    assert (b.loc[featureless_calls, "features_used"] == 1).all()
    assert (b.loc[a["active_users"] == 0, ["active_users", "logins", "calls", "features_used"]] == 0).all().all()


def test_monthly_usage_has_no_leakage(demo_events: Path, tmp_path: Path):
    """Features at a month end use only events up to it: dropping every later event changes nothing."""
    full = _features(demo_events / "events", "duckdb")
    cut = pd.Timestamp("2026-01-31")
    events = pd.read_parquet(demo_events / "events")
    early = tmp_path / "early.parquet"
    events[events["ts"] < cut + pd.Timedelta(days=1)][list(ev.EVENT_COLUMNS)].to_parquet(early)
    truncated = _features(early, "duckdb")
    before = full[full["month"] <= cut].reset_index(drop=True)
    assert len(before) > 100
    pd.testing.assert_frame_equal(before, truncated, check_dtype=False)


def test_cli_writes_features_under_a_memory_limit(demo_events: Path, tmp_path: Path, capsys):
    out = tmp_path / "features.parquet"
    assert main(["usage-features", "--events", str(demo_events / "events"), "--out", str(out),
                 "--memory-limit", "256MB"]) == 0
    frame = pd.read_parquet(out)
    assert "account-months" in capsys.readouterr().err
    assert {"active_users", "features_30d", "days_since_last_activity", "usage_trend_30d"} <= set(frame.columns)
    assert not frame.duplicated(["account_id", "month"]).any()
    csv = tmp_path / "features.csv"
    assert main(["usage-features", "--events", str(demo_events / "events"), "--out", str(csv)]) == 0
    assert len(pd.read_csv(csv)) == len(frame)


def test_bad_events_are_named(tmp_path: Path, small_events: Path, capsys):
    broken = tmp_path / "broken.parquet"
    SMALL.drop(columns=["user_id"]).to_parquet(broken)
    con = ev.connect()
    with pytest.raises(DataError, match="missing user_id"):
        ev.read_events(con, broken)
    with pytest.raises(DataError, match="no Parquet event files"):
        ev.read_events(con, tmp_path / "nothing")
    with pytest.raises(DataError, match="write it like 2GB"):
        ev.connect("duckdb", "lots")
    assert main(["usage-features", "--events", str(small_events), "--out", str(tmp_path / "x.txt")]) == 2
    assert ".parquet or .csv" in capsys.readouterr().err


def _spark_missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install '.[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java is not installed (Spark needs Java 17+)"
    return None


@pytest.mark.skipif(_spark_missing() is not None, reason=str(_spark_missing()))
def test_spark_and_duckdb_give_identical_features(demo_events: Path, small_events: Path, tmp_path: Path,
                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CS_ANALYSIS_SPARK_MASTER", "local[2]")
    for path in (small_events, demo_events / "events"):
        duck = _features(path, "duckdb").sort_values(["account_id", "month"], ignore_index=True)
        spark = _features(path, "spark").sort_values(["account_id", "month"], ignore_index=True)
        pd.testing.assert_frame_equal(duck.astype({"account_id": str}), spark.astype({"account_id": str}),
                                      check_dtype=False)
    assert not list(tmp_path.iterdir()), "Spark left files in the working folder"
