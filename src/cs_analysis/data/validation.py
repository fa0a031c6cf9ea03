"""Validate raw tables against the data contract and type them, reporting every problem at once.

Nothing is dropped or silently coerced: a cell that does not parse, a value out of range, a
duplicate key or an unknown account is a :class:`Problem`; if any exist, :class:`ValidationError`
lists them all and no data is returned.
"""

from __future__ import annotations

import difflib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api import types as ptypes

from cs_analysis.config.machine import usable_cores
from cs_analysis.config.settings import DateLimits
from cs_analysis.data.io import RawTable
from cs_analysis.data.schema import BOOL_FALSE, BOOL_TRUE, MRR_SOURCES, REQUIRED_TABLES, TABLES, Column, Table
from cs_analysis.errors import ValidationError

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
                tuple(int(i) for i in self.raw.row_numbers(first)),
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


# Full-width forms Japanese Excel writes, read as their ASCII forms (digits, sign, point, comma).
_FULL_WIDTH = {chr(0xFF10 + i): str(i) for i in range(10)} | {"－": "-", "＋": "+", "．": ".", "，": ","}
# The one number syntax (after full-width forms are read as ASCII and surrounding spaces are
# trimmed): an optional sign, ASCII digits, an optional decimal part. No inner spaces, exponents,
# underscores or other scripts' digits.
_PLAIN = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$"
# money may also carry a yen sign (¥, ￥, or \ as CP932 shows ¥) and thousands separators
_MONEY_RE2 = r"^(?:[+-]?[¥￥\\]?|[¥￥\\][+-])(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?$"
MAX_EXACT_INT = 2**53  # whole numbers beyond this are not exact as float64 (nor plausible counts)


def _ascii_forms(text: pa.Array) -> pa.Array:
    """Full-width digits, sign, point and comma as ASCII (only when the column has any)."""
    if not pc.any(pc.invert(pc.string_is_ascii(text))).as_py():
        return text
    for wide, narrow in _FULL_WIDTH.items():
        text = pc.replace_substring(text, wide, narrow)
    return text


def _to_number(series: pd.Series, money: bool) -> pd.Series:
    """Numbers of a column; NaN where a cell is empty or not a number in the documented syntax
    (docs/data-contract.md): plain decimals, full-width digits accepted, ¥ and thousands
    separators in money columns only. Numeric columns (Parquet, DuckDB) pass as they are,
    non-finite values being NaN."""
    if ptypes.is_bool_dtype(series):
        return pd.Series(np.nan, index=series.index)
    if ptypes.is_numeric_dtype(series):
        out = series.astype("float64")
        return out.where(np.isfinite(out))
    text = pc.utf8_trim_whitespace(_ascii_forms(pa.array(series.astype("str"), type=pa.large_string(),
                                                         from_pandas=True)))
    ok = pc.fill_null(pc.match_substring_regex(text, _MONEY_RE2 if money else _PLAIN), False)
    if money:
        text = pc.replace_substring_regex(text, r"[¥￥\\,]", "")
    values = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.large_string())), pa.float64())
    out = pd.Series(values.to_numpy(zero_copy_only=False), index=series.index, dtype="float64")
    return out.where(np.isfinite(out))


_OFFSET = r"(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)$"  # a UTC offset at the end of a date-time
# a time of day, optional spaces (Python's \s: Unicode spaces and the ASCII separators) and an offset
_TIME_OFFSET = r"[0-9]:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?[\t\n\v\f\r \x1c-\x1f\x85\p{Z}]*" + _OFFSET


def _has_offset(text: pd.Series) -> pd.Series:
    """Cells holding a date-time with a UTC offset, found in Arrow (RE2): only columns with a
    ``:`` are searched at all."""
    arr = pa.array(text, type=pa.large_string(), from_pandas=True)
    found = np.zeros(len(text), dtype=bool)
    if pc.any(pc.match_substring(arr, ":")).as_py():
        found = pc.fill_null(pc.match_substring_regex(arr, _TIME_OFFSET), False).to_numpy(zero_copy_only=False)
    return pd.Series(found, index=text.index)


