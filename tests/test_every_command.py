"""Every command on partial, empty, short and tiny datasets: exit 0 or 2, one clear message, never a
traceback, and the input files unchanged.

The datasets: a small simulated company with each optional table removed in turn, with all of
them removed, with all of them header-only, a 4-month history and a single account. Commands run in-process through
``cli.main`` (an uncaught exception fails the test); an "unexpected internal error" message —
the CLI's last guard against bugs — fails it too.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

from cs_analysis.cli import main
from cs_analysis.data.demo import DemoSpec, write_demo

OPTIONAL = ("usage", "touchpoints", "nps_responses", "tickets", "champion_changes", "onboarding", "roi",
            "success_plans")
VARIANTS = [*(f"no_{t}" for t in OPTIONAL), "no_optional", "empty_optional", "four_months", "one_account",
            "contracts", "invoice_lines", "lean_accounts"]
AS_OF = "2026-06-30"


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("variants")
    full = root / "full"
    write_demo(full, DemoSpec(accounts=150, months=20, end="2026-09", seed=5))
    shutil.rmtree(full / "_truth")
    out = {}
    for variant in VARIANTS:
        folder = root / variant
        if variant == "four_months":
            write_demo(folder, DemoSpec(accounts=150, months=4, end="2026-09", seed=5))
            shutil.rmtree(folder / "_truth")
        elif variant in ("contracts", "lean_accounts"):  # MRR as contracts; lean: accounts with ids only
            write_demo(folder, DemoSpec(accounts=150, months=20, end="2026-09", seed=5), mrr_as="contracts")
            shutil.rmtree(folder / "_truth")
            if variant == "lean_accounts":
                ids = pd.read_csv(folder / "accounts.csv", dtype=str)[["account_id"]]
                ids.to_csv(folder / "accounts.csv", index=False)
        elif variant == "invoice_lines":  # monthly invoices billed on the 5th, a one-time setup fee
            shutil.copytree(full, folder)
            subs = pd.read_csv(folder / "subscriptions.csv", dtype={"account_id": str}, parse_dates=["month"])
            start = subs["month"] + pd.Timedelta(days=4)
            lines = pd.DataFrame({"account_id": subs["account_id"], "product": subs["product"],
                                  "period_start": start.dt.strftime("%Y-%m-%d"),
                                  "period_end": (start + pd.DateOffset(months=1) - pd.Timedelta(days=1)
                                                 ).dt.strftime("%Y-%m-%d"),
                                  "amount": subs["mrr"], "licenses": subs["licenses"], "kind": "recurring"})
            setup = lines.drop_duplicates("account_id").assign(product="setup", kind="one_time", amount=50000)
            pd.concat([lines, setup]).to_csv(folder / "invoice_lines.csv", index=False)
            (folder / "subscriptions.csv").unlink()
            (folder / "dataset.yaml").write_text("as_of: 2026-09-30\n", encoding="utf-8")
        else:
            shutil.copytree(full, folder)
        if variant.startswith("no_"):
            for table in OPTIONAL if variant == "no_optional" else (variant[3:],):
                (folder / f"{table}.csv").unlink()
        if variant == "empty_optional":  # every optional table present with its header only
            for table in OPTIONAL:
                header = (folder / f"{table}.csv").read_text(encoding="utf-8").splitlines()[0]
                (folder / f"{table}.csv").write_text(header + "\n", encoding="utf-8")
        if variant == "one_account":  # the account billed longest, with every table it has
            keep = pd.read_csv(folder / "subscriptions.csv", dtype=str)["account_id"].value_counts().index[0]
            for csv in folder.glob("*.csv"):
                frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
                frame[frame["account_id"] == keep].to_csv(csv, index=False)
        out[variant] = folder
    out["full"] = full
    return out


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert code in (0, 2), (argv, code, text[-2000:])
    assert "Traceback" not in text and "unexpected internal error" not in text, (argv, text[-2000:])
    if code == 2:
        assert captured.err.startswith("error: "), (argv, captured.err[-500:])
    return code, text


@pytest.fixture(scope="module")
def full_model(datasets: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "full.skops"
    assert main(["train", str(datasets["full"]), "--as-of", AS_OF, "--model-out", str(path)]) == 0
    return path


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_command_ends_cleanly(variant: str, datasets: dict[str, Path], full_model: Path, tmp_path: Path,
                                    capsys):
    data = datasets[variant]
    before = _digest(data)
    d = str(data)
    _run(["validate", d], capsys)
    _run(["kpis", d], capsys)
    _run(["kpis", d, "--by", "size,touch_tier,industry", "--format", "csv", "--out", str(tmp_path / "k.csv")], capsys)
    _run(["health", d, "--as-of", AS_OF, "--out", str(tmp_path / "h.csv")], capsys)
    _run(["health", d, "--as-of", AS_OF, "--backtest"], capsys)
    model = tmp_path / "m.skops"
    trained, _ = _run(["train", d, "--as-of", AS_OF, "--model-out", str(model)], capsys)
    for m in ([model] if trained == 0 else []) + [full_model]:
        _run(["score", d, "--model", str(m), "--as-of", AS_OF, "--out", str(tmp_path / "s.csv")], capsys)
    tuned, _ = _run(["tune-scorecard", d, "--as-of", AS_OF, "--out", str(tmp_path / "tuned.yaml")], capsys)
    if tuned == 0:  # the tuned file works with the commands that read settings
        _run(["health", d, "--as-of", AS_OF, "--config", str(tmp_path / "tuned.yaml")], capsys)
    _run(["health", d, "--as-of", AS_OF, "--since", "2026-03-31", "--out", str(tmp_path / "since.csv")], capsys)
    _run(["contact-impact", d, "--as-of", AS_OF, "--by", "touch_tier", "--format", "json"], capsys)
    assert _digest(data) == before  # inputs are never modified


def test_expected_outcomes(datasets: dict[str, Path], tmp_path: Path, capsys):
    """Which variants can train (the optional tables only switch features off) and which get a
    sentence saying what is needed."""
    code, text = _run(["train", str(datasets["no_optional"]), "--as-of", AS_OF, "--model-out",
                       str(tmp_path / "m")], capsys)
    assert code == 0 and "features off (their table is absent)" in text
    code, text = _run(["train", str(datasets["four_months"]), "--as-of", AS_OF, "--model-out",
                       str(tmp_path / "m4")], capsys)
    assert code == 2 and "train needs at least 16 months of subscriptions" in text
    code, text = _run(["health", str(datasets["four_months"]), "--as-of", AS_OF, "--backtest"], capsys)
    assert code == 2 and "needs at least 5 months" in text
    code, text = _run(["train", str(datasets["one_account"]), "--as-of", AS_OF, "--model-out",
                       str(tmp_path / "m1")], capsys)
    assert code == 2 and "churned and" in text


def test_contracts_and_invoice_lines_give_the_monthly_kpis(datasets: dict[str, Path], tmp_path: Path, capsys):
    """The same company as monthly subscriptions, as contracts and as invoice lines: one KPI table
    (but for the renewal KPIs, which only contracts have)."""
    from cs_analysis.kpis.registry import RENEWAL_KPIS

    out = {}
    for variant in ("full", "contracts", "invoice_lines"):
        _run(["kpis", str(datasets[variant]), "--period", "FY2026Q1", "--by", "size,touch_tier", "--format", "csv",
              "--out", str(tmp_path / f"{variant}.csv")], capsys)
        frame = pd.read_csv(tmp_path / f"{variant}.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
        out[variant] = frame[~frame["kpi"].isin(RENEWAL_KPIS)].reset_index(drop=True)
    pd.testing.assert_frame_equal(out["full"], out["contracts"])
    pd.testing.assert_frame_equal(out["full"], out["invoice_lines"])
    code, text = _run(["kpis", str(datasets["lean_accounts"]), "--by", "size"], capsys)
    assert code == 2 and "employees" in text


def test_report_without_optional_tables_and_on_a_short_history(datasets: dict[str, Path], tmp_path: Path, capsys):
    code, text = _run(["report", "--data", str(datasets["no_optional"]), "--out", str(tmp_path / "r"),
                       "--segments", "touch_tier", "--jobs", "2"], capsys)
    assert code == 0, text[-2000:]
    # a short history: the shared preparation (the model) fails, and the run stops at once
    code, text = _run(["report", "--data", str(datasets["four_months"]), "--out", str(tmp_path / "r4")], capsys)
    assert code == 2 and "shared preparation" in text and "no report was written" in text
    assert not any((tmp_path / "r4").glob("FY*")), "nothing is left behind"


def test_report_on_contracts_without_employees_leaves_out_the_size_pages(datasets: dict[str, Path], tmp_path: Path,
                                                                        capsys):
    code, text = _run(["report", "--data", str(datasets["lean_accounts"]), "--out", str(tmp_path / "r"),
                       "--jobs", "2"], capsys)
    assert code == 0, text[-2000:]
    assert "no size segment pages: the accounts have no employees column" in text
    folder = next((tmp_path / "r").glob("FY*"))
    assert not list(folder.glob("segment_analysis_size_*")) and list(folder.glob("segment_analysis_touch_tier_*"))
    html = (folder / "quarterly_report.html").read_text(encoding="utf-8")
    assert "size segment is unavailable" in html and "subscriptions derived from contracts" in html
