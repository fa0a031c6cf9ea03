"""Point-in-time lookups over dated events of many accounts, vectorised with binary search.

An :class:`EventIndex` sorts one table's events by (account, day) once; each query then answers
for every account at once ("the last event on or before day D", "events in (D − 90, D]") with
``np.searchsorted``, so a snapshot costs O(accounts · log events), whatever the table's size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_SPAN = np.int64(1) << 32  # room for any day number inside one account's key range
_OFFSET = np.int64(1) << 31  # days before 1970 stay positive


def day_numbers(dates: pd.Series | np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 (int64) of datetime-like values; NaT → a large negative number."""
    return np.asarray(dates, dtype="datetime64[D]").astype(np.int64)


class EventIndex:
    """Events of one table, searchable per account by day.

    ``rows``: each event's account position (0..n_accounts−1); ``days``: its day number;
    ``values``: optional per-event values returned by :meth:`last_value`.
    """

    def __init__(self, rows: np.ndarray, days: np.ndarray, n_accounts: int,
                 values: np.ndarray | None = None):
        keys = rows.astype(np.int64) * _SPAN + days.astype(np.int64) + _OFFSET
        order = np.argsort(keys, kind="stable")  # ties keep table order: the later row is "last"
        self.keys = keys[order]
        self.values = None if values is None else np.asarray(values)[order]
        self.n = n_accounts
        self._base = np.arange(n_accounts, dtype=np.int64) * _SPAN + _OFFSET

    def _position(self, day: int | np.ndarray, side: str) -> np.ndarray:
        return np.searchsorted(self.keys, self._base + np.asarray(day, dtype=np.int64), side=side)

    def count_between(self, after: int | np.ndarray, upto: int | np.ndarray) -> np.ndarray:
        """Per account, the number of events with after < day ≤ upto."""
        return self._position(upto, "right") - self._position(after, "right")

    def count_upto(self, upto: int | np.ndarray) -> np.ndarray:
        """Per account, the number of events on or before ``upto``."""
        return self._position(upto, "right") - np.searchsorted(self.keys, self._base, side="left")

    def last_day(self, upto: int | np.ndarray) -> np.ndarray:
        """Per account, the day of its last event on or before ``upto`` (NaN if none)."""
        found, pos = self._last(upto)
        return np.where(found, (self.keys[pos] - self._base).astype(float) if found.any() else np.nan, np.nan)

    def last_value(self, upto: int | np.ndarray) -> np.ndarray:
        """Per account, the value of its last event on or before ``upto`` (NaN if none)."""
        found, pos = self._last(upto)
        return np.where(found, self.values[pos].astype(float) if found.any() else np.nan, np.nan)

    def _last(self, upto: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per account: whether it has an event on or before ``upto``, and the position of the last
        one (0 where none, always a valid index when there is any event; an empty table has none)."""
        if self.keys.size == 0:  # an empty table (header only): no account has an event
            return np.zeros(self.n, bool), np.zeros(self.n, np.int64)
        pos = self._position(upto, "right") - 1
        safe = np.maximum(pos, 0)
        found = (pos >= 0) & (self.keys[safe] >= self._base) & (self.keys[safe] < self._base + _SPAN)
        return found, safe
