"""The report's sections, one per subject: KPIs, health, the churn model and the at-risk list.
Each reads the run's shared core (:class:`~cs_analysis.report.base.ReportBase`: data, settings,
engine, period, language, outputs) and returns what a notebook shows — formatted tables and
figures, saved as the run's tables/ and figures/.

scikit-learn and skops are imported only by the methods that train or apply a model, so a
notebook's kernel that needs neither starts in about half the time.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from IPython.display import HTML, Image, Markdown

from cs_analysis import i18n
from cs_analysis.core.ledger import mrr_ledger
from cs_analysis.data.io import write_text
from cs_analysis.errors import DataError, HistoryError, SegmentError
from cs_analysis.kpis.cohorts import Cohorts, cohort_retention
from cs_analysis.kpis.engine import kpi_changes, monthly_trend
from cs_analysis.kpis.registry import FAMILIES, HEALTH_KPIS, KPIS
from cs_analysis.model.artefact import CANDIDATES, ChurnModel, ModelMeta
from cs_analysis.model.forecast import (
    Committed,
    committed_mrr,
    forecast_mrr,
    months_ahead_to_next_quarter,
    renewal_calendar,
)
from cs_analysis.model.persistence import load_metadata, load_model, save_model
from cs_analysis.report import plots
from cs_analysis.report.base import ReportBase
from cs_analysis.report.formatting import Table, format_value, kpi_label, md_escape, reason_name, segment_value, signed

if TYPE_CHECKING:
    from cs_analysis.health.review import Backtest
    from cs_analysis.model.impact import Impact

HEADLINE = ["mrr_end", "net_new_mrr", "customer_churn_rate", "revenue_churn_rate", "nrr", "grr",
            "churned_accounts", "lost_revenue", "nps", "upsell_mrr", "cross_sell_mrr", "ltv",
            "caution_or_action_accounts_end", "target_achievement_rate"]
DROPPED_ANCHOR = "dropped-a-level"
METRIC_UNITS = {"model": "model", "roc_auc": "ratio", "pr_auc": "ratio", "top10_capture": "prob", "lift_top10": "ratio",
                "brier": "ratio", "ece": "ratio", "rows": "count", "churn_rate": "prob"}
TREND_KPIS = ["customer_churn_rate", "revenue_churn_rate", "nrr", "grr", "mrr_end", "nps", "active_accounts_end"]


@dataclass
class KpiSection:
    """The period's KPIs: tidy and formatted tables, changes, trend and MRR figures."""

    base: ReportBase

    def tidy(self, by: tuple[str, ...] = ()) -> pd.DataFrame:
        """Every KPI of the period (tidy: period, segment_by, segment, kpi, value)."""
        return self.base.engine.kpis(self.base.period, by)

    @cached_property
    def changes(self) -> pd.DataFrame:
        """The period's KPIs beside the previous period's and a year earlier's."""
        return kpi_changes(self.base.engine, self.base.period)

    @cached_property
    def trend(self) -> pd.DataFrame:
        """The monthly trend of the charted KPIs (computed once per run, then read from its cache)."""
        return self.base.cached("trend", lambda: monthly_trend(self.base.engine, kpis=TREND_KPIS))

    def view(self, tidy: pd.DataFrame) -> Table:
        """Formatted wide view for display: one row per KPI (labels in the report language), one
        column per segment; small-base rates marked."""
        return self.base.kpi_display(tidy)

    def segment_vs_all(self, by: str, segment: str) -> pd.DataFrame:
        """The segment's KPIs beside the whole company's (saves tables/kpis_<by>.csv)."""
        tidy = self.base.table(self.tidy((by,)), f"kpis_{by}")
        present = tidy.loc[tidy["segment_by"] == by, "segment"].astype(str)
        if segment not in set(present):
            known = ", ".join(dict.fromkeys(present))
            raise SegmentError(f"no segment {segment!r} in {by} for {self.base.period.label}; segments: {known}")
        wanted = tidy[(tidy["segment_by"] == "all") | (tidy["segment"].astype(str) == segment)]
        return self.base.kpi_display(wanted[wanted["segment_by"].isin(["all", by])])

    def _headline_rows(self):  # noqa: ANN202 (a generator of (kpi, changes row, unit of its change))
        """The headline KPIs present in the period's changes: (kpi, its row of ``changes``, the
        unit of its change: points for rates)."""
        ch = self.changes[self.changes["segment_by"] == "all"].set_index("kpi")
        for kpi in HEADLINE:
            if kpi in ch.index:
                unit = KPIS[kpi].unit
                yield kpi, ch.loc[kpi], "points" if unit == "percent" else unit

    def headline(self) -> Table:
        """The headline KPIs with previous-period and year-ago values and changes, formatted
        (saves tables/headline.csv)."""
        b = self.base
        rows = []
        for kpi, r, delta_unit in self._headline_rows():
            rows.append({
                b.t("kpi"): kpi_label(kpi, b.lang),
                b.t("value"): b.fmt(kpi, r["value"]),
                b.t("previous"): b.fmt(kpi, r["previous"]),
                b.t("change_pop"): signed(r["change_pop"], delta_unit, b.settings.currency),
                b.t("year_ago"): b.fmt(kpi, r["year_ago"]),
                b.t("change_yoy"): signed(r["change_yoy"], delta_unit, b.settings.currency),
            })
        return b.show(b.table(pd.DataFrame(rows), "headline"))

    def cards(self) -> HTML:
        """The headline KPIs as cards: value, change vs the previous period and vs a year ago,
        with an arrow and a colour by whether the change is good news (the registry's direction)."""
        b = self.base
        cards = []
        for kpi, r, delta_unit in self._headline_rows():
            direction = KPIS[kpi].direction
            deltas = []
            for key, label in (("change_pop", "previous"), ("change_yoy", "year_ago")):
                value = r[key]
                if value is None or (isinstance(value, float) and np.isnan(value)):
                    deltas.append(f'<div class="d">{html.escape(b.t(label))}: —</div>')
                    continue
                good = None if direction is None or value == 0 else (value > 0) == (direction == "up")
                color = {True: "#2e7d32", False: "#c62828", None: "#616161"}[good]
                arrow = "▲" if value > 0 else ("▼" if value < 0 else "＝")
                text = signed(value, delta_unit, b.settings.currency)
                deltas.append(f'<div class="d" style="color:{color}">{arrow} {html.escape(text)} '
                              f'<span class="l">{html.escape(b.t(label))}</span></div>')
            cards.append(f'<div class="card"><div class="k">{html.escape(kpi_label(kpi, b.lang))}</div>'
                         f'<div class="v">{html.escape(b.fmt(kpi, r["value"]))}</div>{"".join(deltas)}</div>')
        style = ("<style>.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;border-radius:6px;"
                 "padding:8px 12px;min-width:170px}.card .k{font-size:12px;color:#555}.card .v{font-size:20px;"
                 "font-weight:600;margin:2px 0}.card .d{font-size:12px}.card .l{color:#777}</style>")
        return HTML(style + '<div class="cards">' + "".join(cards) + "</div>")

    def what_moved(self, n: int = 5) -> Table:
        """The largest contributors to the period's churned and expansion MRR: the segments of each
        available segmentation (size, touch tier) and the accounts behind the biggest movements."""
        b = self.base
        by = [s for s in ("size", "touch_tier") if s != "size" or b.has_size]
        tidy = self.tidy(tuple(by))
        rows = []
        for kpi in ("churned_mrr", "expansion_mrr"):
            seg = tidy[(tidy["kpi"] == kpi) & (tidy["segment_by"] != "all")]
            seg = seg.assign(v=pd.to_numeric(seg["value"], errors="coerce")).sort_values("v", ascending=False)
            total = pd.to_numeric(tidy[(tidy["kpi"] == kpi) & (tidy["segment_by"] == "all")]["value"]).sum()
            for r in seg.head(n).itertuples():
                if r.v > 0:
                    rows.append({"what": kpi_label(kpi, b.lang), "who": b.segment_name(r.segment_by, r.segment),
                                 "amount": r.v, "share": r.v / total * 100 if total else np.nan})
        ledger = mrr_ledger(b.engine.cube)
        months = ledger["month"].dt.to_period("M")
        moves = ledger[(months >= b.period.first) & (months <= b.period.last)]
        names = b.dataset.accounts.set_index("account_id")["name"]
        for movement, kpi in (("churn", "churned_mrr"), ("expansion", "expansion_mrr")):
            top = (moves[moves["movement"] == movement].groupby("account_id")["amount"].sum()
                   .sort_values(ascending=False).head(n))
            total = moves.loc[moves["movement"] == movement, "amount"].sum()
            for account, amount in top.items():
                rows.append({"what": kpi_label(kpi, b.lang), "who": f"{names.get(account, account)} ({account})",
                             "amount": amount, "share": amount / total * 100 if total else np.nan})
        frame = pd.DataFrame(rows, columns=["what", "who", "amount", "share"])
        b.table(frame, "what_moved")
        return b.show(pd.DataFrame({
            b.t("movement"): frame["what"], b.t("contributor"): frame["who"],
            b.t("amount"): frame["amount"].map(lambda v: b.fmt("mrr_end", v)),
            b.t("share_of_total"): frame["share"].map(lambda v: format_value(v, "percent")),
        }))

    def churn_reasons(self) -> pd.DataFrame | Markdown:
        """Churned accounts and MRR of the period per cancellation reason (kpis.cancellations),
        with the reason's share of churned MRR, formatted; a sentence when the dataset has no
        cancellations table. Saves tables/churn_reasons.csv."""
        b = self.base
        if b.dataset.cancellations is None:
            return Markdown(md_escape(b.t("no_cancellations")))
        tidy = self.tidy()
        tidy = tidy[tidy["kpi"].str.contains(":", regex=False)]
        family = tidy["kpi"].str.partition(":")
        wide = (tidy.assign(family=family[0], reason=family[2])
                .pivot_table(index="reason", columns="family", values="value", aggfunc="first", sort=False))
        wide = wide.reindex(columns=list(FAMILIES)).fillna(0)
        total = wide["churned_mrr_by_reason"].sum()
        wide = wide.sort_values("churned_mrr_by_reason", ascending=False)
        b.table(wide.reset_index(), "churn_reasons")
        return b.show(pd.DataFrame({
            b.t("reason"): wide.index.map(lambda r: reason_name(r, b.lang)),
            b.t("churned_accounts"): wide["churned_accounts_by_reason"].map(lambda v: b.fmt("churned_accounts", v)),
            b.t("churned_mrr"): wide["churned_mrr_by_reason"].map(lambda v: b.fmt("churned_mrr", v)),
            b.t("share"): (wide["churned_mrr_by_reason"] / total * 100 if total else wide["churned_mrr_by_reason"] * 0
                           ).map(lambda v: format_value(v, "percent")),
        }))

    def waterfall(self) -> Image:
        b = self.base
        k = self.tidy().set_index("kpi")["value"]
        steps = [(b.t("start"), k["mrr_start"]), (b.t("new"), k["new_mrr"]),
                 (b.t("expansion"), k["expansion_mrr"]), (b.t("reactivation"), k["reactivation_mrr"]),
                 (b.t("contraction"), -k["contraction_mrr"]), (b.t("churn"), -k["churned_mrr"]),
                 (b.t("end"), k["mrr_end"])]
        return b.figure(plots.mrr_waterfall(steps, b.title("waterfall")), "mrr_waterfall")

    def churn_trend(self) -> Image:
        return self._trend_chart(("customer_churn_rate", "revenue_churn_rate"), "churn_trend")

    def retention_trend(self) -> Image:
        return self._trend_chart(("nrr", "grr"), "retention_trend")

    def _trend_chart(self, kpis: tuple[str, ...], name: str) -> Image:
        labels = {k: kpi_label(k, self.base.lang) for k in kpis}
        return self.base.figure(plots.trend_lines(self.trend, labels, self.base.t(name)), name)


