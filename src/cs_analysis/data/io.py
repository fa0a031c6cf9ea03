"""Reading raw input tables (CSV in UTF-8/BOM/CP932, Parquet, DuckDB) and atomic writes.

Reading here is deliberately untyped: text files come back as strings exactly as written,
so validation can report the original cell values; typing happens in :mod:`validation`.

Writing: :func:`atomic_path` writes beside the target and moves into place only on success
(a failed write never damages a good file; any OS error becomes an :class:`OutputError` naming
the path and the reason); files get the usual permissions (0666 less the umask).
:func:`write_frame` and :func:`csv_text` write CSV exports as UTF-8 with BOM (so Japanese
Excel opens them without mojibake) with spreadsheet formulas neutralised (OWASP: a text cell
starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'``).
"""

from __future__ import annotations

import contextlib
import csv
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cs_analysis.data.schema import TABLE_BY_NAME
from cs_analysis.errors import DataError, OutputError

CSV_ENCODINGS = ("utf-8-sig", "cp932")  # utf-8-sig also reads plain UTF-8
DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")
IGNORED_DIRS = ("_truth",)  # ground truth of simulated data: never read by the loader
FORMULA_START = r"^[=+\-@\t\r]"  # cells a spreadsheet would run as formulas (OWASP)
CSV_EXPORT_ENCODING = "utf-8-sig"