def _to_datetime(series: pd.Series, timezone: str = "Asia/Tokyo") -> pd.Series:
    """Dates of a column (NaT where empty or not a date). A date-time with a UTC offset (``Z``,
    ``+09:00``) is converted to the local date-time of ``timezone``; so are time-zone-aware
    timestamps from Parquet or DuckDB; naive ones are taken as local already."""
    if ptypes.is_datetime64_any_dtype(series):
        out = series
    elif ptypes.infer_dtype(series, skipna=True) in ("string", "empty"):
        text = series.astype("str").str.strip()
        with_offset = _has_offset(text)
        if with_offset.any():
            aware = pd.to_datetime(text.where(with_offset).str.replace("/", "-", regex=False),
                                   format="ISO8601", errors="coerce", utc=True)
            local = aware.dt.tz_convert(timezone).dt.tz_localize(None).astype("datetime64[us]")
            naive = _naive_dates(text.where(~with_offset))
            out = local.where(with_offset, naive)
        else:
            out = _naive_dates(text)
    elif ptypes.is_object_dtype(series):  # date objects from Parquet / DuckDB
        try:
            out = pd.to_datetime(series, errors="coerce")
        except (ValueError, TypeError):  # mixed time zones among datetime objects
            out = pd.to_datetime(series, errors="coerce", utc=True).dt.tz_convert(timezone)
    else:
        out = pd.Series(pd.NaT, index=series.index)
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert(timezone).dt.tz_localize(None)
    return out.astype("datetime64[us]")


# Japanese spreadsheet dates: 2025/4/1, 2025-4-1, 2025年4月1日 (time of day may follow)
_LOOSE_DATE = r"^(\d{4})(?:[/\-]|年)(\d{1,2})(?:[/\-]|月)(\d{1,2})日?(?=$|[ T])"


def _naive_dates(text: pd.Series) -> pd.Series:
    try:  # fast path: clean ISO dates
        out = pd.to_datetime(text, format="ISO8601")
    except (ValueError, TypeError, OverflowError):
        parts = text.str.extract(_LOOSE_DATE)
        loose = parts[0].notna()
        if loose.any():  # zero-padded ISO form, the rest of the cell (a time) kept
            iso = parts[0] + "-" + parts[1].str.zfill(2) + "-" + parts[2].str.zfill(2)
            text = text.where(~loose, iso + text.str.replace(_LOOSE_DATE, "", regex=True))
        out = pd.to_datetime(text.str.replace("/", "-", regex=False), format="ISO8601", errors="coerce")
    if getattr(out.dt, "tz", None) is not None:  # cannot happen for text without offsets
        out = out.dt.tz_localize(None)
    return out.astype("datetime64[us]")


def _to_bool(series: pd.Series) -> pd.Series:
    """Booleans of a column (nullable; NA where empty or not a recognised spelling)."""
    if ptypes.is_bool_dtype(series):
        return series.astype("boolean")
    if ptypes.is_numeric_dtype(series):
        out = pd.Series(pd.NA, index=series.index, dtype="boolean")
        out[series.eq(1).fillna(False).astype(bool)] = True
        out[series.eq(0).fillna(False).astype(bool)] = False
        return out
    text = series.astype("str").str.strip().str.casefold()
    out = pd.Series(pd.NA, index=series.index, dtype="boolean")
    out[text.isin(BOOL_TRUE).fillna(False).astype(bool)] = True
    out[text.isin(BOOL_FALSE).fillna(False).astype(bool)] = False
    return out.where(series.notna(), pd.NA)


def _isin(series: pd.Series, values: pd.Series | tuple[str, ...]) -> pd.Series:
    """Membership test in Arrow (pandas' isin on Arrow strings loops in Python)."""
    value_set = pa.array(pd.Series(values, dtype="str").dropna().unique(), type=pa.string())
    found = pc.is_in(pa.array(series.astype("str"), type=pa.string(), from_pandas=True), value_set=value_set)
    return pd.Series(found.to_numpy(zero_copy_only=False), index=series.index, dtype=bool)