@dataclass
class HealthSection:
    """Health at the period's end: level mix, transitions, KPIs, backtest, gaps, onboarding."""

    base: ReportBase

    @cached_property
    def end(self) -> pd.DataFrame:
        """Every account's health at the period's end (scorer output)."""
        return self.base.engine.scorer.at(self.base.end_day)

    def kpis(self) -> Table:
        """The health KPIs of the period (levels, caution/action start vs end, targets, onboarding)."""
        tidy = self.base.engine.kpis(self.base.period)
        return self.base.kpi_display(tidy[tidy["kpi"].isin(HEALTH_KPIS)])

    def mix(self, by: str = "size") -> Image:
        """Accounts per health level in each ``by`` segment (a stacked bar figure)."""
        b = self.base
        frame = self.end.merge(b.segments(by), on="account_id", how="left")
        counts = pd.crosstab(frame[by], frame["level"])
        counts.index = [segment_value(by, v, b.lang) for v in counts.index]
        return b.figure(plots.level_mix(counts, b.level_labels(), f"{b.t('level_mix')} ({b.segment_name(by)})"), f"health_mix_{by}")

    def transitions(self) -> pd.DataFrame:
        from cs_analysis.health.review import transition_matrix

        b = self.base
        matrix = transition_matrix(b.engine.scorer, b.start_day, b.end_day)
        b.table(matrix.reset_index(), "health_transitions")
        labels = {**b.level_labels(), "churned": b.t("churned")}
        view = matrix.rename(index=labels, columns=labels)
        view.columns = [f"{b.t('to')}: {c}" for c in view.columns]
        view = view.map(lambda v: format_value(v, "count")).reset_index()
        view = view.rename(columns={view.columns[0]: b.t("from")})
        return b.show(view, b.t("transitions_caption").format(start=b.start_day.date(), end=b.end_day.date()))

    @cached_property
    def impact(self) -> Impact | str:
        """The effect of a proactive touchpoint on churn within the horizon, by touch tier, from
        outcomes known by the period's end (model.impact); a sentence saying why when the data
        cannot give it. Cached for the run's notebooks (cache/contact_impact.json)."""
        from cs_analysis.model.impact import Impact, contact_impact  # scikit-learn: not at the kernel's start

        b = self.base
        path = Path(b.out) / "cache" / "contact_impact.json" if b.out else None
        if path is not None and path.is_file():
            return Impact.from_dict(json.loads(path.read_text(encoding="utf-8")))
        try:
            found: Impact | str = contact_impact(b.dataset, b.settings, b.end_day, b.settings.horizon_months,
                                                 by="touch_tier", seed=b.seed)
        except (DataError, HistoryError) as exc:
            found = str(exc)
        if path is not None and isinstance(found, Impact):
            write_text(json.dumps(found.as_dict(), ensure_ascii=False), path)
        return found

    def impact_sentence(self) -> str:
        """The contact-impact estimate in one sentence (Markdown), in the report's language."""
        b, found = self.base, self.impact
        if isinstance(found, str):
            return md_escape(b.t("impact_unavailable").format(why=found))
        e = found.overall
        if e.effect != e.effect:
            return md_escape(b.t("impact_unavailable").format(why=f"{e.pairs} pairs"))
        verdict = ("impact_lower" if e.ci_high < 0 else "impact_higher" if e.ci_low > 0 else "impact_unclear")
        return md_escape(b.t("impact_sentence").format(
            h=found.horizon_months, effect=signed(e.effect * 100, "points"), low=signed(e.ci_low * 100, "points"),
            high=signed(e.ci_high * 100, "points"), pairs=f"{e.pairs:,}",
            touched=format_value(e.churn_touched * 100, "percent"), matched=format_value(e.churn_matched * 100, "percent"),
            verdict=b.t(verdict), first=found.months[0], last=found.months[1]))

    def impact_chart(self) -> Image | Markdown:
        """The estimate with its 95 % interval, for all accounts and per touch tier."""
        b, found = self.base, self.impact
        if isinstance(found, str):
            return Markdown("")
        rows = [(b.segment_name("all"), found.overall), *((segment_value("touch_tier", s, b.lang), e)
                                                          for s, e in found.segments.items())]
        table = pd.DataFrame([{"label": name, "effect": e.effect * 100, "low": e.ci_low * 100, "high": e.ci_high * 100}
                              for name, e in rows if e.effect == e.effect])
        b.table(table, "contact_impact")
        title = b.t("impact_title").format(h=found.horizon_months)
        return b.figure(plots.effect_intervals(table, title, b.t("impact_zero")), "contact_impact")

    @cached_property
    def drops(self) -> pd.DataFrame:
        """Accounts whose level fell between the period's start and end, with what moved their
        score (HealthScorer.moved_by), the largest fall in score first (saves tables/health_dropped.csv)."""
        b = self.base
        moved = b.engine.scorer.moved_by(b.start_day, b.end_day)
        frame = self.end[["account_id", "score", "level"]].merge(moved, on="account_id")
        dropped = (frame["level"] < frame["level_since"]).fillna(False).astype(bool)  # not active then: NA
        frame = frame[dropped].assign(score_change=lambda f: f["score"] - f["score_since"])
        names = b.dataset.accounts.set_index("account_id")["name"] if "name" in b.dataset.accounts else None
        frame.insert(1, "name", frame["account_id"].map(names) if names is not None else "")
        frame = frame.sort_values(["score_change", "account_id"], ignore_index=True)
        return b.table(frame, "health_dropped")

    def dropped_link(self) -> str:
        """A Markdown line under the transition matrix linking to the accounts that dropped a level."""
        b = self.base
        return f"[{md_escape(b.t('dropped_link').format(n=len(self.drops)))}](#{DROPPED_ANCHOR})"

    def dropped_heading(self) -> str:
        """The heading (with the anchor the matrix links to) above :meth:`dropped`, as Markdown."""
        return f'<a id="{DROPPED_ANCHOR}"></a>\n\n### {md_escape(self.base.t("dropped_title"))}'

    def dropped(self) -> Table:
        """The accounts that dropped a level: levels then and now, change in score, and reasons."""
        b = self.base
        ja = b.lang == "ja"
        return b.present(self.drops.head(30), {"account_id": "text", "name": "text", "level_since": "level",
                                               "level": "level", "score_change": "score",
                                               "moved_by_ja" if ja else "moved_by": "text"})

    @cached_property
    def backtest(self) -> Backtest:
        from cs_analysis.health.review import backtest

        return backtest(self.base.engine.scorer, horizon_months=self.base.settings.horizon_months)

    def backtest_table(self) -> Table:
        bt = self.backtest
        table = self.base.table(bt.by_level.assign(auc=bt.auc), "health_backtest")
        shown = self.base.present(table, {"level": "level", "observations": "count", "churned": "count",
                                          "churn_rate": "percent"})
        shown.caption = self.base.t("backtest_caption").format(h=bt.horizon_months, auc=format_value(bt.auc, "ratio"))
        return shown

    def backtest_chart(self) -> Image:
        b = self.base
        title = b.t("backtest").format(h=b.settings.horizon_months)
        return b.figure(plots.churn_by_level(self.backtest.by_level, b.level_labels(), title), "health_backtest")

    def no_contact(self) -> pd.DataFrame:
        from cs_analysis.health.review import engagement_gaps

        b = self.base
        gaps = b.table(engagement_gaps(b.engine.scorer, b.end_day), "no_contact_accounts")
        shown = b.present(gaps.head(20), {"account_id": "text", "name": "text", "csm_owner": "text",
                                          "days_since_contact": "days", "arr": "money"})
        shown.caption = b.t("no_contact_caption").format(days=b.settings.health.no_contact_days, n=len(gaps),
                                                         shown=len(shown))
        return shown


