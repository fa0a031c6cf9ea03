"""Raw product events for the demo company, consistent with its monthly usage table.

For every usage row (account, month, active_users U, logins L, calls C, features_used F) the
account has L ``login`` events and C feature events in that month, spread over its U users
(every user has at least one event) and over F distinct features (every one used at least
once, when there are at least as many calls), at uniformly random times.
``cs_analysis.data.events.monthly_usage`` of these events gives back the users, logins, calls and
features of every account-month with active users (features: 1 where the table has calls but
F = 0, as a call event always names a feature). Written month by month as Parquet
(``events/month=YYYY-MM/part-0.parquet``), so memory stays bounded at 10⁸+ events.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cs_analysis.data.demo.simulator import N_FEATURES
from cs_analysis.data.io import atomic_path

FEATURES = np.array([f"feature_{i:02d}" for i in range(1, N_FEATURES + 1)])
EVENT_NAMES = np.concatenate([["login"], FEATURES])
USERS_PER_ACCOUNT = 1_000_000  # user ids: account number × this + user number


def _month_events(rows: pd.DataFrame, month: pd.Period, rng: np.random.Generator) -> pa.Table:
    """The events of one month's usage rows, as an Arrow table."""
    logins = rows["logins"].to_numpy(np.int64)
    calls = rows["calls"].to_numpy(np.int64)
    users = rows["active_users"].to_numpy(np.int64)
    features = rows["features_used"].to_numpy(np.int64)
    codes = rows["account_id"].cat.codes.to_numpy(np.int64)
    n = logins + calls
    row = np.repeat(np.arange(len(rows)), n)
    j = np.arange(row.size) - np.repeat(np.cumsum(n) - n, n)  # position within the account-month
    is_login = j < logins[row]
    user = codes[row] * USERS_PER_ACCOUNT + j % np.maximum(users[row], 1)
    call = j - logins[row]
    feature = (codes[row] + call % np.maximum(features[row], 1)) % N_FEATURES
    event = np.where(is_login, 0, feature + 1).astype(np.int32)
    start = np.datetime64(month.start_time, "us").astype(np.int64)
    seconds = month.days_in_month * 86_400
    ts = start + rng.integers(0, seconds * 1_000_000, row.size, dtype=np.int64)
    return pa.table({
        "account_id": pa.DictionaryArray.from_arrays(pa.array(codes[row].astype(np.int32)),
                                                     pa.array(rows["account_id"].cat.categories.astype(str))),
        "user_id": pa.array(user),
        "event": pa.DictionaryArray.from_arrays(pa.array(event), pa.array(EVENT_NAMES)),
        "ts": pa.array(ts, pa.timestamp("us")),
    })


def write_events(usage: pd.DataFrame, out: str | Path, seed: int) -> int:
    """Write the events behind ``usage`` (the demo's usage table) into ``out``; returns their number."""
    out = Path(out)
    rng = np.random.default_rng([seed, 7919])  # its own stream: the other tables do not change
    months = pd.PeriodIndex(usage["month"].astype(str), freq="M")
    total = 0
    for month in months.unique().sort_values():
        table = _month_events(usage[months == month], month, rng)
        with atomic_path(out / f"month={month}" / "part-0.parquet") as tmp:
            pq.write_table(table, tmp, compression="zstd")
        total += table.num_rows
    return total
