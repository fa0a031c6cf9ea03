"""Validate raw tables against the data contract and type them, reporting every problem at once.

Nothing is dropped or silently coerced: a cell that does not parse, a value out of range, a
duplicate key or an unknown account is a :class:`Problem`; if any exist, :class:`ValidationError`
lists them all and no data is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api import types as ptypes

from cs_analysis.errors import DataError
from cs_analysis.io import RawTable
from cs_analysis.schema import REQUIRED_TABLES, TABLES, Column, Table

MAX_EXAMPLES = 5
# "¥1,200", "￥1,200", "\1,200" (CP932 shows ¥ as a backslash), "1,200", "-1,200.5", "1200"
_MONEY = r"-?[¥￥\\]?\s*-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"


@dataclass(frozen=True)
class Problem:
    """One failed check: where, what, how many rows, the first row numbers and example values."""

    table: str
    column: str | None
    check: str
    source: str
    count: int = 0
    rows: tuple[int, ...] = ()
    examples: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        text = f"{where} [{self.source}]: {self.check}"
        if self.count:
            more = ", ..." if self.count > len(self.rows) else ""
            plural = "s" if self.count != 1 else ""
            text += f": {self.count} row{plural} (rows {', '.join(map(str, self.rows))}{more})"
        if self.examples:
            text += "; values " + ", ".join(self.examples)
        return text


class ValidationError(DataError):
    """The data breaks the contract; ``problems`` lists every failed check."""

    def __init__(self, where: str, problems: list[Problem]):
        self.problems = problems
        lines = [
            f"{where}: {len(problems)} problem{'s' if len(problems) != 1 else ''} found; "
            "nothing was loaded. Row numbers are as in the file (CSV: the header is row 1)."
        ]
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


def _show(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "(empty)"
    text = str(value)
    return repr(text) if text.strip() else "(blank)"


class _TableCheck:
    """Collects the problems of one raw table while typing its columns."""

    def __init__(self, raw: RawTable, table: Table):
        self.raw, self.table = raw, table
        self.problems: list[Problem] = []

    def fail(self, column: str | None, check: str, mask: np.ndarray | pd.Series) -> None:
        idx = np.flatnonzero(np.asarray(mask, dtype=bool))
        if idx.size == 0:
            return
        first = idx[:MAX_EXAMPLES]
        values: tuple[str, ...] = ()
        if column is not None and column in self.raw.frame.columns:
            values = tuple(_show(v) for v in self.raw.frame[column].iloc[first])
        self.problems.append(
            Problem(
                self.table.name,
                column,
                check,
                self.raw.source,
                int(idx.size),
                tuple(int(i) + self.raw.row_offset for i in first),
                values,
            )
        )

    def note(self, column: str | None, check: str) -> None:
        self.problems.append(Problem(self.table.name, column, check, self.raw.source))


def _is_text(series: pd.Series) -> bool:
    return ptypes.is_string_dtype(series) or ptypes.is_object_dtype(series)


def _blank(series: pd.Series) -> pd.Series:
    missing = series.isna()
    if _is_text(series):
        missing |= series.astype("str").str.strip().eq("").fillna(False).astype(bool)
    return missing


def _to_number(series: pd.Series, money: bool) -> pd.Series:
    if ptypes.is_bool_dtype(series):
        return pd.Series(np.nan, index=series.index)
    if ptypes.is_numeric_dtype(series):
        out = series.astype("float64")
    else:
        try:  # fast path: every cell is a plain number (or empty)
            out = series.astype("float64")
        except (ValueError, TypeError):
            text = series.astype("str").str.strip()
            if money:
                is_money = text.str.fullmatch(_MONEY).fillna(False).astype(bool)
                text = text.where(~is_money, text.str.replace(r"[¥￥\\,\s]", "", regex=True))
            out = pd.to_numeric(text, errors="coerce").astype("float64")
    return out.where(np.isfinite(out))


def _to_datetime(series: pd.Series) -> pd.Series:
    if ptypes.is_datetime64_any_dtype(series):
        out = series
    elif ptypes.infer_dtype(series, skipna=True) in ("string", "empty"):
        try:  # fast path: clean ISO dates
            out = pd.to_datetime(series, format="ISO8601")
        except (ValueError, TypeError):
            text = series.astype("str").str.strip().str.replace("/", "-", regex=False)
            out = pd.to_datetime(text, format="ISO8601", errors="coerce")
    elif ptypes.is_object_dtype(series):  # date objects from Parquet / DuckDB
        out = pd.to_datetime(series, errors="coerce")
    else:
        out = pd.Series(pd.NaT, index=series.index)
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_localize(None)
    return out.astype("datetime64[us]")


def _isin(series: pd.Series, values: pd.Series | tuple[str, ...]) -> pd.Series:
    """Membership test in Arrow (pandas' isin on Arrow strings loops in Python)."""
    value_set = pa.array(pd.Series(values, dtype="str").dropna().unique(), type=pa.string())
    found = pc.is_in(pa.array(series.astype("str"), type=pa.string(), from_pandas=True), value_set=value_set)
    return pd.Series(found.to_numpy(zero_copy_only=False), index=series.index, dtype=bool)


def _type_column(check: _TableCheck, col: Column, raw: pd.Series) -> pd.Series:
    if isinstance(raw.dtype, pd.CategoricalDtype):  # e.g. dictionary-encoded Parquet columns
        raw = raw.astype(raw.cat.categories.dtype)
    blank = _blank(raw)
    if not col.nullable:
        check.fail(col.name, "missing value", blank)
    if col.kind in ("id", "str"):
        if ptypes.is_float_dtype(raw) and raw.dropna().mod(1).eq(0).all():
            raw = raw.astype("Int64")  # ids stored as numbers in Parquet/DuckDB
        typed = raw.astype("str").where(~blank)
    elif col.kind in ("int", "float", "money"):
        typed = _to_number(raw, money=col.kind == "money")
        bad = ~blank & typed.isna()
        if bad.any():
            hint = ""
            if col.kind != "money" and _is_text(raw):
                looks_money = raw.astype("str").str.strip().str.fullmatch(_MONEY).fillna(False)
                if bool((bad & looks_money.astype(bool)).any()):
                    hint = " (thousands separators and ¥ are accepted only in money columns)"
            check.fail(col.name, f"not a number{hint}", bad)
        if col.kind == "int":
            check.fail(col.name, "not a whole number", typed.notna() & typed.mod(1).ne(0))
    else:  # date, month
        typed = _to_datetime(raw)
        check.fail(col.name, "not a date (expected YYYY-MM-DD)", ~blank & typed.isna())
        if col.kind == "month":
            off = typed.notna() & (typed.dt.day.ne(1) | typed.ne(typed.dt.normalize()))
            check.fail(col.name, "not the first day of a month", off)
    if col.min is not None:
        check.fail(col.name, f"must be >= {col.min:g}", typed.notna() & (typed < col.min))
    if col.max is not None:
        check.fail(col.name, f"must be <= {col.max:g}", typed.notna() & (typed > col.max))
    if col.allowed is not None:
        bad = typed.notna() & ~_isin(typed, col.allowed)
        check.fail(col.name, f"not one of {', '.join(col.allowed)}", bad)
    return typed


def _final_dtype(col: Column, series: pd.Series) -> pd.Series:
    if col.kind == "int":
        return series.astype("Int64" if col.nullable else "int64")
    return series


def _type_table(raw: RawTable, table: Table) -> tuple[pd.DataFrame, list[Problem]]:
    check = _TableCheck(raw, table)
    frame = raw.frame
    found = [str(c) for c in frame.columns]
    dupes = sorted({c for c in found if found.count(c) > 1})
    if dupes:
        check.note(None, f"duplicate column name(s) {', '.join(dupes)}")
        return frame, check.problems
    for col in table.columns:
        if col.required and col.name not in frame.columns:
            check.note(col.name, f"required column missing (found: {', '.join(found) or 'none'})")
    if frame.empty and not check.problems:
        check.note(None, "no data rows")
    typed: dict[str, pd.Series] = {}
    for col in table.columns:
        if col.name in frame.columns:
            typed[col.name] = _type_column(check, col, frame[col.name])
    if table.key and all(k in typed for k in table.key):
        keys = pd.DataFrame({k: typed[k] for k in table.key})
        complete = keys.notna().all(axis=1)
        dup = complete & keys.duplicated(keep=False)
        check.fail(table.key[-1], f"duplicate key ({', '.join(table.key)})", dup)
    for early, late in table.ordered:
        if early in typed and late in typed:
            check.fail(late, f"earlier than {early}", typed[late] < typed[early])
    out = frame.copy(deep=False)
    for col in table.columns:
        if col.name in typed:
            out[col.name] = typed[col.name]
    if not check.problems:
        for col in table.columns:
            if col.name in out:
                out[col.name] = _final_dtype(col, out[col.name])
    return out.reset_index(drop=True), check.problems


def validate_tables(
    raw_tables: dict[str, RawTable], where: str
) -> dict[str, pd.DataFrame]:
    """Type every raw table and check the whole contract; raise :class:`ValidationError`."""
    problems: list[Problem] = []
    for name in REQUIRED_TABLES:
        if name not in raw_tables:
            problems.append(
                Problem(name, None, "required table missing (expected "
                        f"{name}.csv or {name}.parquet)", where)
            )
    typed: dict[str, pd.DataFrame] = {}
    for table in TABLES:
        if table.name in raw_tables:
            frame, found = _type_table(raw_tables[table.name], table)
            typed[table.name] = frame
            problems += found
    accounts = typed.get("accounts")
    if accounts is not None and "account_id" in accounts.columns:
        known = accounts["account_id"].dropna()
        for table in TABLES:
            frame = typed.get(table.name)
            if table.name == "accounts" or frame is None or "account_id" not in frame.columns:
                continue
            check = _TableCheck(raw_tables[table.name], table)
            ids = frame["account_id"]
            check.fail("account_id", "unknown account_id (not in accounts)",
                       ids.notna() & ~_isin(ids, known))
            problems += check.problems
    if problems:
        raise ValidationError(where, problems)
    return typed