@dataclass
class ModelSection:
    """The churn model trained at the period's end: its backtest, folds and calibration."""

    base: ReportBase

    @property
    def path(self) -> Path | None:
        return Path(self.base.out) / "model" / "churn.skops" if self.base.out else None

    @cached_property
    def churn_model(self) -> ChurnModel:
        """The churn model trained at the period's end. In a report run the first call saves it as
        model/churn.skops and later ones load it."""
        from cs_analysis.model.training import read_truth, train_model

        b, path = self.base, self.path
        if path is not None and path.is_file():
            return load_model(path)
        h = b.settings.horizon_months
        trained = train_model(b.dataset, b.settings, b.end_day, h, truth=read_truth(b.data_path, h), seed=b.seed)
        if path is not None:
            save_model(trained.model, path)
        return trained.model

    @cached_property
    def meta(self) -> ModelMeta:
        """The model's metadata (backtest, calibration), read without loading the model when saved."""
        path = self.path
        return load_metadata(path) if path is not None and path.is_file() else self.churn_model.meta

    def backtest(self) -> Table:
        """The candidates, the health-score baseline and (demo data) the oracle on the pooled
        backtest test rows."""
        b = self.base
        table = b.table(pd.DataFrame(list(self.meta.backtest_overall)), "model_backtest")
        shown = b.present(table, METRIC_UNITS)
        shown.caption = b.t("model_backtest_caption").format(h=self.meta.horizon_months,
                                                             model=b.model_name(self.meta.model))
        folds = pd.DataFrame(list(self.meta.backtest_folds))
        if not folds.empty:  # a candidate that left the race (model.pipelines.race) ran fewer folds
            runs = folds["model"].value_counts()
            n = int(runs.get(self.meta.model, 0))
            for model in runs.index:  # candidates only: the baseline and the oracle are on every fold
                if model not in (self.meta.model, "oracle") and not model.startswith("baseline") and runs[model] < n:
                    shown.caption += b.t("model_left_race").format(model=b.model_name(model), k=int(runs[model]), n=n)
            for model in CANDIDATES:  # too few churns to train it (model.pipelines.eligible): no row at all
                if model not in runs.index:
                    shown.caption += b.t("model_not_compared").format(model=b.model_name(model))
        return shown

    def folds(self) -> Table:
        """The same per time-ordered fold."""
        table = self.base.table(pd.DataFrame(list(self.meta.backtest_folds)), "model_backtest_folds")
        shown = self.base.present(table, {"cutoff": "date", **METRIC_UNITS})
        shown.caption = self.base.t("model_folds_caption")
        return shown

    def calibration_chart(self) -> Image:
        table = pd.DataFrame(list(self.meta.calibration))
        b = self.base
        return b.figure(plots.calibration(table, b.t("calibration"), b.t("predicted"), b.t("observed")),
                        "model_calibration")