@dataclass
class RawTable:
    """A table as read from its source, before typing and checks.

    ``row_offset``: source row number of frame row 0 (2 for CSV: the header is row 1). For a
    CSV whose quoted cells span lines, :meth:`row_numbers` counts the file's real lines.
    """

    name: str
    frame: pd.DataFrame
    source: str  # what messages call it, e.g. "subscriptions.csv"
    row_offset: int
    path: Path | None = None  # the CSV file, for line numbers of multi-line records
    encoding: str | None = None
    _lines: np.ndarray | None = field(default=None, repr=False)

    def row_numbers(self, idx: np.ndarray) -> np.ndarray:
        """Source row (line) numbers of frame rows ``idx``. For a CSV they are read from the file
        (only when a problem is reported), so that a quoted cell spanning lines is counted."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.path is None:
            return idx + self.row_offset
        if self._lines is None:
            self._lines = _record_start_lines(self.path, self.encoding or "utf-8-sig")
        lines = self._lines
        known = idx < len(lines)
        return np.where(known, lines[np.where(known, idx, 0)] if len(lines) else 0, idx + self.row_offset)


def _record_start_lines(path: Path, encoding: str) -> np.ndarray:
    """The line on which each data record of a CSV starts (header excluded)."""
    with path.open(encoding=encoding, newline="") as f:
        reader = csv.reader(f)
        ends = [reader.line_num for _ in reader]  # line of each record's last line
    starts = np.asarray([e + 1 for e in ends[:-1]], dtype=np.int64)  # record i starts after i-1
    return starts


def _header(path: Path, encoding: str) -> list[str]:
    with path.open(encoding=encoding, newline="") as f:
        return next(csv.reader(f), [])


def _read_csv_arrow(path: Path, encoding: str, header: list[str]) -> pd.DataFrame | None:
    """The CSV read by pyarrow (multi-threaded) into the frame :func:`pandas.read_csv` would give
    (every cell text, empty cells missing, the same string dtype), or None when this file needs
    pandas' reader: a row with fewer or more fields than the header, an unnamed column, bytes
    that are not ``encoding``: the cases whose handling (and messages) belong to pandas' reader.
    ``tests/data/test_loader.py`` checks both readers give the same frame on the cases they share.
    """
    import pyarrow as pa
    import pyarrow.csv as pv

    if not header or any(not str(name).strip() for name in header):
        return None
    try:
        table = pv.read_csv(
            path,
            read_options=pv.ReadOptions(encoding="utf8" if encoding == "utf-8-sig" else encoding),
            parse_options=pv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
            convert_options=pv.ConvertOptions(column_types={name: pa.string() for name in header},
                                              strings_can_be_null=True, quoted_strings_can_be_null=True,
                                              null_values=[""]))
    except (pa.ArrowInvalid, UnicodeDecodeError, LookupError):
        return None
    if table.column_names != header:
        return None
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get)


def read_csv_any_encoding(path: Path) -> pd.DataFrame:
    """Read a CSV as strings, trying UTF-8 (with or without BOM) then CP932 (Excel, Shift-JIS)."""
    return read_csv_with_encoding(path)[0]


def read_csv_with_encoding(path: Path) -> tuple[pd.DataFrame, str]:
    """:func:`read_csv_any_encoding` and the encoding that read it. A header that names a column
    twice is an error (pandas would silently rename the second one)."""
    for encoding in CSV_ENCODINGS:
        try:
            header = _header(path, encoding)
            seen: set[str] = set()
            dupes = sorted({c for c in header if c in seen or seen.add(c)})  # type: ignore[func-returns-value]
            if dupes:
                raise DataError(f"{path.name}: the header names column(s) {', '.join(map(repr, dupes))} "
                                "more than once; give each column one name")
            fast = _read_csv_arrow(path, encoding, header)
            if fast is not None:
                return fast, encoding
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(
                    path,
                    dtype=str,
                    encoding=encoding,
                    keep_default_na=False,
                    na_values=[""],
                    skip_blank_lines=False,
                    index_col=False,  # never turn surplus fields into an index
                )
            return frame, encoding
        except pd.errors.ParserWarning:
            raise DataError(
                f"{path.name}: not a well-formed CSV file: a row has more fields than the header"
            ) from None
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError:
            raise DataError(f"{path.name}: the file is empty (no header row)") from None
        except (pd.errors.ParserError, csv.Error) as exc:
            raise DataError(f"{path.name}: not a well-formed CSV file: {exc}".strip()) from None
        except OSError as exc:
            raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    raise DataError(
        f"{path.name}: text encoding is neither UTF-8 nor CP932 (Shift-JIS); save it as UTF-8 CSV"
    )


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise DataError(f"{path.name}: cannot read Parquet: {exc}") from None


EVENTS_FOLDER = "events"  # raw product events, used in place of a missing usage table
DATASET_FILE = "dataset.yaml"  # dataset options beside the tables (as_of, auto_renew_extends)


def _folder_sources(folder: Path) -> tuple[dict[str, Path], list[str]]:
    found: dict[str, Path] = {}
    ignored: list[str] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")) or entry.name.lower().startswith("readme") or entry.name == DATASET_FILE:
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
            frame, encoding = read_csv_with_encoding(src)
            tables[name] = RawTable(name, frame, src.name, 2, path=src, encoding=encoding)
        else:
            tables[name] = RawTable(name, _read_parquet(src), src.name, 1)
    notes = [f"ignored {n}: not a table of the data contract" for n in ignored if n != EVENTS_FOLDER]
    if EVENTS_FOLDER in ignored and "usage" in tables:
        notes.append(f"{EVENTS_FOLDER}/ not used: the usage table is given")
    return tables, notes


def events_folder(path: str | Path, tables: dict[str, RawTable]) -> Path | None:
    """The dataset folder's raw events (``events/`` of Parquet files) when they stand in for a
    missing usage table (see :mod:`cs_analysis.data.events`), else None."""
    folder = Path(path) / EVENTS_FOLDER
    if "usage" in tables or not folder.is_dir() or not any(folder.glob("**/*.parquet")):
        return None
    return folder


def _read_duckdb(path: Path) -> tuple[dict[str, RawTable], list[str]]:
    """Contract tables of a DuckDB file, in whichever schema they sit (a name found in two
    schemas is an error naming both)."""
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise DataError(f"{path.name}: cannot open DuckDB database: {exc}") from None
    try:
        found = con.execute("SELECT database_name, schema_name, table_name FROM duckdb_tables() "
                            "UNION ALL SELECT database_name, schema_name, view_name FROM duckdb_views() "
                            "WHERE NOT internal ORDER BY 2, 3").fetchall()
        where: dict[str, list[tuple[str, str]]] = {}
        for database, schema, name in found:
            where.setdefault(name, []).append((database, schema))
        twice = {n: s for n, s in where.items() if n in TABLE_BY_NAME and len(s) > 1}
        if twice:
            raise DataError(f"{path.name}: " + "; ".join(
                f"table {n!r} is in several schemas ({', '.join(s for _, s in places)}); keep one"
                for n, places in sorted(twice.items())))
        tables = {}
        for name in sorted(n for n in where if n in TABLE_BY_NAME):
            database, schema = where[name][0]
            qualified = ".".join('"' + part.replace('"', '""') + '"' for part in (database, schema, name))
            frame = con.execute(f"SELECT * FROM {qualified}").df()
            label = f"{path.name}:{name}" if schema == "main" else f"{path.name}:{schema}.{name}"
            tables[name] = RawTable(name, frame, label, 1)
    except duckdb.Error as exc:
        raise DataError(f"{path.name}: cannot read the DuckDB database: {exc}") from None
    finally:
        con.close()
    notes = [f"ignored table {n}: not a table of the data contract" for n in sorted(where) if n not in TABLE_BY_NAME]
    return tables, notes


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once (os.umask is process-wide); files get 0666 less it


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only if the block succeeds.

    Any OS error (read-only folder, a directory or a file in the way, a full disk, a file-size
    limit, a name too long) is an :class:`OutputError` naming ``target`` and the reason; the
    temporary file is removed and a file already at ``target`` is left as it was.
    """
    target = Path(target)
    tmp_path: Path | None = None
    try:
        if target.is_dir():
            raise OutputError(f"{target}: cannot write: it is a folder; give a file name")
        existing = next(p for p in target.parents if p.exists())
        if not existing.is_dir():
            raise OutputError(f"{target}: cannot write: a part of the path is a file, not a folder ({existing})")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:100]}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        yield tmp_path
        os.replace(tmp_path, target)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write: {_reason(exc)}") from None
    finally:
        if tmp_path is not None:
            with contextlib.suppress(OSError):
                tmp_path.unlink(missing_ok=True)


