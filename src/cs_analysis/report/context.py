"""What the report notebooks call: one context per run (data, settings, engine, period,
language and outputs: :class:`~cs_analysis.report.base.ReportBase`) with one section per
subject — ``ctx.kpi``, ``ctx.health``, ``ctx.model``, ``ctx.risks``, ``ctx.renewals`` (:mod:`.sections`) — and
the quarterly summary, written from its template in :mod:`cs_analysis.i18n`.

In a report run, the churn model and the at-risk list, which several notebooks share, are
computed once by ``prepare``; the contact-impact estimate by the health review (the quarterly
report runs after it) and the monthly trend by the first notebook that needs it; later
notebooks read them back from ``<out>/model/`` and ``<out>/cache/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from cs_analysis import i18n
from cs_analysis.errors import ReportError
from cs_analysis.report.base import ReportBase, default_data
from cs_analysis.report.formatting import md_escape
from cs_analysis.report.pages import run_pages
from cs_analysis.report.sections import (
    HEADLINE,
    HealthSection,
    KpiSection,
    ModelSection,
    RenewalSection,
    RiskSection,
)

__all__ = ["HEADLINE", "ReportContext", "default_data"]

SUMMARY_MONEY = {"mrr_end", "net_new_mrr", "lost_revenue"}
SUMMARY_RATES = ("customer_churn_rate", "nrr", "grr", "target_achievement_rate")


@dataclass
class ReportContext(ReportBase):
    """One report run: the shared core plus its sections."""

    @cached_property
    def kpi(self) -> KpiSection:
        return KpiSection(self)

    @cached_property
    def health(self) -> HealthSection:
        return HealthSection(self)

    @cached_property
    def model(self) -> ModelSection:
        return ModelSection(self)

    @cached_property
    def risks(self) -> RiskSection:
        return RiskSection(self, self.model)

    @cached_property
    def renewals(self) -> RenewalSection:
        return RenewalSection(self, self.model, self.risks, self.kpi)

    def prepare(self) -> None:
        """Compute and cache what several notebooks of a report run share (see module docs)."""
        if not self.out:
            raise ReportError("prepare() needs the report folder (out)")
        _ = self.risks.accounts  # trains (or loads) the model and caches the at-risk list

    def index(self, segments: str = "size,touch_tier") -> str:
        """Markdown links to every page of the run (report.pages; the segment pages of
        ``segments``, comma-separated, as the run was given them), this one first."""
        by = [b.strip() for b in segments.split(",") if b.strip()]
        if "size" in by and not self.has_size:
            by.remove("size")
        lines = [f"**{md_escape(self.t('index'))}**", ""]
        for page in run_pages(self.engine, self.period, by):
            title = self.t(page.notebook)
            if page.segment_by is not None:
                title = f"{title}: {self.segment_name(page.segment_by, page.segment)}"
            lines.append(f"- [{md_escape(title)}]({page.name}.html)")
        return "\n".join(lines)

    def summary(self) -> str:
        """The quarterly report's opening paragraph as Markdown, in the report's language, from
        the template ``i18n.SUMMARY`` (every value escaped: see
        :func:`~cs_analysis.report.formatting.md_escape`)."""
        ch = self.kpi.changes[self.kpi.changes["segment_by"] == "all"].set_index("kpi")
        v = ch["value"]
        fields = {k: self.fmt(k, v[k]) for k in (*SUMMARY_MONEY, *SUMMARY_RATES)}
        fields.update(
            period=self.period.label,
            churned_accounts=f"{v['churned_accounts']}",
            churned_accounts_year_ago=_or_dash(ch["year_ago"].get("churned_accounts")),
            caution_start=f"{v['caution_or_action_accounts_start']}",
            caution_end=f"{v['caution_or_action_accounts_end']}",
            top_risk_arr=self.fmt("mrr_end", self.risks.top_arr(10)),
        )
        return md_escape(i18n.pick(i18n.SUMMARY, self.lang).format(**fields))


def _or_dash(value: object) -> str:
    return "—" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value}"