@dataclass
class RiskSection:
    """The accounts at risk at the period's end, from the model section's churn model."""

    base: ReportBase
    model: ModelSection

    @cached_property
    def accounts(self) -> pd.DataFrame:
        """Every active account with its churn probability, ARR at risk, drivers and next action
        (computed once per run, then read from its cache; saves tables/at_risk_accounts.csv)."""
        def compute() -> pd.DataFrame:
            from cs_analysis.model.training import at_risk_accounts

            b = self.base
            return at_risk_accounts(self.model.churn_model, b.dataset, b.settings, b.end_day)

        return self.base.table(self.base.cached("at_risk", compute), "at_risk_accounts")

    def top(self, n: int = 10, by: str | None = None, segment: str | None = None) -> pd.DataFrame:
        """The ``n`` accounts with the most ARR at risk (optionally of one segment), for reading."""
        b, risk = self.base, self.accounts
        if by is not None:
            seg = b.segments(by)
            risk = risk[risk["account_id"].isin(seg.loc[seg[by] == segment, "account_id"])]
        ja = b.lang == "ja"
        view = risk.head(n).assign(risk_tier=risk["risk_tier"].map(
            lambda t: i18n.pick(i18n.RISK_TIERS.get(t, (t, t)), b.lang)))
        return b.present(view, {"account_id": "text", "name": "text", "churn_probability": "prob", "risk_tier": "text",
                                "arr_at_risk": "money", "health_level": "level", "touch_tier": "segment",
                                "csm_owner": "text", "top_drivers_ja" if ja else "top_drivers": "text",
                                "next_action_ja" if ja else "next_action": "text",
                                "action_owner_ja" if ja else "action_owner": "text"})

    def by_owner_tier(self) -> Table:
        """ARR at risk and accounts per owner and touch tier (saves tables/at_risk_by_owner_tier.csv)."""
        risk = self.accounts.assign(csm_owner=self.accounts["csm_owner"].fillna(self.base.t("unassigned")))
        table = (risk.groupby(["csm_owner", "touch_tier"])
                 .agg(accounts=("account_id", "size"), high_risk=("risk_tier", lambda t: int((t == "high").sum())),
                      arr_at_risk=("arr_at_risk", "sum"))
                 .reset_index().sort_values("arr_at_risk", ascending=False, ignore_index=True))
        self.base.table(table, "at_risk_by_owner_tier")
        return self.base.present(table, {"csm_owner": "text", "touch_tier": "segment", "accounts": "count",
                                         "high_risk": "count", "arr_at_risk": "money"})

    def driver_counts(self) -> Table:
        """How often each driver appears among the high-risk accounts."""
        column = "top_drivers_ja" if self.base.lang == "ja" else "top_drivers"
        high = self.accounts[self.accounts["risk_tier"] == "high"][column]
        counts = high.str.split("; ").explode().value_counts().head(10)
        shown = self.base.present(pd.DataFrame({"driver": counts.index, "count": counts.to_numpy()}),
                                  {"driver": "text", "count": "count"})
        shown.caption = self.base.t("driver_counts_caption")
        return shown

    def by_owner_chart(self) -> Image:
        risk = self.accounts
        by_owner = risk.groupby(risk["csm_owner"].fillna(self.base.t("unassigned")))["arr_at_risk"].sum()
        return self.base.figure(plots.bars(by_owner.nlargest(15), self.base.t("arr_at_risk_owner")),
                                "arr_at_risk_by_owner")

    def top_arr(self, n: int = 10) -> float:
        """The ARR at risk of the ``n`` riskiest accounts."""
        return self.accounts.head(n)["arr_at_risk"].sum()


