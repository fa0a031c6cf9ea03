"""`load_dataset`: read a folder / DuckDB file, validate it, return typed tables."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd
import yaml

from cs_analysis.config.settings import Settings, load_settings
from cs_analysis.data import billing
from cs_analysis.data.io import (
    DATASET_FILE,
    EVENTS_FOLDER,
    RawTable,
    events_folder,
    read_raw_tables,
    write_frame,
    write_text,
)
from cs_analysis.data.validation import validate_tables
from cs_analysis.errors import DataError

DATASET_KEYS = ("as_of", "auto_renew_extends")
SNAPSHOT_FILE = "dataset.json"  # a snapshot's fields beside its tables (Dataset.save_snapshot)


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
    contracts: pd.DataFrame | None = None
    invoice_lines: pd.DataFrame | None = None
    fx_rates: pd.DataFrame | None = None
    cancellations: pd.DataFrame | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)
    mrr_source: str = "subscriptions"  # the table MRR came from (subscriptions derived from the others)
    through: pd.Period | None = None  # the last month derived from contracts / invoice lines (as-of)
    since: pd.Period | None = None  # the first month of contracts / invoice lines (trials included)
    as_of: pd.Timestamp | None = None  # the dataset's as-of date (dataset.yaml or derived)

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

    def save_snapshot(self, folder: str | Path) -> Path:
        """Write the validated dataset as typed Parquet files (one per table, pandas dtypes kept)
        and its other fields as JSON into ``folder``, for :func:`load_snapshot`: processes that
        need the same dataset read it back without reading and validating the sources again."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, frame in self.tables().items():
            write_frame(frame, folder / f"{name}.parquet")
        meta = {"tables": list(self.tables()), "source": self.source, "notes": self.notes,
                "mrr_source": self.mrr_source,
                **{k: None if getattr(self, k) is None else str(getattr(self, k)) for k in ("through", "since")},
                "as_of": None if self.as_of is None else self.as_of.isoformat()}
        write_text(json.dumps(meta, ensure_ascii=False), folder / SNAPSHOT_FILE)
        return folder

    def summary(self) -> pd.DataFrame:
        """Rows, columns and date range per table."""
        date_cols = {"subscriptions": "month", "usage": "month", "tickets": "opened_at",
                     "accounts": "signup_date", "onboarding": "date", "success_plans": "due_date",
                     "contracts": "start_date", "invoice_lines": "period_start", "fx_rates": "month"}
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


