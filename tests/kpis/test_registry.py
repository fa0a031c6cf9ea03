"""The KPI registry is the one declaration of every KPI: the engine computes exactly its KPIs,
in its order; units, labels and directions are complete; docs/kpis.md carries its table."""

from __future__ import annotations

from pathlib import Path

from conftest import dataset_from
from cs_analysis.config import Settings
from cs_analysis.kpis import KPIS, compute_kpis
from cs_analysis.kpis.registry import registry_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_every_kpi_is_declared_with_unit_labels_and_direction():
    for name, kpi in KPIS.items():
        assert kpi.unit in ("money", "count", "percent", "score", "days"), name
        assert kpi.en and kpi.ja, name
        assert kpi.direction in ("up", "down", None), name
    assert KPIS["customer_churn_rate"].direction == "down" and KPIS["nrr"].direction == "up"


def test_the_engine_computes_exactly_the_registry_in_its_order():
    ds = dataset_from([("A", "2025-03", "core", 1, 100), ("A", "2025-04", "core", 2, 150)])
    frame = compute_kpis(ds, "2025-04", Settings())
    assert frame["kpi"].tolist() == list(KPIS)


def test_docs_carry_the_registry():
    doc = (ROOT / "docs" / "kpis.md").read_text(encoding="utf-8")
    table = doc.split("<!-- registry:start -->\n", 1)[1].split("\n<!-- registry:end -->", 1)[0]
    assert table == registry_markdown()
