"""What the report notebooks call: one context per run that loads the data once, computes KPIs,
health and the model for the period, formats them in Japanese or English, and saves every
table (tables/*.csv) and figure (figures/*.png) it shows. Notebooks hold no logic of their own.

In a report run, the churn model and the at-risk list, which several notebooks share, are
computed once by ``prepare``, and the monthly trend by the first notebook that needs it; later
notebooks read them back from ``<out>/model/`` and ``<out>/cache/``; scikit-learn and
skops are imported only by the methods that train or apply a model, so a notebook's kernel
starts in about half the time.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from IPython.display import Image
from matplotlib.figure import Figure

from cs_analysis import i18n
from cs_analysis.config.settings import Settings, load_settings
from cs_analysis.core.periods import Period
from cs_analysis.core.segments import reference_month
from cs_analysis.data.dataset import Dataset, load_dataset
from cs_analysis.data.io import atomic_path, write_frame
from cs_analysis.errors import ReportError, SegmentError
from cs_analysis.health.scorer import HealthScorer
from cs_analysis.kpis.engine import KpiEngine, kpi_changes, monthly_trend
from cs_analysis.kpis.registry import HEALTH_KPIS, KPIS
from cs_analysis.model.artefact import ChurnModel, ModelMeta
from cs_analysis.model.persistence import load_metadata, load_model, save_model
from cs_analysis.report import plots
from cs_analysis.report.formatting import format_value, kpi_label, kpi_table, md_escape

if TYPE_CHECKING:
    from cs_analysis.health.review import Backtest

HEADLINE = ["mrr_end", "net_new_mrr", "customer_churn_rate", "revenue_churn_rate", "nrr", "grr",
            "churned_accounts", "lost_revenue", "nps", "upsell_mrr", "cross_sell_mrr", "ltv",
            "caution_or_action_accounts_end", "target_achievement_rate"]


def default_data() -> str:
    """The dataset a notebook reads when its ``data`` parameter is empty."""
    return os.environ.get("CS_ANALYSIS_DATA", str(Path(__file__).resolve().parents[3] / "data" / "demo"))


@dataclass
class ReportContext:
    """One report run's data, settings and outputs (``out``: the report folder, or None)."""

    data: str
    period_text: str
    lang: str = "ja"
    config: str | None = None
    out: str | None = None
    seed: int = 0

    @cached_property
    def dataset(self) -> Dataset:
        return load_dataset(self.data or default_data(), self.settings)

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.config or None)

    @cached_property
    def engine(self) -> KpiEngine:
        return KpiEngine(self.dataset, self.settings)

    @cached_property
    def period(self) -> Period:
        if self.period_text:
            return self.engine.period(self.period_text)
        return self.engine.default_period()

    @property
    def end_day(self) -> pd.Timestamp:
        return self.period.end.end_time.normalize()

    @property
    def start_day(self) -> pd.Timestamp:
        return self.period.start.end_time.normalize()

    @cached_property
    def scorer(self) -> HealthScorer:
        return self.engine.scorer

    def t(self, key: str) -> str:
        """A heading or label in the report's language."""
        return i18n.pick(i18n.REPORT[key], self.lang)

    def title(self, key: str) -> str:
        """A page title as Markdown (text from the data or settings escaped)."""
        return md_escape(f"{self.t(key)} — {self.period.label} ({self.period.first}..{self.period.last})")

    # ---- outputs ---------------------------------------------------------------------------
    def _cached(self, name: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """``compute()``, read back from <out>/cache/<name>.parquet when a run has saved it."""
        if not self.out:
            return compute()
        path = Path(self.out) / "cache" / f"{name}.parquet"
        if path.is_file():
            return pd.read_parquet(path)
        frame = compute()
        write_frame(frame, path)
        return frame

    def prepare(self) -> None:
        """Compute and cache what several notebooks of a report run share (see module docs)."""
        if not self.out:
            raise ReportError("prepare() needs the report folder (out)")
        _ = self.at_risk  # trains (or loads) the model and caches the at-risk list

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

    # ---- KPIs ------------------------------------------------------------------------------
    def kpis(self, by: tuple[str, ...] = ()) -> pd.DataFrame:
        return self.engine.kpis(self.period, by)

    @cached_property
    def changes(self) -> pd.DataFrame:
        return kpi_changes(self.engine, self.period)

    @cached_property
    def trend(self) -> pd.DataFrame:
        kpis = ["customer_churn_rate", "revenue_churn_rate", "nrr", "grr", "mrr_end", "nps", "active_accounts_end"]
        return self._cached("trend", lambda: monthly_trend(self.engine, kpis=kpis))

    def fmt(self, kpi: str, value: object) -> str:
        return format_value(value, KPIS[kpi][0], self.settings.currency)

    def kpi_view(self, tidy: pd.DataFrame) -> pd.DataFrame:
        """Formatted wide view: one row per KPI (labels in the report language), one column per segment."""
        return kpi_table(tidy, self.settings.currency, self.lang, total=self.t("value"))

    def segment_vs_all(self, by: str, segment: str) -> pd.DataFrame:
        """The segment's KPIs beside the whole company's (saves tables/kpis_<by>.csv)."""
        tidy = self.table(self.kpis((by,)), f"kpis_{by}")
        view = self.kpi_view(tidy)
        column = f"{by}={segment}"
        if column not in view.columns:
            known = ", ".join(c.split("=", 1)[1] for c in view.columns if "=" in c)
            raise SegmentError(f"no segment {segment!r} in {by} for {self.period.label}; segments: {known}")
        return view[[view.columns[0], column]]

    def health_kpis(self) -> pd.DataFrame:
        """The health KPIs of the period (levels, caution/action start vs end, targets, onboarding)."""
        tidy = self.kpis()
        return self.kpi_view(tidy[tidy["kpi"].isin(HEALTH_KPIS)])

    def headline(self) -> pd.DataFrame:
        """The headline KPIs with previous-period and year-ago values and changes, formatted."""
        ch = self.changes[self.changes["segment_by"] == "all"].set_index("kpi")
        rows = []
        for kpi in HEADLINE:
            if kpi not in ch.index:
                continue
            r = ch.loc[kpi]
            unit = KPIS[kpi][0]
            delta_unit = "points" if unit == "percent" else unit
            rows.append({
                self.t("kpi"): kpi_label(kpi, self.lang),
                self.t("value"): self.fmt(kpi, r["value"]),
                self.t("previous"): self.fmt(kpi, r["previous"]),
                self.t("change_pop"): _delta(r["change_pop"], delta_unit, self.settings.currency),
                self.t("year_ago"): self.fmt(kpi, r["year_ago"]),
                self.t("change_yoy"): _delta(r["change_yoy"], delta_unit, self.settings.currency),
            })
        return pd.DataFrame(rows)

    def waterfall(self) -> Image:
        k = self.kpis().set_index("kpi")["value"]
        steps = [(self.t("start"), k["mrr_start"]), (self.t("new"), k["new_mrr"]),
                 (self.t("expansion"), k["expansion_mrr"]), (self.t("reactivation"), k["reactivation_mrr"]),
                 (self.t("contraction"), -k["contraction_mrr"]), (self.t("churn"), -k["churned_mrr"]),
                 (self.t("end"), k["mrr_end"])]
        return self.figure(plots.mrr_waterfall(steps, self.title("waterfall")), "mrr_waterfall")

    def churn_trend(self) -> Image:
        kpis = {k: kpi_label(k, self.lang) for k in ("customer_churn_rate", "revenue_churn_rate")}
        return self.figure(plots.trend_lines(self.trend, kpis, self.t("churn_trend")), "churn_trend")

    def retention_trend(self) -> Image:
        kpis = {k: kpi_label(k, self.lang) for k in ("nrr", "grr")}
        return self.figure(plots.trend_lines(self.trend, kpis, self.t("retention_trend")), "retention_trend")

    # ---- health ----------------------------------------------------------------------------
    @cached_property
    def health_end(self) -> pd.DataFrame:
        return self.scorer.at(self.end_day)

    def level_labels(self) -> dict[int, str]:
        return {k: f"{k} {i18n.pick(v, self.lang)}" for k, v in i18n.LEVELS.items()}

    def health_backtest_table(self) -> pd.DataFrame:
        bt = self.health_backtest
        table = bt.by_level.assign(auc=bt.auc)
        return self.table(table, "health_backtest")

    def health_mix(self, by: str = "size") -> Image:
        frame = self.health_end.merge(self._segments(by), on="account_id", how="left")
        counts = pd.crosstab(frame[by], frame["level"])
        return self.figure(plots.level_mix(counts, self.level_labels(), f"{self.t('level_mix')} ({by})"),
                           f"health_mix_{by}")

    def _segments(self, by: str) -> pd.DataFrame:
        i1 = self.engine.cube.month_index(self.period.first)
        i2 = self.engine.cube.month_index(self.period.end)
        labels = self.engine.segmenter.labels(by, reference_month(self.engine.cube, i1, i2))
        return pd.DataFrame({"account_id": self.engine.cube.accounts, by: labels})

    def transitions(self) -> pd.DataFrame:
        from cs_analysis.health.review import transition_matrix

        return self.table(transition_matrix(self.scorer, self.start_day, self.end_day).reset_index(),
                          "health_transitions")

    @cached_property
    def health_backtest(self) -> Backtest:
        from cs_analysis.health.review import backtest

        return backtest(self.scorer, horizon_months=self.settings.horizon_months)

    def backtest_chart(self) -> Image:
        return self.figure(plots.churn_by_level(self.health_backtest.by_level, self.level_labels(),
                                                self.t("backtest").format(h=self.settings.horizon_months)), "health_backtest")

    def no_contact(self) -> pd.DataFrame:
        from cs_analysis.health.review import engagement_gaps

        return self.table(engagement_gaps(self.scorer, self.end_day), "no_contact_accounts")

    def onboarding(self) -> pd.DataFrame:
        from cs_analysis.health.review import onboarding_summary

        return pd.DataFrame([onboarding_summary(self.scorer, self.end_day)])

    # ---- model -----------------------------------------------------------------------------
    @property
    def _model_path(self) -> Path | None:
        return Path(self.out) / "model" / "churn.skops" if self.out else None

    @cached_property
    def model(self) -> ChurnModel:
        """The churn model trained at the period's end. In a report run the first call saves it as
        model/churn.skops and later ones load it."""
        from cs_analysis.model.training import read_truth, train_model

        path = self._model_path
        if path is not None and path.is_file():
            return load_model(path)
        h = self.settings.horizon_months
        trained = train_model(self.dataset, self.settings, self.end_day, h,
                              truth=read_truth(self.data or default_data(), h), seed=self.seed)
        if path is not None:
            save_model(trained.model, path)
        return trained.model

    @cached_property
    def model_meta(self) -> ModelMeta:
        """The churn model's metadata (backtest, calibration), read without loading the model when saved."""
        path = self._model_path
        return load_metadata(path) if path is not None and path.is_file() else self.model.meta

    def model_backtest(self) -> pd.DataFrame:
        return self.table(pd.DataFrame(list(self.model_meta.backtest_overall)), "model_backtest")

    def model_folds(self) -> pd.DataFrame:
        return self.table(pd.DataFrame(list(self.model_meta.backtest_folds)), "model_backtest_folds")

    def calibration_chart(self) -> Image:
        table = pd.DataFrame(list(self.model_meta.calibration))
        return self.figure(plots.calibration(table, self.t("calibration")), "model_calibration")

    @cached_property
    def at_risk(self) -> pd.DataFrame:
        def compute() -> pd.DataFrame:
            from cs_analysis.model.training import at_risk_accounts

            return at_risk_accounts(self.model, self.dataset, self.settings, self.end_day)

        return self.table(self._cached("at_risk", compute), "at_risk_accounts")

    def top_risks(self, n: int = 10, by: str | None = None, segment: str | None = None) -> pd.DataFrame:
        """The ``n`` accounts with the most ARR at risk (optionally of one segment), for reading."""
        risk = self.at_risk
        if by is not None:
            seg = self._segments(by)
            risk = risk[risk["account_id"].isin(seg.loc[seg[by] == segment, "account_id"])]
        ja = self.lang == "ja"
        cols = ["account_id", "name", "churn_probability", "risk_tier", "arr_at_risk",
                "health_level_ja" if ja else "health_level", "touch_tier", "csm_owner",
                "top_drivers_ja" if ja else "top_drivers", "next_action_ja" if ja else "next_action"]
        view = risk[cols].head(n).copy()
        view["churn_probability"] = view["churn_probability"].map(lambda p: f"{p * 100:.1f}%")
        view["arr_at_risk"] = view["arr_at_risk"].map(lambda x: self.fmt("mrr_end", x))
        return view

    def at_risk_summary(self) -> pd.DataFrame:
        """ARR at risk and accounts per owner and touch tier."""
        risk = self.at_risk.assign(csm_owner=self.at_risk["csm_owner"].fillna("(none)"))
        return (risk.groupby(["csm_owner", "touch_tier"])
                .agg(accounts=("account_id", "size"), high_risk=("risk_tier", lambda t: int((t == "high").sum())),
                     arr_at_risk=("arr_at_risk", "sum"))
                .reset_index().sort_values("arr_at_risk", ascending=False, ignore_index=True))

    def driver_counts(self) -> pd.Series:
        """How often each driver appears among the at-risk list's high-risk accounts."""
        column = "top_drivers_ja" if self.lang == "ja" else "top_drivers"
        high = self.at_risk[self.at_risk["risk_tier"] == "high"][column]
        return high.str.split("; ").explode().value_counts().head(10)

    def at_risk_by_owner(self) -> Image:
        by_owner = self.at_risk.groupby(self.at_risk["csm_owner"].fillna("(none)"))["arr_at_risk"].sum()
        return self.figure(plots.bars(by_owner.nlargest(15), self.t("arr_at_risk_owner")), "arr_at_risk_by_owner")

    def summary(self) -> str:
        """The quarterly report's opening paragraph as Markdown, in the report's language (every
        value escaped: see :func:`~cs_analysis.report.formatting.md_escape`)."""
        return md_escape(self._summary_text())

    def _summary_text(self) -> str:
        ch = self.changes[self.changes["segment_by"] == "all"].set_index("kpi")
        v = ch["value"]
        risk = self.at_risk
        top = risk.head(10)["arr_at_risk"].sum()
        caution_start, caution_end = v["caution_or_action_accounts_start"], v["caution_or_action_accounts_end"]
        if self.lang == "ja":
            return (f"{self.period.label}の期末MRRは{self.fmt('mrr_end', v['mrr_end'])}"
                    f"（純増{self.fmt('net_new_mrr', v['net_new_mrr'])}）。"
                    f"顧客チャーンレートは{self.fmt('customer_churn_rate', v['customer_churn_rate'])}、"
                    f"NRRは{self.fmt('nrr', v['nrr'])}、GRRは{self.fmt('grr', v['grr'])}。"
                    f"解約は{v['churned_accounts']}社（前年同期{_or_dash(ch['year_ago'].get('churned_accounts'))}社）、"
                    f"逸失金額は{self.fmt('lost_revenue', v['lost_revenue'])}。"
                    f"注意・要対応の顧客は期首{caution_start}社→期末{caution_end}社、"
                    f"目標ヘルス達成率は{self.fmt('target_achievement_rate', v['target_achievement_rate'])}。"
                    f"リスク上位10社のリスクARRは合計{self.fmt('mrr_end', top)}です。")
        return (f"In {self.period.label}, MRR ended at {self.fmt('mrr_end', v['mrr_end'])} "
                f"(net new {self.fmt('net_new_mrr', v['net_new_mrr'])}). Customer churn was "
                f"{self.fmt('customer_churn_rate', v['customer_churn_rate'])}, NRR {self.fmt('nrr', v['nrr'])}, "
                f"GRR {self.fmt('grr', v['grr'])}. {v['churned_accounts']} accounts churned (a year ago: "
                f"{_or_dash(ch['year_ago'].get('churned_accounts'))}), lost revenue "
                f"{self.fmt('lost_revenue', v['lost_revenue'])}. Caution + action-required accounts went from "
                f"{caution_start} to {caution_end}; target achievement "
                f"{self.fmt('target_achievement_rate', v['target_achievement_rate'])}. The ten riskiest "
                f"accounts carry {self.fmt('mrr_end', top)} of ARR at risk.")


def _or_dash(value: object) -> str:
    return "—" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value}"


def _delta(value: object, unit: str, currency: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    x = float(value)  # type: ignore[arg-type]
    if unit == "points":
        return f"{x:+.1f}pt".replace("-", "−")
    if unit == "score":
        return f"{x:+.1f}".replace("-", "−")
    text = format_value(abs(x), unit, currency)
    return ("+" if x >= 0 else "−") + text
