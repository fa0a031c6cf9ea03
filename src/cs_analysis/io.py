"""Reading raw input tables (CSV in UTF-8/BOM/CP932, Parquet, DuckDB) and atomic writes.

Reading here is deliberately untyped: text files come back as strings exactly as written,
so validation can report the original cell values; typing happens in :mod:`validation`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cs_analysis.errors import DataError
from cs_analysis.schema import TABLE_BY_NAME

CSV_ENCODINGS = ("utf-8-sig", "cp932")  # utf-8-sig also reads plain UTF-8
DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")
IGNORED_DIRS = ("_truth",)  # ground truth of simulated data: never read by the loader


@dataclass
class RawTable:
    """A table as read from its source, before typing and checks."""

    name: str
    frame: pd.DataFrame
    source: str  # what messages call it, e.g. "subscriptions.csv"
    row_offset: int  # source row number of frame row 0 (2 for CSV: the header is row 1)


def read_csv_any_encoding(path: Path) -> pd.DataFrame:
    """Read a CSV as strings, trying UTF-8 (with or without BOM) then CP932 (Excel, Shift-JIS)."""
    for encoding in CSV_ENCODINGS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                return pd.read_csv(
                    path,
                    dtype=str,
                    encoding=encoding,
                    keep_default_na=False,
                    na_values=[""],
                    skip_blank_lines=False,
                    index_col=False,  # never turn surplus fields into an index
                )
        except pd.errors.ParserWarning:
            raise DataError(
                f"{path.name}: not a well-formed CSV file: a row has more fields than the header"
            ) from None
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError:
            raise DataError(f"{path.name}: the file is empty (no header row)") from None
        except pd.errors.ParserError as exc:
            raise DataError(f"{path.name}: not a well-formed CSV file: {exc}".strip()) from None
    raise DataError(
        f"{path.name}: text encoding is neither UTF-8 nor CP932 (Shift-JIS); save it as UTF-8 CSV"
    )


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise DataError(f"{path.name}: cannot read Parquet: {exc}") from None


EVENTS_FOLDER = "events"  # raw product events, used in place of a missing usage table


def _folder_sources(folder: Path) -> tuple[dict[str, Path], list[str]]:
    found: dict[str, Path] = {}
    ignored: list[str] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")) or entry.name.lower().startswith("readme"):
            continue
        if entry.is_dir():
            name, ok = entry.name, any(entry.glob("**/*.parquet"))
        else:
            suffix = entry.suffix.lower()
            name, ok = entry.stem, suffix in (".csv", ".parquet")
        if not ok or name not in TABLE_BY_NAME:
            ignored.append(entry.name)
            continue
        if name in found:
            raise DataError(
                f"{folder}: table {name!r} is given twice ({found[name].name} and {entry.name});"
                " keep one"
            )
        found[name] = entry
    return found, ignored


def read_raw_tables(path: str | Path) -> tuple[dict[str, RawTable], list[str]]:
    """Read every contract table found at ``path`` (folder or DuckDB file).

    Returns the raw tables and notes about anything ignored.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such folder or file")
    if p.is_file():
        if p.suffix.lower() not in DUCKDB_SUFFIXES:
            raise DataError(f"{p}: expected a folder of CSV/Parquet files or a DuckDB database")
        return _read_duckdb(p)
    sources, ignored = _folder_sources(p)
    tables: dict[str, RawTable] = {}
    for name, src in sources.items():
        if src.is_file() and src.suffix.lower() == ".csv":
            tables[name] = RawTable(name, read_csv_any_encoding(src), src.name, 2)
        else:
            tables[name] = RawTable(name, _read_parquet(src), src.name, 1)
    notes = [f"ignored {n}: not a table of the data contract" for n in ignored if n != EVENTS_FOLDER]
    if EVENTS_FOLDER in ignored:
        if "usage" in tables:
            notes.append(f"{EVENTS_FOLDER}/ not used: the usage table is given")
        else:
            from cs_analysis.events import usage_from_events

            tables["usage"] = RawTable("usage", usage_from_events(p / EVENTS_FOLDER), f"{EVENTS_FOLDER}/ (usage)", 1)
            notes.append(f"usage computed from the raw events in {EVENTS_FOLDER}/")
    return tables, notes


def _read_duckdb(path: Path) -> tuple[dict[str, RawTable], list[str]]:
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise DataError(f"{path.name}: cannot open DuckDB database: {exc}") from None
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        tables = {
            n: RawTable(n, con.execute(f'SELECT * FROM "{n}"').df(), f"{path.name}:{n}", 1)
            for n in sorted(names)
            if n in TABLE_BY_NAME
        }
    finally:
        con.close()
    notes = [f"ignored table {n}: not a table of the data contract" for n in names if n not in TABLE_BY_NAME]
    return tables, notes


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_frame(frame: pd.DataFrame, target: str | Path) -> Path:
    """Write a frame atomically as CSV (UTF-8) or Parquet, chosen by the target's suffix."""
    target = Path(target)
    writers: dict[str, Callable[[Path], None]] = {
        ".csv": lambda p: frame.to_csv(p, index=False, encoding="utf-8", lineterminator="\n"),
        ".parquet": lambda p: frame.to_parquet(p, index=False),
    }
    writer = writers.get(target.suffix.lower())
    if writer is None:
        raise DataError(f"{target}: output must end in .csv or .parquet")
    with atomic_path(target) as tmp:
        writer(tmp)
    return target
