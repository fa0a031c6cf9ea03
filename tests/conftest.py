"""Shared fixtures: a tiny hand-written dataset and small simulated companies."""

from __future__ import annotations

from pathlib import Path

import pytest

from cs_analysis.data.demo import DemoSpec, write_demo

MINI = {
    "accounts": """account_id,name,employees,industry,signup_date,csm_owner,target_health_level
A1,株式会社さくら,120,製造,2024-01-15,佐藤,3
A2,みらい商事,2500,IT・通信,2023-06-01,,4
A3,あおば工業,40,小売,2024-03-10,鈴木,
""",
    "subscriptions": """account_id,month,product,licenses,mrr
A1,2024-02-01,core,5,25000
A1,2024-03-01,core,6,30000
A2,2024-02-01,core,40,180000
A2,2024-02-01,ivr,0,20000
A3,2024-04-01,core,3,15000
""",
    "usage": """account_id,month,active_users,features_used
A1,2024-02-01,4,6
A1,2024-03-01,5,7
""",
    "touchpoints": """account_id,date,channel,kind
A1,2024-02-10,meeting,proactive
A2,2024-02-12,call,reactive
""",
    "nps_responses": """account_id,contact_id,date,score
A1,A1-C1,2024-02-20,9
A2,A2-C1,2024-02-21,4
""",
    "tickets": """ticket_id,account_id,opened_at,reason,severity,resolved_at
T1,A1,2024-02-03,how_to,low,2024-02-05
T2,A2,2024-03-03,bug,high,
""",
    "champion_changes": """account_id,date
A2,2024-03-01
""",
    "onboarding": """account_id,milestone,date
A1,training_started,2024-01-20
A1,operations_learned,2024-02-15
""",
    "roi": """account_id,date,value,metric
A2,2024-03-31,120.5,hours_saved
""",
    "success_plans": """account_id,objective,due_date,completed_date
A1,CRM連携の稼働,2024-04-30,2024-04-20
""",
}


def write_mini(folder: Path, overrides: dict[str, str | None] | None = None,
               encoding: str = "utf-8") -> Path:
    """Write the tiny dataset as CSV; ``overrides`` replaces (or with None removes) tables."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = {**MINI, **(overrides or {})}
    for name, text in tables.items():
        if text is not None:
            (folder / f"{name}.csv").write_bytes(text.encode(encoding))
    return folder


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    return write_mini(tmp_path / "mini")


@pytest.fixture(scope="session")
def demo_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated company (300 accounts, 24 months), written once per session."""
    out = tmp_path_factory.mktemp("demo_small")
    write_demo(out, DemoSpec(accounts=300, months=24, end="2026-09", seed=7))
    return out


def dataset_from(subscriptions: list[tuple], accounts: list[tuple] | None = None,
                 **tables: list[tuple]):
    """A validated Dataset from tuples.

    subscriptions: (account_id, "YYYY-MM", product, licenses, mrr); accounts: (account_id,
    employees[, industry[, csm_owner[, target_health_level]]]) — default: every account in
    subscriptions with 100 employees. Other tables as keyword lists of tuples in contract order
    (the required columns, or all columns in contract order when longer).
    """
    import pandas as pd

    from cs_analysis.data.dataset import Dataset
    from cs_analysis.data.io import RawTable
    from cs_analysis.data.schema import TABLE_BY_NAME
    from cs_analysis.data.validation import validate_tables

    subs = pd.DataFrame(subscriptions, columns=["account_id", "month", "product", "licenses", "mrr"],
                        dtype=object)
    subs["month"] = subs["month"].astype(str) + "-01"
    if accounts is None:
        accounts = [(a, 100) for a in dict.fromkeys(subs["account_id"])]
    acc = pd.DataFrame({
        "account_id": [a[0] for a in accounts],
        "name": [f"社{a[0]}" for a in accounts],
        "employees": [a[1] for a in accounts],
        "industry": [a[2] if len(a) > 2 else "製造" for a in accounts],
        "signup_date": "2020-01-01",
        "csm_owner": [a[3] if len(a) > 3 else "佐藤" for a in accounts],
    })
    if any(len(a) > 4 for a in accounts):
        acc["target_health_level"] = [a[4] if len(a) > 4 else None for a in accounts]
    raw = {"accounts": acc, "subscriptions": subs}
    for name, rows in tables.items():
        cols = [c.name for c in TABLE_BY_NAME[name].columns if c.required]
        if rows and len(rows[0]) > len(cols):
            cols = [c.name for c in TABLE_BY_NAME[name].columns][: len(rows[0])]
        raw[name] = pd.DataFrame(rows, columns=cols, dtype=object).astype(str)
    typed = validate_tables({k: RawTable(k, v, k, 2) for k, v in raw.items()}, "test")
    return Dataset(**typed)


@pytest.fixture(scope="session")
def demo_default(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo company at its default size (1,000 accounts, 36 months), as Parquet."""
    out = tmp_path_factory.mktemp("demo_default")
    write_demo(out, DemoSpec(accounts=1000, months=36, end="2026-09", seed=42), fmt="parquet")
    return out


def as_known_on(ds, day):
    """The dataset as it stood on ``day``: later rows removed, later resolutions/completions unset."""
    month = day.to_period("M")
    tables = {}
    for name, frame in ds.tables().items():
        f = frame
        if name in ("subscriptions", "usage"):
            f = f[f["month"].dt.to_period("M") <= month]
        elif name == "accounts":
            f = f[f["signup_date"] <= day]
        else:
            col = {"tickets": "opened_at", "success_plans": "due_date"}.get(name, "date")
            if name != "success_plans":
                f = f[f[col] <= day]
        f = f.copy()
        for later in ("resolved_at", "completed_date"):
            if later in f:
                f[later] = f[later].where(f[later] <= day)
        tables[name] = f.reset_index(drop=True)
    return type(ds)(**tables)


@pytest.fixture(scope="session")
def run(demo_small: Path, tmp_path_factory) -> Path:
    """The report run the report tests share: the small demo company, in Japanese, by size."""
    from cs_analysis.report.runner import run_report

    out = tmp_path_factory.mktemp("reports")
    result = run_report("FY2025Q4", demo_small, out, lang="ja", segments="size")
    assert not result.failed, result.failed
    return result.folder


@pytest.fixture(scope="session")
def run_en(demo_small: Path, tmp_path_factory) -> Path:
    """The same run in English (the browser and presentation tests open both)."""
    from cs_analysis.report.runner import run_report

    result = run_report("FY2025Q4", demo_small, tmp_path_factory.mktemp("reports_en"), lang="en", segments="size")
    assert not result.failed, result.failed
    return result.folder


@pytest.fixture(params=["ja", "en"])
def run_in(request, run: Path) -> Path:
    """The shared run in each language (the English one is made on first use)."""
    return run if request.param == "ja" else request.getfixturevalue("run_en")
