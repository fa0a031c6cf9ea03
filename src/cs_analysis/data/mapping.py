"""A company's own exports → the data contract, through a mapping file (docs/data-contract.md,
"Importing a company's own files").

The mapping names, per contract table, the source file (CSV in UTF-8 or CP932, Parquet, or
xlsx), which source column feeds each contract column, constants for columns the source lacks,
value maps (e.g. 試用: はい → true) and extra columns to keep. Everything else — parsing
``2025/4/1`` or ``2025年4月1日`` dates, ``¥1,200,000`` money, full-width digits, checking — is
the loader's, so an imported dataset obeys exactly the rules of a dataset folder.

Errors name the mapping file, the table and the source column.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cs_analysis.data.dataset import Dataset, build_dataset, check_options
from cs_analysis.data.io import DATASET_FILE, RawTable, read_csv_with_encoding, write_frame, write_text
from cs_analysis.data.schema import BOOL_FALSE, BOOL_TRUE, TABLE_BY_NAME
from cs_analysis.errors import DataError, OutputError

MAPPING_KEYS = {"as_of", "auto_renew_extends", "tables"}
TABLE_KEYS = {"file", "sheet", "columns", "keep", "constants", "values"}


@dataclass
class Mapping:
    """A parsed mapping file."""

    path: Path
    tables: dict[str, dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)  # as_of, auto_renew_extends

    def error(self, text: str) -> DataError:
        return DataError(f"{self.path.name}: {text}")


def load_mapping(path: str | Path) -> Mapping:
    """Read and check the shape of a mapping file (YAML)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise DataError(f"{p}: cannot read the mapping file: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataError(f"{p.name}: not a valid YAML mapping file: {exc}") from None
    if not isinstance(data, dict):
        raise DataError(f"{p.name}: a mapping file is a YAML mapping with a 'tables' entry")
    unknown = sorted(set(map(str, data)) - MAPPING_KEYS)
    if unknown:
        raise DataError(f"{p.name}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(MAPPING_KEYS))}")
    tables = data.get("tables")
    if not isinstance(tables, dict) or not tables:
        raise DataError(f"{p.name}: 'tables' must map contract table names to their source files")
    mapping = Mapping(p, {}, {k: data[k] for k in ("as_of", "auto_renew_extends") if k in data})
    for name, spec in tables.items():
        name = str(name)
        if name not in TABLE_BY_NAME:
            raise mapping.error(f"unknown table {name!r}; the contract's tables: {', '.join(TABLE_BY_NAME)}")
        if not isinstance(spec, dict) or "file" not in spec:
            raise mapping.error(f"table {name}: give at least 'file' (and 'columns')")
        bad = sorted(set(map(str, spec)) - TABLE_KEYS)
        if bad:
            raise mapping.error(f"table {name}: unknown key(s) {', '.join(bad)}; known: {', '.join(sorted(TABLE_KEYS))}")
        for key, kind in (("columns", dict), ("constants", dict), ("values", dict), ("keep", list)):
            if key in spec and not isinstance(spec[key], kind):
                raise mapping.error(f"table {name}: '{key}' must be a {'list' if kind is list else 'mapping'}")
        mapping.tables[name] = spec
    return mapping


def _read_source(mapping: Mapping, name: str, spec: dict[str, Any]) -> tuple[pd.DataFrame, Path, str | None]:
    """The source file of table ``name`` as text cells (empty = missing), and its encoding."""
    path = (mapping.path.parent / str(spec["file"])).resolve()
    if not path.is_file():
        raise mapping.error(f"table {name}: no such file {spec['file']!r} (paths are relative to the mapping file)")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame, encoding = read_csv_with_encoding(path)
        return frame, path, encoding
    if suffix == ".parquet":
        try:
            return pd.read_parquet(path), path, None
        except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
            raise mapping.error(f"table {name}: cannot read Parquet {path.name}: {exc}") from None
    if suffix in (".xlsx", ".xlsm"):
        sheet = spec.get("sheet", 0)
        try:
            frame = pd.read_excel(path, sheet_name=sheet, dtype=object, engine="openpyxl")
        except ValueError as exc:  # e.g. no such sheet
            raise mapping.error(f"table {name}: {path.name}: {exc}") from None
        except Exception as exc:  # openpyxl raises zipfile / XML errors for a broken file
            raise mapping.error(f"table {name}: cannot read {path.name} as xlsx: {exc}") from None
        frame.columns = [str(c) for c in frame.columns]
        return frame.map(_cell_text), path, None
    raise mapping.error(f"table {name}: {path.name}: expected a .csv, .parquet or .xlsx file")


def _cell_text(value: object) -> object:
    """An xlsx cell as the loader reads text: None for empty; dates as ISO; whole floats without .0."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp) or hasattr(value, "isoformat"):
        text = value.isoformat()  # type: ignore[union-attr]
        return text[:10] if text.endswith("T00:00:00") else text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def map_table(mapping: Mapping, name: str) -> RawTable:
    """The mapped table ``name`` as a raw contract table (contract column names, source cells),
    ready for the loader's checks; errors name the mapping file, the table and the column."""
    spec = mapping.tables[name]
    table = TABLE_BY_NAME[name]
    frame, path, encoding = _read_source(mapping, name, spec)
    source_columns = [str(c) for c in frame.columns]
    columns = {str(k): str(v) for k, v in (spec.get("columns") or {}).items()}
    constants = {str(k): v for k, v in (spec.get("constants") or {}).items()}
    known = {c.name for c in table.columns}
    for contract, src in columns.items():
        if contract not in known:
            raise mapping.error(f"table {name}: {contract!r} is not a column of the contract's {name} "
                                f"(its columns: {', '.join(c.name for c in table.columns)})")
        if src not in source_columns:
            raise mapping.error(f"table {name}: source column {src!r} (for {contract}) is not in {path.name} "
                                f"(its columns: {', '.join(source_columns)})")
    for contract in constants:
        if contract not in known:
            raise mapping.error(f"table {name}: constant for {contract!r}, which is not a column of {name}")
        if contract in columns:
            raise mapping.error(f"table {name}: {contract!r} is given both a source column and a constant")
    out = pd.DataFrame(index=frame.index)
    for col in table.columns:
        if col.name in columns:
            out[col.name] = frame[columns[col.name]]
        elif col.name in constants:
            value = constants[col.name]
            out[col.name] = None if value is None else _constant_text(value)
        elif col.name in source_columns:  # the source already uses the contract's name
            out[col.name] = frame[col.name]
    missing = [c.name for c in table.columns if c.required and c.name not in out.columns]
    if missing:
        raise mapping.error(f"table {name}: no source column or constant for required column(s) "
                            f"{', '.join(missing)}; map them under 'columns' (contract name: source column)")
    values = spec.get("values") or {}
    for contract, value_map in values.items():
        contract = str(contract)
        if contract not in out.columns:
            raise mapping.error(f"table {name}: 'values' given for {contract!r}, which is not mapped")
        if not isinstance(value_map, dict):
            raise mapping.error(f"table {name}: 'values' of {contract} must map source values to contract values")
        out[contract] = _map_values(mapping, name, contract, columns.get(contract, contract), out[contract],
                                    value_map, table.column(contract).kind == "bool")
    for extra in spec.get("keep") or []:
        extra = str(extra)
        if extra not in source_columns:
            raise mapping.error(f"table {name}: 'keep' names source column {extra!r}, which is not in {path.name}")
        if extra in out.columns:
            raise mapping.error(f"table {name}: kept column {extra!r} has the name of a contract column")
        out[extra] = frame[extra]
    mapped_by = f"{path.name} (mapped by {mapping.path.name})"
    offset = 2 if path.suffix.lower() in (".csv", ".xlsx", ".xlsm") else 1
    return RawTable(name, out, mapped_by, offset, path=path if encoding else None, encoding=encoding)


def _constant_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _map_values(mapping: Mapping, table: str, contract: str, src: str, cells: pd.Series,
                value_map: dict[Any, Any], is_bool: bool) -> pd.Series:
    """``cells`` with each source value replaced by its mapped value. A value the map does not
    name is an error (for a bool column, the standard true/false spellings pass unmapped)."""
    lookup = {str(k).strip(): (None if v is None else _constant_text(v)) for k, v in value_map.items()}
    text = cells.astype("str").str.strip().where(cells.notna())
    mapped = text.map(lookup)
    unmapped = text.notna() & ~text.isin(list(lookup))
    if is_bool:
        unmapped &= ~text.str.casefold().isin([*BOOL_TRUE, *BOOL_FALSE])
    if unmapped.any():
        examples = ", ".join(repr(v) for v in pd.unique(text[unmapped])[:5])
        rows = ", ".join(str(i + 2) for i in list(text.index[unmapped])[:5])
        raise mapping.error(f"table {table}: source column {src!r} ({contract}) has value(s) {examples} that "
                            f"'values' does not map (rows {rows}); add them to 'values'")
    return mapped.where(text.isin(list(lookup)), cells)


@dataclass
class Imported:
    """What :func:`import_dataset` did: the validated dataset and the tables written."""

    dataset: Dataset
    written: dict[str, int]  # table → rows
    out: Path


def import_dataset(mapping_path: str | Path, out: str | Path, settings: Any) -> Imported:
    """Read a company's files through the mapping, map them onto the contract, validate them
    and derive subscriptions (exactly as :func:`~cs_analysis.data.dataset.load_dataset` does for
    a folder), then write a standard dataset folder to ``out``: one Parquet file per mapped
    table and a ``dataset.yaml`` with the as-of date (and ``auto_renew_extends``), so the folder
    gives every command the same result. ``out`` is replaced atomically; a folder that is not
    empty and not an earlier import is never overwritten."""
    mapping = load_mapping(mapping_path)
    options = check_options(mapping.options, mapping.path.name)
    raw = {name: map_table(mapping, name) for name in mapping.tables}
    notes: list[str] = []
    ds = build_dataset(raw, notes, str(mapping.path), settings, options)
    target = Path(out)
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / DATASET_FILE).is_file())):
        raise OutputError(f"{target}: exists and is not an earlier import (no {DATASET_FILE}); give a new or "
                          "empty folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        written = {}
        for name in mapping.tables:
            frame = getattr(ds, name)
            write_frame(frame, tmp / f"{name}.parquet")
            written[name] = len(frame)
        lines = [f"# written by cs-analysis import from {mapping.path.name}",
                 f"as_of: {ds.as_of:%Y-%m-%d}" if ds.as_of is not None else "# as_of: none (monthly subscriptions)"]
        if "auto_renew_extends" in options:
            lines.append(f"auto_renew_extends: {'true' if options['auto_renew_extends'] else 'false'}")
        write_text("\n".join(lines) + "\n", tmp / DATASET_FILE)
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
        tmp.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write the dataset folder: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Imported(ds, written, target)