def _decoded(raw: pd.Series) -> pd.Series:
    """A categorical (dictionary) column as plain values; text categories decoded in Arrow (a
    take by the codes: pandas' astype rebuilds every string, 12x slower)."""
    categories = raw.cat.categories
    if not ptypes.is_string_dtype(categories.dtype):
        missing = bool(raw.isna().any())  # whole numbers with gaps: floats (NaN), as undictionaried
        return raw.astype("float64" if missing and ptypes.is_integer_dtype(categories.dtype) else categories.dtype)
    codes = raw.cat.codes.to_numpy()
    decoded = pa.DictionaryArray.from_arrays(
        pa.array(codes, mask=codes < 0), pa.array(categories, type=pa.large_string(), from_pandas=True)
    ).dictionary_decode()
    text = decoded.to_pandas(types_mapper={pa.large_string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get)
    return pd.Series(text.array, index=raw.index, name=raw.name)


def _type_column(check: _TableCheck, col: Column, raw: pd.Series, limits: DateLimits) -> pd.Series:
    if isinstance(raw.dtype, pd.CategoricalDtype):  # e.g. dictionary-encoded Parquet columns
        raw = _decoded(raw)
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
            huge = typed.notna() & (typed.abs() > MAX_EXACT_INT)
            check.fail(col.name, f"whole number out of range (at most {MAX_EXACT_INT:,} in size)", huge)
            typed = typed.where(~huge)
    elif col.kind == "bool":
        typed = _to_bool(raw)
        check.fail(col.name, "not true/false (also yes/no, 1/0)", ~blank & typed.isna())
    else:  # date, month
        typed = _to_datetime(raw, limits.timezone)
        check.fail(col.name, "not a date (expected YYYY-MM-DD)", ~blank & typed.isna())
        earliest, latest = limits.earliest, limits.latest(col)
        implausible = typed.notna() & ((typed < earliest) | (typed > latest))
        check.fail(col.name, f"implausible date (outside {earliest:%Y-%m-%d}..{latest:%Y-%m-%d}; "
                             "see the setting max_years_ahead)", implausible)
        typed = typed.where(~implausible)
        if col.kind == "month":
            off = typed.notna() & (typed.dt.day.ne(1) | typed.ne(typed.dt.normalize()))
            check.fail(col.name, "not the first day of a month", off)
    if col.kind == "bool":
        return typed
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


def _key(name: str) -> str:
    """A column name compared loosely: case, spaces and hyphens ignored."""
    return re.sub(r"[\s\-]+", "_", str(name).strip()).casefold()


def near_misses(found: list[str], table: Table) -> dict[str, str]:
    """Columns of the file that are not contract columns but look like one that is absent
    (same name but for case, spacing or a small typo): source column → contract column."""
    expected = [c.name for c in table.columns if c.name not in found]
    by_key = {_key(c): c for c in expected}
    out = {}
    for col in found:
        if col in (c.name for c in table.columns):
            continue
        match = by_key.get(_key(col)) or next(iter(difflib.get_close_matches(_key(col), expected, 1, 0.85)), None)
        if match is not None:
            out[col] = match
    return out


def _type_table(raw: RawTable, table: Table, limits: DateLimits | None = None,
                notes: list[str] | None = None) -> tuple[pd.DataFrame, list[Problem]]:
    limits = limits or DateLimits()
    check = _TableCheck(raw, table)
    frame = raw.frame
    found = [str(c) for c in frame.columns]
    dupes = sorted({c for c in found if found.count(c) > 1})
    if dupes:
        check.note(None, f"duplicate column name(s) {', '.join(dupes)}")
        return frame, check.problems
    misses = near_misses(found, table)
    for col in table.columns:
        if col.required and col.name not in frame.columns:
            like = [src for src, dst in misses.items() if dst == col.name]
            hint = f"; {like[0]!r} differs only in case, spacing or spelling" if like else ""
            check.note(col.name, f"required column missing (found: {', '.join(found) or 'none'}){hint}")
    if notes is not None:
        for src, dst in misses.items():
            if table.column(dst).required:
                continue
            notes.append(f"{raw.source}: column {src!r} was not used: the contract's optional column is "
                         f"{dst!r} (names must match exactly; rename it to use it)")
    if frame.empty and table.required and not check.problems:
        check.note(None, "no data rows")
    typed: dict[str, pd.Series] = {}
    for col in table.columns:
        if col.name in frame.columns:
            typed[col.name] = _type_column(check, col, frame[col.name], limits)
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


PRICES = ("mrr", "arr", "amount")  # a contract's price: exactly one of these columns


def _contract_rules(raw: RawTable, table: Table, frame: pd.DataFrame) -> list[Problem]:
    """A contract's price: exactly one price column, filled on every paid (non-trial) row."""
    check = _TableCheck(raw, table)
    given = [c for c in PRICES if c in frame.columns]
    if len(given) != 1:
        what = f"{len(given)} are given ({', '.join(given)})" if given else "none is given"
        check.note(None, f"give the price as exactly one of the columns mrr, arr or amount "
                         f"(+ billing_period_months); {what}")
        return check.problems
    if "billing_period_months" in frame.columns and given != ["amount"]:
        check.note("billing_period_months", "billing_period_months goes with amount (the amount per "
                                            f"billing period), not with {given[0]}")
    trial = frame["trial"].fillna(False).astype(bool) if "trial" in frame.columns else False
    check.fail(given[0], "missing price on a paid (non-trial) contract", frame[given[0]].isna() & ~trial)
    return check.problems


def _line_rules(raw: RawTable, table: Table, frame: pd.DataFrame) -> list[Problem]:
    """A recurring invoice line has a non-negative amount (a credit is a refund line)."""
    check = _TableCheck(raw, table)
    kind = frame["kind"].fillna("recurring") if "kind" in frame.columns else "recurring"
    check.fail("amount", "negative amount on a recurring line (give credits as kind refund)",
               (frame["amount"] < 0) & pd.Series(kind == "recurring", index=frame.index))
    return check.problems


def _fx_rules(raw_tables: dict[str, RawTable], typed: dict[str, pd.DataFrame], currency: str) -> list[Problem]:
    """Rows in another currency than the settings' need an fx_rates rate at their start month."""
    problems: list[Problem] = []
    fx = typed.get("fx_rates")
    if fx is not None and "rate" in fx.columns:
        check = _TableCheck(raw_tables["fx_rates"], next(t for t in TABLES if t.name == "fx_rates"))
        check.fail("rate", "must be > 0", fx["rate"].notna() & (fx["rate"] <= 0))
        problems += check.problems
    for name, start in (("contracts", "start_date"), ("invoice_lines", "period_start")):
        frame = typed.get(name)
        if frame is None or "currency" not in frame.columns or start not in frame.columns:
            continue
        cur = frame["currency"].str.strip().str.upper()
        foreign = cur.notna() & cur.ne(currency.upper()) & frame[start].notna()
        if not foreign.any():
            continue
        table = next(t for t in TABLES if t.name == name)
        month = frame[start].dt.to_period("M").astype("str")
        have = set()
        if fx is not None and {"currency", "month", "rate"} <= set(fx.columns):
            have = set(zip(fx["currency"].str.strip().str.upper(), fx["month"].dt.to_period("M").astype("str"),
                           strict=True))
        keys = pd.DataFrame({"currency": cur.where(foreign, ""), "month": month})
        missing = foreign & ~pd.Series(list(zip(keys["currency"], keys["month"], strict=True)),
                                       index=frame.index).isin(have)
        for (c, m), rows in keys[missing].groupby(["currency", "month"]).groups.items():
            check = _TableCheck(raw_tables[name], table)
            where = "no fx_rates table" if fx is None else "fx_rates has none"
            check.fail("currency", f"no exchange rate for {c} in {m} ({where}; rates are taken at the "
                                   f"row's {start} month into {currency})", frame.index.isin(rows))
            problems += check.problems
    return problems


def validate_tables(
    raw_tables: dict[str, RawTable], where: str, limits: DateLimits | None = None,
    notes: list[str] | None = None, currency: str = "JPY",
) -> dict[str, pd.DataFrame]:
    """Type every raw table and check the whole contract; raise :class:`ValidationError`.

    ``limits``: the plausible date range and time zone (from the settings; default
    :class:`DateLimits`); ``notes``: a list that receives remarks that are not errors (columns
    that were not used because their names are near misses of contract columns); ``currency``:
    the settings' currency (rows in another need an exchange rate).
    """
    problems: list[Problem] = []
    for name in REQUIRED_TABLES:
        if name not in raw_tables:
            problems.append(
                Problem(name, None, "required table missing (expected "
                        f"{name}.csv or {name}.parquet)", where)
            )
    sources = [s for s in MRR_SOURCES if s in raw_tables]
    if not sources:
        problems.append(Problem("subscriptions", None, "no MRR table: give subscriptions, contracts or "
                                "invoice_lines (a .csv or .parquet file of that name)", where))
    elif len(sources) > 1:
        problems.append(Problem(sources[0], None, f"more than one MRR table ({', '.join(sources)}): give "
                                "exactly one of subscriptions, contracts or invoice_lines", where))
    typed: dict[str, pd.DataFrame] = {}
    present = [t for t in TABLES if t.name in raw_tables]

    def check_table(table: Table) -> tuple[pd.DataFrame, list[Problem], list[str]]:
        raw, table_notes = raw_tables[table.name], []
        frame, found = _type_table(raw, table, limits, table_notes)
        if table.name == "contracts" and not found:
            found = found + _contract_rules(raw, table, frame)
        if table.name == "invoice_lines" and not found:
            found = found + _line_rules(raw, table, frame)
        return frame, found, table_notes

    # tables are independent: typed side by side (Arrow and NumPy release the GIL), the largest
    # first; problems and notes are gathered in the contract's table order whatever finishes first
    largest_first = sorted(present, key=lambda t: -raw_tables[t.name].frame.size)
    with ThreadPoolExecutor(min(usable_cores(), len(present) or 1)) as pool:
        futures = {t.name: pool.submit(check_table, t) for t in largest_first}
        for table in present:
            frame, found, table_notes = futures[table.name].result()
            typed[table.name] = frame
            problems += found
            if notes is not None:
                notes += table_notes
    problems += _fx_rules(raw_tables, typed, currency)
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