@dataclass
class RenewalSection:
    """The revenue ahead: cohort retention, the renewal calendar, committed MRR and the forecast
    for the next fiscal quarter (from the period's end), with the forecast's own backtest."""

    base: ReportBase
    model: ModelSection
    risks: RiskSection
    kpi: KpiSection

    @cached_property
    def cohorts(self) -> Cohorts:
        """The cohort tables as they stood at the period's end (later months are not shown)."""
        return cohort_retention(self.base.engine, by=None, end=self.base.period.last)

    def cohort_heatmap(self, measure: str = "logo") -> Image:
        """Cohort × age heatmap of one measure (logo, mrr, seats), small cohorts hatched."""
        b, table = self.base, self.cohorts
        b.table(table.frame, "cohorts")
        matrix = table.matrix(measure)
        counts = table.frame[(table.frame["measure"] == measure) & (table.frame["segment_by"] == "all")]
        counts = counts.pivot_table(index="cohort", columns="age", values="cohort_accounts", aggfunc="first")
        small = (counts.reindex_like(matrix) < table.min_accounts).fillna(False)
        title = f"{b.t('cohort_' + measure)} ({b.t('grain_' + table.grain)})"
        fig = plots.cohort_heatmap(matrix, table.sizes(), small, title, b.t("age_" + table.grain), b.t("cohort_size"),
                                   b.t("small_cohort").format(n=table.min_accounts))
        return b.figure(fig, f"cohort_{measure}")

    @property
    def months_ahead(self) -> int:
        return months_ahead_to_next_quarter(self.base.end_day, self.base.settings.fiscal_year_start_month)

    @cached_property
    def probability(self) -> pd.Series:
        """Each active account's churn probability within the horizon at the period's end."""
        risk = self.risks.accounts
        return risk.set_index("account_id")["churn_probability"]

    @cached_property
    def calendar_frame(self) -> pd.DataFrame:
        b = self.base
        health = b.engine.scorer.at(b.end_day, reasons=False).set_index("account_id")["level"]
        return renewal_calendar(b.dataset, b.settings, b.end_day, self.months_ahead, self.probability, health,
                                b.settings.horizon_months)

    def calendar(self) -> pd.DataFrame | Markdown:
        """The contracts up for renewal in the months ahead (saved as tables/renewal_calendar.csv),
        formatted; one line saying why when the dataset has no contracts."""
        b = self.base
        if b.dataset.contracts is None:
            return Markdown(md_escape(b.t("no_contracts")))
        cal = b.table(self.calendar_frame, "renewal_calendar")
        if cal.empty:
            return Markdown(md_escape(b.t("no_renewals")))
        money = lambda v: b.fmt("mrr_end", v)  # noqa: E731
        view = pd.DataFrame({
            b.t("account"): cal["name"].astype(str) + " (" + cal["account_id"].astype(str) + ")",
            b.t("product"): cal["product"],
            b.t("end_date"): cal["end_date"].dt.strftime("%Y-%m-%d"),
            b.t("days_to_renewal"): cal["days_to_renewal"].astype(int),
            b.t("arr_due"): cal["arr_due"].map(money),
            b.t("auto_renew"): cal["auto_renew"].map({True: b.t("yes"), False: b.t("no")}).fillna("—"),
            b.t("notice_deadline"): cal["notice_deadline"].dt.strftime("%Y-%m-%d"),
            b.t("owner"): cal["csm_owner"].fillna("—"),
            b.t("health_level"): cal["health_level"].map(lambda v: b.level_labels().get(int(v), "—")
                                                         if v == v else "—"),
            b.t("churn_probability"): cal["churn_probability"].map(lambda v: format_value(v * 100, "percent")),
            b.t("expected_renewal_arr"): cal["expected_renewal_arr"].map(money),
        })
        return b.show(view.head(30))

    @cached_property
    def committed(self) -> Committed:
        b = self.base
        return committed_mrr(b.dataset, b.settings, b.end_day, self.months_ahead)

    @cached_property
    def forecast_frame(self) -> pd.DataFrame:
        meta = self.model.meta
        ece = next((r["ece"] for r in meta.backtest_overall if r.get("model") == meta.model), 0.0)
        return forecast_mrr(self.committed, self.probability, self.base.settings.horizon_months, float(ece))

    def forecast(self) -> pd.DataFrame:
        """Committed and forecast MRR (low, base, high) per month ahead (tables/mrr_forecast.csv)."""
        b = self.base
        table = self.forecast_frame.merge(self.committed.table, on=["month", "cmrr"])
        b.table(table, "mrr_forecast")
        money = lambda v: b.fmt("mrr_end", v)  # noqa: E731
        return pd.DataFrame({
            b.t("month"): table["month"],
            b.t("cmrr"): table["cmrr"].map(money),
            b.t("known_cancellations"): table["known_cancellations"].map(money),
            b.t("signed_new"): table["signed_new"].map(money),
            b.t("forecast_low"): table["low"].map(money),
            b.t("forecast_base"): table["base"].map(money),
            b.t("forecast_high"): table["high"].map(money),
        }).pipe(b.show)

    def forecast_chart(self) -> Image:
        b = self.base
        history = self.kpi.trend
        past = history[(history["kpi"] == "mrr_end") & (history["segment_by"] == "all")
                       & (history["month"] <= b.period.end.to_timestamp())]  # what was known at the period's end
        fig = plots.forecast(past, self.forecast_frame, b.t("forecast_title"),
                             {k: b.t(k) for k in ("actual", "forecast_base", "cmrr", "band")})
        return b.figure(fig, "mrr_forecast")

    @cached_property
    def backtest_frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.model.meta.forecast_backtest))

    def backtest(self) -> pd.DataFrame | Markdown:
        """Mean absolute percentage error of the forecast made at past dates, by month ahead."""
        b, f = self.base, self.backtest_frame
        if f.empty:
            return Markdown(md_escape(b.t("no_forecast_backtest")))
        b.table(f, "mrr_forecast_backtest")
        table = f.groupby("months_ahead").agg(dates=("as_of", "nunique"), mape_existing=("ape_existing", "mean"),
                                              mape_all=("ape_all", "mean")).reset_index()
        return pd.DataFrame({
            b.t("months_ahead"): table["months_ahead"],
            b.t("forecast_dates"): table["dates"],
            b.t("mape_existing"): table["mape_existing"].map(lambda v: format_value(v, "percent")),
            b.t("mape_all"): table["mape_all"].map(lambda v: format_value(v, "percent")),
        }).pipe(b.show)

    def headline(self) -> str:
        """One Markdown line for the quarterly report: ARR up for renewal in the next quarter, its
        expected renewal rate and the forecast MRR at the quarter's end."""
        b = self.base
        end = self.forecast_frame.iloc[-1]
        parts = {"forecast": b.fmt("mrr_end", end["base"]), "low": b.fmt("mrr_end", end["low"]),
                 "high": b.fmt("mrr_end", end["high"]), "month": end["month"]}
        if b.dataset.contracts is None:
            return md_escape(b.t("headline_no_contracts").format(**parts))
        cal = self.calendar_frame
        due = float(cal["arr_due"].sum())
        expected = float(cal["expected_renewal_arr"].sum())
        parts.update(arr_due=b.fmt("mrr_end", due), contracts=f"{len(cal):,}",
                     rate=format_value(expected / due * 100 if due else float("nan"), "percent"))
        return md_escape(b.t("headline_renewals").format(**parts))
