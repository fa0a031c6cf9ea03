"""Notebooks and the report runner: hygiene, end to end, Japanese, failure handling, determinism."""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

import cs_analysis.report.runner as report
from cs_analysis.cli import main
from cs_analysis.errors import ReportError
from cs_analysis.report.formatting import format_value
from cs_analysis.report.runner import NOTEBOOKS, SEGMENT_NOTEBOOK, notebooks_dir, run_report, segment_file_name
from notebook_fixture import CHECK_MARK, stored_outputs

ALL = [*NOTEBOOKS, SEGMENT_NOTEBOOK]


def test_some_summary_cells_are_output_checked():
    """Every marked cell has stored outputs (tests/notebook_outputs.json), text only, and
    nothing is stored for a cell that is not marked."""
    stored = stored_outputs()
    marked = {(n, c.id) for n in ALL for c in nbformat.read(notebooks_dir() / f"{n}.ipynb", as_version=4).cells
              if c.cell_type == "code" and c.source.startswith(CHECK_MARK)}
    assert len(marked) >= 3
    assert marked == {(n, cell) for n, cells in stored.items() for cell in cells}
    for cells in stored.values():
        for cell in cells.values():
            assert cell["outputs"] and isinstance(cell["execution_count"], int)
            for o in cell["outputs"]:
                assert set(o["data"]) <= {"text/plain", "text/markdown", "text/html"}, set(o["data"])


@pytest.mark.parametrize("name", ALL)
def test_notebooks_are_thin_stripped_and_parameterised(name):
    nb = nbformat.read(notebooks_dir() / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "commit notebooks without outputs"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and code[0] is params[0]
    lines = [ln for ln in params[0].source.splitlines() if ln and not ln.startswith("#")]
    assert lines and all(re.fullmatch(r"\w+: (str|int|float|bool) = .+  # .+", ln) for ln in lines), lines
    source = "\n".join(c.source for c in code)
    assert not re.search(r"^\s*(def|class|for|while|import pandas)\b", source, re.M)
    assert nb.metadata["kernelspec"]["name"] == report.KERNEL


def test_a_run_leaves_no_kernel_running(run: Path):
    """nbclient shuts down the kernels it starts (a kernel manager handed in would leak them)."""
    import psutil

    def running_kernel(process: psutil.Process) -> bool:
        try:  # a zombie has exited (only its exit status is left); it has no command line to read
            return process.status() != psutil.STATUS_ZOMBIE and "ipykernel" in " ".join(process.cmdline())
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            return False

    kernels = [p for p in psutil.Process().children(recursive=True) if running_kernel(p)]
    assert kernels == []


def test_report_writes_every_output(run: Path):
    names = [*NOTEBOOKS, segment_file_name("size", "Enterprise"), segment_file_name("size", "SMB")]
    for name in names:
        assert (run / f"{name}.ipynb").is_file() and (run / f"{name}.html").is_file(), name
    for table in ("kpis", "kpi_changes", "headline", "at_risk_accounts", "health_backtest", "no_contact_accounts"):
        assert (run / "tables" / f"{table}.csv").stat().st_size > 0, table
    figures = list((run / "figures").glob("*.png"))
    assert len(figures) >= 6
    assert all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f.stat().st_size > 5000 for f in figures)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "ok" and manifest["period"] == "FY2025Q4"
    assert {"parameters", "data_fingerprint", "versions", "git_commit", "notebooks"} <= set(manifest)
    assert all(n["status"] == "ok" and n["seconds"] > 0 for n in manifest["notebooks"])
    pages = {(n.get("segment_by"), n.get("segment")): n["file"] for n in manifest["notebooks"]}
    assert pages[("size", "SMB")] == segment_file_name("size", "SMB") + ".ipynb"  # manifest maps pages to segments
    assert not (run / "logs").exists()  # kernel logs are kept only for failed notebooks
    assert (run / "model" / "churn.skops").is_file()


