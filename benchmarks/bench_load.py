"""Loading and validating a dataset against a DuckDB floor doing the same work, alternated (A B A B).

A: ``load_dataset(folder)``: read every table (CSV or Parquet), type every column, run every
check of the data contract, build the Dataset.
B: DuckDB, per table of the folder: read it (CSV: every column as text) into a typed table
(TRY_CAST of every column after trimming: numbers with ¥ and thousands separators removed in
money columns, dates, booleans; a blank flag per column), export it to Arrow, one query counting
every failed check of every column (missing value, not a number / date / boolean, out of range,
not a whole number, not a month's first day, not an allowed value, dates in order), one for
duplicate keys and one for account ids missing from accounts. The queries are generated
from the contract (``cs_analysis.data.schema.TABLES``), so the floor checks what we check
(messages aside: it only counts).

Run: ``../.venv/bin/python bench_load.py [--accounts N] [--format csv|parquet] [--repeat R]``
(target: ratio ≤ 1.5 at 100,000 accounts, ≤ 2 at 1,000,000).
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import duckdb

from _common import RESULTS, interleaved, machine
from cs_analysis import load_dataset
from cs_analysis.data.demo import DemoSpec, write_demo
from cs_analysis.data.schema import BOOL_FALSE, BOOL_TRUE, TABLE_BY_NAME, Column

SQL_TYPES = {"int": "DOUBLE", "float": "DOUBLE", "money": "DOUBLE", "date": "TIMESTAMP", "month": "TIMESTAMP"}


def folder_for(accounts: int, fmt: str) -> Path:
    out = RESULTS / f"demo_{accounts}x36_s42_{fmt}"
    if not (out / ".complete").exists():
        write_demo(out, DemoSpec(accounts=accounts, months=36, end="2026-09", seed=42), fmt=fmt)
        (out / ".complete").touch()
    return out


def _typed(col: Column, text: bool) -> str:
    """SQL typing the column like the loader (text: from strings, as CSV cells or dates that a
    Parquet file holds as text)."""
    c = f'"{col.name}"'
    if not text:
        return c
    trimmed = f"nullif(trim({c}), '')"
    if col.kind == "money":
        return f"TRY_CAST(replace(replace(replace({trimmed}, ',', ''), '¥', ''), '￥', '') AS DOUBLE)"
    if col.kind in SQL_TYPES:
        return f"TRY_CAST({trimmed} AS {SQL_TYPES[col.kind]})"
    if col.kind == "bool":
        t = ", ".join(f"'{v}'" for v in BOOL_TRUE)
        f = ", ".join(f"'{v}'" for v in BOOL_FALSE)
        return f"CASE WHEN lower({trimmed}) IN ({t}) THEN true WHEN lower({trimmed}) IN ({f}) THEN false END"
    return trimmed


def _checks(col: Column) -> list[str]:
    """Counts of the column's failed checks, over the typed table (``<col>`` typed, ``<col>__blank``)."""
    c, blank = f'"{col.name}"', f'"{col.name}__blank"'
    out = []
    if not col.nullable:
        out.append(f"count_if({blank})")
    if col.kind in SQL_TYPES or col.kind == "bool":
        out.append(f"count_if(NOT {blank} AND {c} IS NULL)")
    if col.min is not None:
        out.append(f"count_if({c} < {col.min})")
    if col.max is not None:
        out.append(f"count_if({c} > {col.max})")
    if col.kind == "int":
        out.append(f"count_if({c} <> floor({c}))")
    if col.kind == "month":
        out.append(f"count_if(day({c}) <> 1)")
    if col.allowed is not None:
        allowed = ", ".join(f"'{v}'" for v in col.allowed)
        out.append(f"count_if({c} IS NOT NULL AND {c} NOT IN ({allowed}))")
    return out


def floor(folder: Path, fmt: str) -> int:
    """The DuckDB floor: every table read, typed (once, into a table), exported to Arrow and
    checked; returns the failures counted."""
    con = duckdb.connect()
    failures = 0
    files = {p.stem: p for p in sorted(folder.glob(f"*.{fmt}")) if p.stem in TABLE_BY_NAME}
    reader = "read_csv('{}', all_varchar=true, header=true)" if fmt == "csv" else "read_parquet('{}')"
    for name, path in files.items():
        table = TABLE_BY_NAME[name]
        types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {reader.format(path)}").fetchall()}
        present = set(types)
        cols = [c for c in table.columns if c.name in present]
        select = ", ".join(f'{_typed(c, types[c.name] == "VARCHAR")} AS "{c.name}", '
                           f"(nullif(trim(CAST(\"{c.name}\" AS VARCHAR)), '') IS NULL) AS \"{c.name}__blank\""
                           for c in cols)
        con.execute(f"CREATE TABLE {name} AS SELECT {select} FROM {reader.format(path)}")
        con.sql(f"SELECT {', '.join(chr(34) + c.name + chr(34) for c in cols)} FROM {name}").to_arrow_table()
        checks = [x for c in cols for x in _checks(c)]
        for earlier, later in table.ordered:
            if earlier in present and later in present:
                checks.append(f'count_if("{later}" < "{earlier}")')
        if checks:
            failures += sum(v or 0 for v in con.execute(f"SELECT {', '.join(checks)} FROM {name}").fetchone())
        key = [k for k in table.key if k in present]
        if key:
            keys = ", ".join(f'"{k}"' for k in key)
            failures += con.execute(f"SELECT count(*) FROM (SELECT {keys} FROM {name} GROUP BY {keys} "
                                    "HAVING count(*) > 1)").fetchone()[0]
    for name in files:
        if name != "accounts" and "accounts" in files:
            failures += con.execute(f"SELECT count(*) FROM {name} ANTI JOIN accounts USING (account_id)").fetchone()[0]
    con.close()
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = folder_for(args.accounts, args.format)
    size = sum(p.stat().st_size for p in folder.glob(f"*.{args.format}"))
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f} at the start; "
          f"{args.accounts:,} accounts as {args.format} ({size / 2**20:,.0f} MiB)")
    (a, ds), (b, failures) = interleaved([lambda: load_dataset(folder), lambda: floor(folder, args.format)], args.repeat)
    rows = sum(len(t) for t in ds.tables().values())
    print(f"load_dataset: best {min(a):.2f} s, median {statistics.median(a):.2f} s ({rows:,} rows); DuckDB floor: "
          f"best {min(b):.2f} s, median {statistics.median(b):.2f} s ({failures} failures counted); ratio "
          f"{min(a) / min(b):.2f} best / {statistics.median(a) / statistics.median(b):.2f} median")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
