"""Hand-worked tests of the activity KPIs: tickets, referrals, success roadmap, contact reasons."""

from __future__ import annotations

import pytest

from conftest import dataset_from
from cs_analysis.config.settings import Settings
from cs_analysis.kpis.engine import KpiEngine, compute_kpis
from cs_analysis.kpis.reasons import contact_reasons
from cs_analysis.kpis.roadmap import overdue_objectives

JAN = Settings(fiscal_year_start_month=1)
SUBS = ([("A", "2024-12", "core", 1, 100), ("B", "2024-12", "core", 1, 100)]
        + [("A", f"2025-{m:02d}", "core", 1, 100) for m in range(1, 9)]
        + [("B", f"2025-{m:02d}", "core", 1, 100) for m in range(1, 4)])  # B churns in April


def test_tickets_referrals_and_roadmap_by_hand():
    ds = dataset_from(
        SUBS,
        tickets=[("A", "2025-02-03", "how_to", "low", ""), ("B", "2025-02-10", "cancellation_inquiry", "high", ""),
                 ("A", "2025-03-01", "bug", "medium", ""), ("A", "2025-05-01", "bug", "low", "")],
        touchpoints=[("A", "2025-02-05", "call", "referral"), ("A", "2025-02-06", "call", "proactive"),
                     ("B", "2025-05-01", "email", "referral")],
        success_plans=[("A", "目標1", "2025-02-10", "2025-02-09"),   # due in Q1, on time
                       ("A", "目標2", "2025-03-31", "2025-04-02"),   # due in Q1, late
                       ("A", "目標3", "2025-03-15", ""),             # due in Q1, open → overdue
                       ("B", "目標4", "2025-02-01", "")],            # overdue, but B churned
    )
    q = compute_kpis(ds, "2025Q1", JAN).set_index("kpi")["value"]
    assert q["tickets_opened"] == 3  # the May ticket is outside Q1
    assert q["referral_touchpoints"] == 1
    assert q["objectives_due"] == 4
    assert q["objectives_on_time_rate"] == pytest.approx(25.0)  # 1 of 4
    # at 2025-03-31: 目標2 (completed 04-02) and 目標3 open are overdue; B is still active in March
    assert q["objectives_overdue"] == 3
    q2 = compute_kpis(ds, "2025Q2", JAN).set_index("kpi")["value"]
    assert q2["objectives_due"] == 0 and q2["objectives_on_time_rate"] is None
    assert q2["objectives_overdue"] == 1  # only A's 目標3; B churned
    late = overdue_objectives(ds, "2025-06-30")
    assert late[["account_id", "objective", "days_overdue"]].values.tolist() == [
        ["B", "目標4", 149], ["A", "目標3", 107]]


def test_contact_reasons_lift_by_hand():
    ds = dataset_from(
        SUBS,
        tickets=[("A", "2025-01-03", "how_to", "low", ""), ("A", "2025-01-04", "how_to", "low", ""),
                 ("B", "2025-01-10", "cancellation_inquiry", "high", ""), ("B", "2025-01-11", "how_to", "low", ""),
                 ("A", "2025-07-01", "bug", "low", "")],
    )
    engine = KpiEngine(ds, JAN)
    out = contact_reasons(engine, "2025-01..2025-02", horizon_months=3).set_index("reason")
    # 4 tickets in Jan: how_to 3 (75 %), cancellation 1 (25 %). B churns in April, within 3 months
    # of January, so B's 2 tickets are "before churn": cancellation 50 % → lift 2; how_to 50 % → 2/3
    assert out.loc["how_to", "tickets"] == 3 and out.loc["how_to", "share"] == 75.0
    assert out.loc["cancellation_inquiry", "lift"] == pytest.approx(2.0)
    assert out.loc["how_to", "lift"] == pytest.approx(50 / 75)
    late = contact_reasons(engine, "2025-07", horizon_months=3)
    assert late["tickets_known_outcome"].tolist() == [0]  # 2025-10 is beyond the data