def _reason(exc: OSError) -> str:
    """The reason of an OS error in words (with the path it names when that is another one)."""
    import errno

    words = {errno.ENOSPC: "no space left on the device", errno.EFBIG: "file too large (a file-size limit)",
             errno.ENAMETOOLONG: "file name too long", errno.EROFS: "read-only file system",
             errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
             errno.ENOTDIR: "a part of the path is a file, not a folder",
             errno.EISDIR: "it is a folder", errno.EEXIST: "a file is in the way"}
    text = words.get(exc.errno or -1, exc.strerror or str(exc))
    extra = getattr(exc, "filename", None)
    return text if not extra else f"{text} ({extra})"


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell a spreadsheet would run as a formula (starting with ``=``,
    ``+``, ``-``, ``@``, tab or CR) prefixed with ``'`` (OWASP's advice for CSV exports), column
    names too; numbers and other cells are unchanged. Returns ``frame`` itself when nothing is
    risky."""
    out = frame
    for col in frame.columns:
        s = frame[col]
        if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)
                or isinstance(s.dtype, pd.CategoricalDtype)):
            continue
        kind = pd.api.types.infer_dtype(s, skipna=True)
        if kind in ("integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"):
            continue  # numbers in an object column (e.g. a tidy KPI value) are numbers, not formulas
        text = s.astype("str")
        risky = s.notna() & text.str.contains(FORMULA_START, regex=True)
        if kind not in ("string", "categorical"):  # mixed: only the text cells
            risky &= s.map(lambda v: isinstance(v, str), na_action="ignore").fillna(False).astype(bool)
        risky = risky.to_numpy(dtype=bool, na_value=False)
        if risky.any():
            if out is frame:
                out = frame.copy()
            out[col] = s.astype(object).where(~risky, "'" + text)
    names = {c: "'" + c for c in frame.columns if isinstance(c, str) and c[:1] in ("=", "+", "-", "@", "\t", "\r")}
    return out.rename(columns=names) if names else out


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as CSV text (no index, formulas neutralised), for standard output."""
    return neutralise_formulas(frame).to_csv(index=False, lineterminator="\n")


def write_frame(frame: pd.DataFrame, target: str | Path) -> Path:
    """Write a frame atomically as CSV (UTF-8 with BOM, formulas neutralised) or Parquet,
    chosen by the target's suffix."""
    target = Path(target)
    writers: dict[str, Callable[[Path], None]] = {
        ".csv": lambda p: neutralise_formulas(frame).to_csv(p, index=False, encoding=CSV_EXPORT_ENCODING,
                                                           lineterminator="\n"),
        ".parquet": lambda p: frame.to_parquet(p, index=False),
    }
    writer = writers.get(target.suffix.lower())
    if writer is None:
        raise OutputError(f"{target}: output must end in .csv or .parquet")
    with atomic_path(target) as tmp:
        writer(tmp)
    return target


def write_text(text: str, target: str | Path, encoding: str = "utf-8") -> Path:
    """Write ``text`` atomically (see :func:`atomic_path`)."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(target)