def test_html_has_no_code_japanese_headings_and_the_kpi_values(run: Path):
    html = (run / "quarterly_report.html").read_text(encoding="utf-8")
    assert "四半期レポート" in html and "ReportContext" not in html
    assert html.count("data:image/png") >= 4  # the charts are in the HTML, not only in figures/
    kpis = pd.read_csv(run / "tables" / "kpis.csv")
    total = kpis[kpis["segment_by"] == "all"].set_index("kpi")["value"]
    for kpi, unit in (("mrr_end", "money"), ("customer_churn_rate", "percent"), ("nrr", "percent")):
        assert format_value(total[kpi], unit) in html, kpi


def test_existing_report_is_not_overwritten_unasked(run: Path, demo_small: Path, capsys):
    assert main(["report", "--period", "FY2025Q4", "--data", str(demo_small), "--out", str(run.parent)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err


def test_failing_notebook_keeps_partial_output_and_the_good_report(run: Path, demo_small: Path, tmp_path: Path,
                                                                   monkeypatch):
    broken = tmp_path / "notebooks"
    shutil.copytree(notebooks_dir(), broken)
    nb = nbformat.read(broken / "health_review.ipynb", as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell('raise ValueError("boom")'))
    nbformat.write(nb, broken / "health_review.ipynb")
    monkeypatch.setattr(report, "notebooks_dir", lambda: broken)
    before = (run / "manifest.json").read_bytes()
    result = run_report("FY2025Q4", demo_small, run.parent, segments="", force=True)
    assert [f["notebook"] for f in result.failed] == ["health_review"]
    # In [5]: parameters, papermill's injected parameters, the context, the first chart, then ours
    assert result.failed[0]["cell"] == 5 and "boom" in result.failed[0]["error"]
    assert (run / "manifest.json").read_bytes() == before  # the good report stays
    failed = run.parent / "FY2025Q4.failed"
    assert result.folder == failed
    partial = nbformat.read(failed / "health_review.ipynb", as_version=4)
    assert any(o.get("ename") == "ValueError" for c in partial.cells for o in c.get("outputs", []))
    assert (failed / "kpi_overview.html").is_file()  # the others still ran
    assert (failed / result.failed[0]["kernel_log"]).is_file()  # the failed notebook's kernel log is kept
    assert json.loads((failed / "manifest.json").read_text())["status"] == "failed"


def test_report_cli_exit_code_names_the_notebook(demo_small: Path, tmp_path: Path, monkeypatch, capsys):
    broken = tmp_path / "notebooks"
    shutil.copytree(notebooks_dir(), broken)
    nb = nbformat.read(broken / "at_risk.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("1 / 0"))
    nbformat.write(nb, broken / "at_risk.ipynb")
    monkeypatch.setattr(report, "notebooks_dir", lambda: broken)
    code = main(["report", "--period", "FY2025Q4", "--data", str(demo_small), "--out", str(tmp_path / "r"),
                 "--segments", "", "--lang", "en"])
    assert code == 1
    err = capsys.readouterr().err
    assert "notebook at_risk failed at cell" in err and "ZeroDivisionError" in err
    assert "Quarterly report" in (tmp_path / "r" / "FY2025Q4" / "quarterly_report.html").read_text(encoding="utf-8")


def _outputs(notebook: Path) -> list:
    """What a notebook shows: every code cell's execution count and outputs."""
    nb = nbformat.read(notebook, as_version=4)
    return [(c.execution_count, [{k: v for k, v in o.items() if k != "metadata"} for o in c.outputs])
            for c in nb.cells if c.cell_type == "code"]


def test_same_inputs_same_report_with_reused_or_fresh_kernels(run: Path, demo_small: Path, tmp_path: Path):
    """The shared run reuses each worker's kernel from notebook to notebook (reset in between);
    this one gives every notebook a fresh kernel, one at a time: the same tables, figures and
    notebook outputs, execution counts included."""
    again = run_report("FY2025Q4", demo_small, tmp_path, lang="ja", segments="size", jobs=1,
                       reuse_kernels=False).folder
    for table in sorted((run / "tables").glob("*.csv")):
        assert (again / "tables" / table.name).read_bytes() == table.read_bytes(), table.name
    figures = sorted((run / "figures").glob("*.png"))
    assert figures and [f.name for f in figures] == sorted(f.name for f in (again / "figures").glob("*.png"))
    for figure in figures:
        assert (again / "figures" / figure.name).read_bytes() == figure.read_bytes(), figure.name
    notebooks = sorted(run.glob("*.ipynb"))
    assert len(notebooks) > 5
    for notebook in notebooks:
        assert _outputs(again / notebook.name) == _outputs(notebook), notebook.name


def test_japanese_text_renders_in_figures(recwarn):
    from cs_analysis.report import plots
    fig = plots.bars(pd.Series([3.0, 1.0], index=["要対応の顧客", "注意の顧客"]), "担当者別のリスクARR")
    fig.savefig(io.BytesIO(), format="png")
    missing = [str(w.message) for w in recwarn if "missing from font" in str(w.message)]
    assert not missing, missing  # no tofu boxes


def test_kernel_output_goes_to_its_log_not_the_terminal(tmp_path: Path, capfd):
    """A kernel's own stdout/stderr (ipykernel logs "KeyboardInterrupt caught in kernel" there
    when the interrupt that starts every shutdown lands mid-message) goes to a log file."""
    from cs_analysis.report.kernels import KERNEL, KERNEL_CONFIG, quiet_manager_class

    log_path = tmp_path / "kernel.log"
    with log_path.open("wb") as log:
        km = quiet_manager_class(log)(kernel_name=KERNEL, config=KERNEL_CONFIG)

        async def run() -> None:
            await km.start_kernel()
            kc = km.client()
            kc.start_channels()
            await kc.wait_for_ready(timeout=60)
            await kc.execute_interactive("import sys; print('from-the-kernel', file=sys.__stderr__, flush=True)",
                                         timeout=60)
            kc.stop_channels()
            await km.shutdown_kernel()

        asyncio.run(run())
    assert "from-the-kernel" in log_path.read_text()
    captured = capfd.readouterr()
    assert "from-the-kernel" not in captured.out + captured.err
    assert "KeyboardInterrupt" not in captured.out + captured.err


def _tables(html: str) -> list[str]:
    return re.findall(r"<table.*?</table>", html, re.S)


def test_tables_are_presented_no_index_no_raw_identifiers_no_raw_floats(run_in: Path):
    """Every table of every page: no index column (pandas' row headers), headers in words (no
    raw identifiers such as churn_probability), every number formatted (no 0.548160); in
    Japanese and in English."""
    for page in sorted(run_in.glob("*.html")):
        html = page.read_text(encoding="utf-8")
        for table in _tables(html):
            assert "row_heading" not in table and not re.search(r"<th>\s*\d+\s*</th>", table), page.name
            headers = re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)
            assert not [h for h in headers if re.fullmatch(r"\s*[a-z]+(_[a-z0-9]+)+\s*", h)], (page.name, headers)
            cells = re.findall(r"<td[^>]*>(.*?)</td>", table, re.S)
            assert not [c for c in cells if re.fullmatch(r"\s*-?\d+\.\d{5,}\s*", c)], (page.name, cells[:20])
            assert not [c for c in cells if c.strip().lower() in ("nan", "none", "nat", "<na>", "inf")], page.name
            assert not [c for c in cells if re.search(r"(^|\s)-[¥\d]", c)], page.name  # one minus sign: −


def test_a_run_writes_a_workbook_and_a_pdf_where_chromium_is_installed(run: Path):
    import openpyxl

    from cs_analysis.report.exports import browser

    book = openpyxl.load_workbook(run / "tables.xlsx", read_only=True)
    assert {"kpis", "headline", "at_risk_accounts"} <= set(book.sheetnames)
    sheet = book["kpis"]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header == ["period", "segment_by", "segment", "kpi", "value"]
    values = [r[4].value for r in sheet.iter_rows(min_row=2, max_row=60)]
    assert all(v is None or isinstance(v, int | float) for v in values)  # numbers, not text
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    if browser() is not None:
        assert (run / "quarterly_report.pdf").read_bytes()[:5] == b"%PDF-"
    else:
        assert any("no PDF of the quarterly report" in n for n in manifest["notes"])


def test_the_run_schedule_runs_independent_pages_beside_the_preparation_and_stops_on_its_failure():
    import threading
    import time

    from cs_analysis.report.runner import Task, _schedule

    log: list[str] = []
    lock = threading.Lock()

    def step(name: str, seconds: float = 0.0, fail: bool = False):
        def run(kernel):
            with lock:
                log.append(f"start {name}")
            time.sleep(seconds)
            if fail:
                raise ReportError(f"{name} failed")
            with lock:
                log.append(f"end {name}")
            return {"name": name}
        return run

    tasks = [Task("prep", frozenset(), step("prep", 0.3)), Task("free", frozenset(), step("free")),
             Task("page", frozenset({"prep"}), step("page")), Task("last", frozenset({"page", "free"}), step("last"))]
    done = _schedule(tasks, 2, [None, None], lambda name: None)
    assert set(done) == {"prep", "free", "page", "last"}
    assert log.index("end free") < log.index("end prep") < log.index("start page") < log.index("start last")
    log.clear()
    tasks[0] = Task("prep", frozenset(), step("prep", 0.1, fail=True))
    with pytest.raises(ReportError, match="prep failed"):
        _schedule(tasks, 2, [None, None], lambda name: None)
    assert "start page" not in log and "start last" not in log


def test_hatched_runs_of_a_cohort_heatmap():
    from cs_analysis.report.plots import _runs

    mask = np.array([[1, 1, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=bool)
    assert _runs(mask) == [(0, 0, 2), (0, 3, 4), (2, 0, 4)]
    assert _runs(np.zeros((2, 3), dtype=bool)) == []


def test_a_kernel_shares_the_loaded_dataset_until_a_file_changes(demo_small: Path, tmp_path: Path):
    import os

    from cs_analysis.config.settings import load_settings
    from cs_analysis.report.base import shared_engine

    data = tmp_path / "d"
    shutil.copytree(demo_small, data)
    settings = load_settings()
    first = shared_engine(str(data), None, settings)
    assert shared_engine(str(data), None, settings) is first  # the next notebook of the kernel
    accounts = next(data.glob("accounts.*"))
    st = accounts.stat()
    os.utime(accounts, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert shared_engine(str(data), None, settings) is not first  # a changed file: loaded again


def test_kernels_read_the_runs_snapshot_and_never_a_stale_one(demo_small: Path, tmp_path: Path, monkeypatch):
    """A report run validates the data once and writes a snapshot; a kernel's shared_engine
    reads it instead of loading and validating the raw files, unless a file changed since (then
    it loads the files, so a stale snapshot is never used); a snapshot written after a file
    changed under the run carries no key, so no kernel uses it."""
    import os

    import cs_analysis.report.base as base
    from cs_analysis.config.settings import load_settings

    data = tmp_path / "d"
    shutil.copytree(demo_small, data)
    settings = load_settings()
    base._SHARED.clear()
    loaded, _ = base.shared_engine(str(data), None, settings)  # the run's one load
    snapshot = base.write_snapshot(loaded, tmp_path / "cache" / "dataset", str(data), None)
    calls = []

    def counted(*args, **kwargs):
        calls.append(args)
        return loaded
    monkeypatch.setattr(base, "load_dataset", counted)
    monkeypatch.setenv(base.SNAPSHOT_ENV, str(snapshot))
    base._SHARED.clear()
    dataset, _ = base.shared_engine(str(data), None, settings)
    assert calls == [] and dataset.fingerprint() == loaded.fingerprint()
    accounts = next(data.glob("accounts.*"))
    st = accounts.stat()
    os.utime(accounts, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    base.shared_engine(str(data), None, settings)
    assert len(calls) == 1  # changed since the snapshot: loaded from the files
    # a file changed between the run's load and its snapshot: the snapshot gets no key
    base._SHARED.clear()
    again, _ = base.shared_engine(str(data), None, settings)
    os.utime(accounts, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    late = base.write_snapshot(again, tmp_path / "late", str(data), None)
    assert not (late / base.SNAPSHOT_KEY).exists()
    base._SHARED.clear()


def test_a_reason_family_gap_is_zero_and_no_reason_is_named():
    """A churn-reason family has rows only where its value is not zero: the KPI table shows the
    gaps as 0 in the KPI's unit, and churn without a recorded reason by name."""
    from cs_analysis.report.formatting import kpi_table

    tidy = pd.DataFrame({"period": "P", "segment_by": ["all", "all", "size", "size"],
                         "segment": ["all", "all", "SMB", "SMB"],
                         "kpi": ["churned_mrr", "churned_mrr_by_reason:価格", "churned_mrr",
                                 "churned_mrr_by_reason:(unknown)"],
                         "value": [100.0, 60.0, 40.0, 40.0]})
    en = kpi_table(tidy, lang="en", total="All")
    assert en.loc["Churned MRR: 価格"].tolist() == ["¥60", "¥0"]
    assert en.loc["Churned MRR: (no reason recorded)"].tolist() == ["¥0", "¥40"]
    assert "解約MRR（理由の記録なし）" in kpi_table(tidy, lang="ja").index


def test_the_backtest_caption_says_when_a_candidate_left_the_race(demo_small: Path):
    """A candidate that left the comparison early has fewer folds: the caption says so, in
    both languages, and says nothing when every candidate ran every fold."""
    import dataclasses

    from cs_analysis.report.context import ReportContext

    folds = [{"cutoff": f"2025-0{m}-30", "model": model, "roc_auc": 0.8, "rows": 10}
             for m in (3, 6, 9) for model in ("logistic", "baseline:health_score")]
    folds.append({"cutoff": "2025-03-30", "model": "gradient_boosting", "roc_auc": 0.7, "rows": 10})
    overall = [{"model": m, "roc_auc": 0.8, "rows": 30} for m in ("logistic", "gradient_boosting")]
    for lang, words in (("en", "Gradient boosting left the comparison after 1 of 3 folds"),
                        ("ja", "3回中1回目の検証で明らかに劣ったため比較から外れ")):
        ctx = ReportContext(str(demo_small), "", lang)
        meta = dataclasses.replace(_table_meta_like(), backtest_folds=tuple(folds), backtest_overall=tuple(overall))
        ctx.model.__dict__["meta"] = meta  # the cached property, without training
        assert words.lower() in ctx.model.backtest().caption.lower()
        ctx.model.__dict__["meta"] = dataclasses.replace(meta, backtest_folds=tuple(
            [*folds, *({**folds[-1], "cutoff": c} for c in ("2025-06-30", "2025-09-30"))]))
        assert "left the comparison" not in ctx.model.backtest().caption and "比較から外れ" not in ctx.model.backtest().caption
        assert "not compared" not in ctx.model.backtest().caption and "比較対象外" not in ctx.model.backtest().caption


def test_the_backtest_caption_says_when_a_candidate_was_not_compared(demo_small: Path):
    """Too few churns for gradient boosting (model.pipelines.eligible): it has no fold at all,
    and the caption says it was not compared, in both languages."""
    import dataclasses

    from cs_analysis.report.context import ReportContext

    folds = [{"cutoff": f"2025-0{m}-30", "model": model, "roc_auc": 0.8, "rows": 10}
             for m in (3, 6, 9) for model in ("logistic", "baseline:health_score")]
    for lang, words in (("en", "Gradient boosting was not compared"), ("ja", "勾配ブースティングは比較対象外")):
        ctx = ReportContext(str(demo_small), "", lang)
        ctx.model.__dict__["meta"] = dataclasses.replace(_table_meta_like(), backtest_folds=tuple(folds),
                                                         backtest_overall=({"model": "logistic", "roc_auc": 0.8},))
        caption = ctx.model.backtest().caption
        assert words.lower() in caption.lower() and "left the comparison" not in caption


def _table_meta_like():
    from cs_analysis.model.artefact import ModelMeta

    return ModelMeta(kind="accounts", model="logistic", numeric_features=("a",), categorical_features=(),
                     rows=30, churn_rate=0.1, horizon_months=3)
