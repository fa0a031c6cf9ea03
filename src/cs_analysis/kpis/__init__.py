"""Every CS KPI by period and segment: the registry that declares them (:mod:`.registry`), the
engine that computes them (:mod:`.engine`), survival LTV (:mod:`.retention`), contact reasons
(:mod:`.reasons`) and the success roadmap (:mod:`.roadmap`)."""

from cs_analysis.kpis.engine import KpiEngine, compute_kpis, kpi_changes, monthly_trend
from cs_analysis.kpis.registry import KPIS

__all__ = ["KPIS", "KpiEngine", "compute_kpis", "kpi_changes", "monthly_trend"]
