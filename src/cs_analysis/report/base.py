"""The small core every report page shares: one run's data, settings, KPI engine and period,
the report's language, and the saving of what a page shows (tables/*.csv, figures/*.png and
the run's cache). The page contents are the sections (:mod:`.sections`), reached through
:class:`~cs_analysis.report.context.ReportContext`.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd
from IPython.display import Image
from matplotlib.figure import Figure

from cs_analysis import i18n
from cs_analysis.config.settings import Settings, load_settings
from cs_analysis.core.periods import Period
from cs_analysis.core.segments import reference_month
from cs_analysis.data.dataset import Dataset, load_dataset, load_snapshot
from cs_analysis.data.io import atomic_path, write_frame, write_text
from cs_analysis.kpis.engine import KpiEngine
from cs_analysis.kpis.registry import lookup
from cs_analysis.report.formatting import (
    SMALL_BASE_MARK,
    Table,
    format_value,
    kpi_table,
    md_escape,
    present,
    segment_name,
)

_SHARED: dict[tuple, tuple[Dataset, KpiEngine]] = {}


def _stamp(path: str | None) -> tuple:
    """Every file under ``path`` (or ``path`` itself) with its size and modification time: the
    same stamp, the same contents (as far as a reload would tell)."""
    if not path:
        return ()
    root = Path(path)
    stamps = []
    for f in [root] if root.is_file() else sorted(root.rglob("*")):
        try:
            st = f.stat()
        except OSError:  # gone since it was listed (e.g. a report written into the folder)
            continue
        if f.is_file():
            stamps.append((str(f), st.st_size, st.st_mtime_ns))
    return tuple(stamps)


SNAPSHOT_ENV = "CS_ANALYSIS_SNAPSHOT"  # a report run's validated dataset, for its notebook kernels
SNAPSHOT_KEY = "key.json"  # the files (and sizes, times) the snapshot was made from


def _key(data: str, config: str | None) -> tuple:
    return (str(Path(data).resolve()), _stamp(data), _stamp(config))


def write_snapshot(dataset: Dataset, folder: Path, data: str, config: str | None) -> Path:
    """The run's validated ``dataset`` as a snapshot in ``folder`` (Parquet, see
    :meth:`Dataset.save_snapshot`) with the key of the files it came from, for
    :func:`shared_engine` in the run's kernels (found through the :data:`SNAPSHOT_ENV` variable).
    The key is written only when the files are still the ones ``dataset`` was loaded from (the
    key :func:`shared_engine` loaded it under): a file changed since, and the kernels load the files."""
    dataset.save_snapshot(folder)
    key = _key(data, config)
    if key in _SHARED and _SHARED[key][0] is dataset:
        write_text(json.dumps(key), folder / SNAPSHOT_KEY)
    return folder


def _from_snapshot(key: tuple) -> Dataset | None:
    """The run's snapshot of the dataset when it was made from exactly these files, else None."""
    folder = os.environ.get(SNAPSHOT_ENV)
    if not folder:
        return None
    try:
        made_from = json.loads((Path(folder) / SNAPSHOT_KEY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return load_snapshot(folder) if made_from == json.loads(json.dumps(key)) else None


def shared_engine(data: str, config: str | None, settings: Settings) -> tuple[Dataset, KpiEngine]:
    """The dataset at ``data`` and its KPI engine, loaded once per process for the same files and
    settings file: the report notebooks a worker's kernel runs one after another
    (:mod:`.kernels`) share them. In a report run's kernels the dataset comes from the run's
    snapshot (validated once, by the run: :func:`write_snapshot`) when the files are unchanged.
    Any change to a file of the dataset or the settings (its size or modification time) loads it
    again; only the latest is kept."""
    key = _key(data, config)
    if key not in _SHARED:
        _SHARED.clear()
        dataset = _from_snapshot(key) or load_dataset(data, settings)
        _SHARED[key] = (dataset, KpiEngine(dataset, settings))
    return _SHARED[key]


def default_data() -> str:
    """The dataset a notebook reads when its ``data`` parameter is empty."""
    return os.environ.get("CS_ANALYSIS_DATA", str(Path(__file__).resolve().parents[3] / "data" / "demo"))


@dataclass
class ReportBase:
    """One report run's data, settings and outputs (``out``: the report folder, or None to
    write nothing); everything is computed on first use and kept."""

    data: str
    period_text: str
    lang: str = "ja"
    config: str | None = None
    out: str | None = None
    seed: int = 0

    @property
    def data_path(self) -> str:
        return self.data or default_data()

    @cached_property
    def dataset(self) -> Dataset:
        return self._loaded[0]

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.config or None)

    @cached_property
    def engine(self) -> KpiEngine:
        return self._loaded[1]

    @cached_property
    def _loaded(self) -> tuple[Dataset, KpiEngine]:
        return shared_engine(self.data_path, self.config or None, self.settings)

    @cached_property
    def period(self) -> Period:
        if self.period_text:
            return self.engine.period(self.period_text)
        return self.engine.default_period()

    @property
    def has_size(self) -> bool:
        """Whether the size segment is available (the accounts have an employees column)."""
        return "employees" in self.dataset.accounts.columns

    @property
    def mix_by(self) -> str:
        """The segmentation of the health review's level mix: size, else the touch tier."""
        return "size" if self.has_size else "touch_tier"

    @property
    def end_day(self) -> pd.Timestamp:
        return self.period.end.end_time.normalize()

    @property
    def start_day(self) -> pd.Timestamp:
        return self.period.start.end_time.normalize()

    # ---- language ------------------------------------------------------------------------
    def t(self, key: str) -> str:
        """A heading or label in the report's language."""
        return i18n.pick(i18n.REPORT[key], self.lang)

    def title(self, key: str, by: str | None = None, segment: object = None) -> str:
        """A page title as Markdown (text from the data or settings escaped); a segment page's
        names its segment."""
        what = self.t(key) if by is None else f"{self.t(key)}: {self.segment_name(by, segment)}"
        return md_escape(f"{what} — {self.period.label} ({self.period.first}..{self.period.last})")

    def model_name(self, model: str) -> str:
        """A churn-model candidate or reference in the report's language."""
        return i18n.pick(i18n.MODELS[model], self.lang) if model in i18n.MODELS else model

    def segment_name(self, by: str, segment: object = None) -> str:
        """A segmentation or segment in the report's language (``企業規模 = SMB``; plain text)."""
        return segment_name(by, segment, self.lang)

    def data_notes(self) -> str:
        """What the loader noted about the data (derived subscriptions, segments unavailable,
        columns not used), as a Markdown list under a heading; empty when there is nothing."""
        notes = self.dataset.notes
        if not notes:
            return ""
        return f"**{md_escape(self.t('data_notes'))}**\n\n" + "\n".join(f"- {md_escape(n)}" for n in notes)

    def fmt(self, kpi: str, value: object) -> str:
        """``value`` formatted by the unit of ``kpi`` (registry) in the settings' currency."""
        return format_value(value, lookup(kpi).unit, self.settings.currency)

    def kpi_view(self, tidy: pd.DataFrame) -> pd.DataFrame:
        """Formatted wide view of tidy KPIs: one row per KPI (labels in the report language), one
        column per segment."""
        return kpi_table(tidy, self.settings.currency, self.lang, total=self.segment_name("all"),
                         small_base_accounts=self.settings.small_base_accounts)

    def show(self, frame: pd.DataFrame, caption: str | None = None) -> Table:
        """A formatted frame as the report shows it: no index column, text escaped, optional
        caption (:class:`~cs_analysis.report.formatting.Table`)."""
        return Table(frame, caption)

    def present(self, frame: pd.DataFrame, spec: dict[str, str]) -> Table:
        """``frame``'s ``spec`` columns formatted by unit under localized headers
        (:func:`~cs_analysis.report.formatting.present`)."""
        return present(frame, spec, self.lang, self.settings.currency)

    def kpi_display(self, tidy: pd.DataFrame) -> Table:
        """The KPI view of ``tidy`` for display: the KPI labels as the first column, small-base
        rates marked and explained in the caption."""
        view = self.kpi_view(tidy).reset_index()
        note = self.t("small_base_note").format(n=self.settings.small_base_accounts)
        marked = view.iloc[:, 1:].apply(lambda c: c.str.endswith(SMALL_BASE_MARK)).to_numpy().any()
        return self.show(view, note if marked else None)

    def level_labels(self) -> dict[int, str]:
        """Health level → "4 良好" (or "4 Good")."""
        return {k: f"{k} {i18n.pick(v, self.lang)}" for k, v in i18n.LEVELS.items()}

    def segments(self, by: str) -> pd.DataFrame:
        """Each account's ``by`` segment in the period (account_id, ``by``)."""
        cube = self.engine.cube
        i1, i2 = cube.month_index(self.period.first), cube.month_index(self.period.end)
        labels = self.engine.segmenter.labels(by, reference_month(cube, i1, i2))
        return pd.DataFrame({"account_id": cube.accounts, by: labels})

    # ---- outputs -------------------------------------------------------------------------
    def cached(self, name: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """``compute()``, read back from <out>/cache/<name>.parquet when a run has saved it."""
        if not self.out:
            return compute()
        path = Path(self.out) / "cache" / f"{name}.parquet"
        if path.is_file():
            return pd.read_parquet(path)
        frame = compute()
        write_frame(frame, path)
        return frame

    def table(self, frame: pd.DataFrame, name: str) -> pd.DataFrame:
        """Save ``frame`` as tables/<name>.csv (when writing a report) and return it."""
        if self.out:
            write_frame(frame, Path(self.out) / "tables" / f"{name}.csv")
        return frame

    def figure(self, fig: Figure, name: str) -> Image:
        """``fig`` as a PNG image (rendered once: what the notebook shows is what is saved as
        figures/<name>.png when writing a report)."""
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
        png = buffer.getvalue()
        if self.out:
            path = Path(self.out) / "figures" / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                tmp.write_bytes(png)
        return Image(data=png, format="png")
