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


def test_a_kpi_is_one_declaration(monkeypatch):
    """A new KPI over the existing quantities is one registry entry: the engine computes it,
    in its place, with no other change (hand-worked: MRR 100 at start over 1 account → 100)."""
    from cs_analysis.kpis.quantities import ratio
    from cs_analysis.kpis.registry import Kpi

    monkeypatch.setitem(KPIS, "arpa_start", Kpi("money", "ARPA at start", "期首ARPA", "up",
                                                 lambda q: ratio(q.mrr_start, q.in_start)))
    ds = dataset_from([("A", "2025-03", "core", 1, 100), ("A", "2025-04", "core", 2, 150),
                       ("B", "2025-04", "core", 1, 50)])
    frame = compute_kpis(ds, "2025-04", Settings()).set_index("kpi")["value"]
    assert frame.index[-1] == "arpa_start" and frame["arpa_start"] == 100.0
    assert frame["arpa"] == 100.0  # (150 + 50) / 2


def test_a_formula_over_an_absent_table_is_empty():
    ds = dataset_from([("A", "2025-03", "core", 1, 100), ("A", "2025-04", "core", 2, 150)])
    assert ds.nps_responses is None
    frame = compute_kpis(ds, "2025-04", Settings()).set_index("kpi")["value"]
    assert frame["nps"] is None and frame["nps_responses"] is None and frame["mrr_end"] == 150.0
