"""`load_dataset`: read a folder / DuckDB file, validate it, return typed tables."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd

from cs_analysis.config.settings import Settings, load_settings
from cs_analysis.data.io import EVENTS_FOLDER, RawTable, events_folder, read_raw_tables
from cs_analysis.data.validation import validate_tables


@dataclass
class Dataset:
    """A validated company dataset: one typed pandas DataFrame per table (None when absent)."""

    accounts: pd.DataFrame
    subscriptions: pd.DataFrame
    usage: pd.DataFrame | None = None
    touchpoints: pd.DataFrame | None = None
    nps_responses: pd.DataFrame | None = None
    tickets: pd.DataFrame | None = None
    champion_changes: pd.DataFrame | None = None
    onboarding: pd.DataFrame | None = None
    roi: pd.DataFrame | None = None
    success_plans: pd.DataFrame | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables present, by name, in contract order."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if isinstance(getattr(self, f.name), pd.DataFrame)
        }

    def fingerprint(self) -> str:
        """SHA-256 over every table's content (order-sensitive); same data → same value."""
        digest = hashlib.sha256()
        for name, frame in self.tables().items():
            digest.update(name.encode())
            digest.update(",".join(map(str, frame.columns)).encode())
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        return digest.hexdigest()

    def summary(self) -> pd.DataFrame:
        """Rows, columns and date range per table."""
        date_cols = {"subscriptions": "month", "usage": "month", "tickets": "opened_at",
                     "accounts": "signup_date", "onboarding": "date", "success_plans": "due_date"}
        rows = []
        for name, frame in self.tables().items():
            col = date_cols.get(name, "date")
            dates = frame[col] if col in frame.columns else pd.Series(dtype="datetime64[us]")
            rows.append({
                "table": name,
                "rows": len(frame),
                "columns": frame.shape[1],
                "from": dates.min().date().isoformat() if dates.notna().any() else "",
                "to": dates.max().date().isoformat() if dates.notna().any() else "",
            })
        return pd.DataFrame(rows)


def load_dataset(path: str | Path, settings: Settings | None = None) -> Dataset:
    """Load and validate the dataset at ``path`` (folder of CSV/Parquet, or a DuckDB file).

    CSV files may be UTF-8, UTF-8 with BOM or CP932 (Excel's Shift-JIS). A folder without a usage
    table but with raw product events in ``events/`` (Parquet) gets its usage table from them
    (:mod:`cs_analysis.data.events`). Raises
    :class:`~cs_analysis.errors.ValidationError` listing every problem when the data breaks
    the contract, :class:`~cs_analysis.errors.DataError` when it cannot be read. ``settings``
    give the time zone and the plausible date range (default: the shipped settings). An
    optional table with a header and no rows is read as empty (e.g. no tickets yet).

    >>> ds = load_dataset("data/demo")            # doctest: +SKIP
    >>> ds.subscriptions.columns.tolist()         # doctest: +SKIP
    ['account_id', 'month', 'product', 'licenses', 'mrr']
    """
    settings = settings or load_settings()
    raw, notes = read_raw_tables(path)
    events = events_folder(path, raw)
    if events is not None:  # Ibis (and an engine) are imported only for datasets with raw events
        from cs_analysis.data.events import complete_usage, usage_from_events

        raw["usage"] = RawTable("usage", usage_from_events(events), f"{EVENTS_FOLDER}/ (usage)", 1)
        notes.append(f"usage computed from the raw events in {EVENTS_FOLDER}/")
    typed = validate_tables(raw, str(path), settings.date_limits(), notes)
    if events is not None:
        typed["usage"] = complete_usage(typed["usage"], typed["subscriptions"])
    return Dataset(**typed, source=str(path), notes=notes)