def load_snapshot(folder: str | Path) -> Dataset:
    """The dataset :meth:`Dataset.save_snapshot` wrote into ``folder``, equal to the one saved
    (tables, dtypes and fields; tests/data/test_loader.py checks it). A snapshot that cannot be
    read is a :class:`~cs_analysis.errors.DataError`."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / SNAPSHOT_FILE).read_text(encoding="utf-8"))
        tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in meta["tables"]}
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{folder}: not a readable dataset snapshot ({exc})") from None
    return Dataset(**tables, source=meta["source"], notes=list(meta["notes"]), mrr_source=meta["mrr_source"],
                   through=None if meta["through"] is None else pd.Period(meta["through"], "M"),
                   since=None if meta["since"] is None else pd.Period(meta["since"], "M"),
                   as_of=None if meta["as_of"] is None else pd.Timestamp(meta["as_of"]))


def read_options(path: str | Path) -> dict[str, object]:
    """The dataset's ``dataset.yaml`` beside its tables (as_of, auto_renew_extends), checked;
    {} when there is none."""
    file = Path(path) / DATASET_FILE
    if not file.is_file():
        return {}
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8-sig")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: not a readable YAML file: {exc}") from None
    if not isinstance(data, dict):
        raise DataError(f"{file}: expected a YAML mapping (as_of, auto_renew_extends)")
    return check_options(data, str(file))


def check_options(data: dict, where: str) -> dict[str, object]:
    """Dataset options from a dataset.yaml or a mapping file, typed: ``as_of`` a date,
    ``auto_renew_extends`` a bool."""
    unknown = sorted(set(map(str, data)) - set(DATASET_KEYS))
    if unknown:
        raise DataError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(DATASET_KEYS)}")
    out: dict[str, object] = {}
    if data.get("as_of") is not None:
        try:
            out["as_of"] = pd.Timestamp(str(data["as_of"]).replace("/", "-")).normalize()
        except ValueError:
            raise DataError(f"{where}: as_of must be a date (YYYY-MM-DD), got {data['as_of']!r}") from None
    if "auto_renew_extends" in data:
        if not isinstance(data["auto_renew_extends"], bool):
            raise DataError(f"{where}: auto_renew_extends must be true or false, got {data['auto_renew_extends']!r}")
        out["auto_renew_extends"] = data["auto_renew_extends"]
    return out


def derive_mrr(typed: dict[str, pd.DataFrame], settings: Settings, options: dict[str, object],
               notes: list[str]) -> tuple[pd.Timestamp | None, billing.Derived | None]:
    """Put derived subscriptions into ``typed`` when the MRR source is contracts or invoice
    lines (:mod:`.billing`); returns the as-of date and the derivation."""
    as_of = options.get("as_of")
    if "contracts" in typed:
        table = typed["contracts"]
        as_of = as_of or billing.default_as_of(table, ("start_date", "end_date", "canceled_at"))
        derived = billing.from_contracts(table, as_of, grace_days=settings.renewal_grace_days,
                                         auto_renew_extends=bool(options.get("auto_renew_extends", False)),
                                         fx=typed.get("fx_rates"), currency=settings.currency)
    elif "invoice_lines" in typed:
        table = typed["invoice_lines"]
        as_of = as_of or billing.default_as_of(table, ("period_start", "period_end"))
        derived = billing.from_invoice_lines(table, as_of, fx=typed.get("fx_rates"), currency=settings.currency)
    else:
        return as_of, None  # type: ignore[return-value]
    notes += derived.notes
    subs = derived.subscriptions
    if subs.empty:
        raise DataError(f"{derived.source}: nothing is in service at the end of any month through "
                        f"{derived.through} (as-of {as_of:%Y-%m-%d}), so there is no MRR to analyse")
    notes.append(f"subscriptions derived from {derived.source}: {len(subs):,} account x product x month rows, "
                 f"{subs['month'].min():%Y-%m}..{derived.through} (as-of {as_of:%Y-%m-%d})")
    typed["subscriptions"] = subs
    return as_of, derived


def complete_accounts(typed: dict[str, pd.DataFrame], notes: list[str]) -> None:
    """Defaults of the optional account columns: ``name`` = the account_id, ``signup_date`` =
    the first day of service, ``csm_owner`` empty (unassigned). ``employees`` is never invented:
    without it the size segment is unavailable."""
    acc = typed["accounts"].copy()
    if "name" not in acc:
        acc["name"] = acc["account_id"]
    else:
        acc["name"] = acc["name"].fillna(acc["account_id"])
    if "csm_owner" not in acc:
        acc["csm_owner"] = pd.Series(pd.NA, index=acc.index, dtype="str")
    if "signup_date" not in acc or acc["signup_date"].isna().any():
        first = _first_service(typed)
        filled = acc["account_id"].map(first)
        current = acc["signup_date"] if "signup_date" in acc else pd.Series(pd.NaT, index=acc.index)
        signup = current.fillna(filled)
        never = signup.isna()
        if never.any():
            start = typed["subscriptions"]["month"].min()
            notes.append(f"accounts: {int(never.sum())} account(s) without signup_date and never in service: "
                         f"signup_date taken as {start:%Y-%m-%d}, the data's first month")
            signup = signup.fillna(start)
        acc["signup_date"] = signup.astype("datetime64[us]")
    if "employees" not in acc:
        notes.append("accounts: no employees column, so the size segment is unavailable")
    typed["accounts"] = acc


def _first_service(typed: dict[str, pd.DataFrame]) -> pd.Series:
    """Per account, the first day of service of its MRR source."""
    if "contracts" in typed:
        c = typed["contracts"]
        return c.groupby("account_id")["start_date"].min()
    if "invoice_lines" in typed:
        lines = typed["invoice_lines"]
        return lines.groupby("account_id")["period_start"].min()
    subs = typed["subscriptions"]
    return subs[subs["mrr"] > 0].groupby("account_id")["month"].min()


def load_dataset(path: str | Path, settings: Settings | None = None) -> Dataset:
    """Load and validate the dataset at ``path`` (folder of CSV/Parquet, or a DuckDB file).

    CSV files may be UTF-8, UTF-8 with BOM or CP932 (Excel's Shift-JIS). MRR comes from exactly
    one of ``subscriptions``, ``contracts`` or ``invoice_lines``; from the latter two, monthly
    subscriptions are derived (:mod:`cs_analysis.data.billing`, through the as-of date of a
    ``dataset.yaml`` beside the tables, else the latest date of the table). A folder without a
    usage table but with raw product events in ``events/`` (Parquet) gets its usage table from
    them (:mod:`cs_analysis.data.events`). Raises :class:`~cs_analysis.errors.ValidationError`
    listing every problem when the data breaks the contract,
    :class:`~cs_analysis.errors.DataError` when it cannot be read. ``settings`` give the time
    zone, currency and the plausible date range (default: the shipped settings). An optional
    table with a header and no rows is read as empty (e.g. no tickets yet).

    >>> ds = load_dataset("data/demo")            # doctest: +SKIP
    >>> ds.subscriptions.columns.tolist()         # doctest: +SKIP
    ['account_id', 'month', 'product', 'licenses', 'mrr']
    """
    settings = settings or load_settings()
    raw, notes = read_raw_tables(path)
    options = read_options(path) if Path(path).is_dir() else {}
    return build_dataset(raw, notes, str(path), settings, options, events=events_folder(path, raw))


def build_dataset(raw: dict[str, RawTable], notes: list[str], where: str, settings: Settings,
                  options: dict[str, object], events: Path | None = None) -> Dataset:
    """Validate raw tables (from a folder, a DuckDB file or a mapping), derive subscriptions
    from contracts or invoice lines, complete the accounts and return the dataset."""
    if events is not None:  # Ibis (and an engine) are imported only for datasets with raw events
        from cs_analysis.data.events import usage_from_events

        raw["usage"] = RawTable("usage", usage_from_events(events), f"{EVENTS_FOLDER}/ (usage)", 1)
        notes.append(f"usage computed from the raw events in {EVENTS_FOLDER}/")
    typed = validate_tables(raw, where, settings.date_limits(), notes, settings.currency)
    source = next(s for s in billing.SOURCES if s in typed)
    as_of, derived = derive_mrr(typed, settings, options, notes)
    complete_accounts(typed, notes)
    if events is not None:
        from cs_analysis.data.events import complete_usage

        typed["usage"] = complete_usage(typed["usage"], typed["subscriptions"])
    return Dataset(**typed, source=where, notes=notes, mrr_source=source, as_of=as_of,
                   through=derived.through if derived else None, since=derived.since if derived else None)
