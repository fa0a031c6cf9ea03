"""The report runner: executes the notebooks with papermill into ``reports/<period>/``.

Each run writes into a temporary folder beside the target and moves it into place only at the
end: executed ``.ipynb``, ``.html`` without code, ``figures/*.png``, ``tables/*.csv`` and
``manifest.json``. A failing notebook keeps its partly executed copy (the error visible in it
and in its HTML); the others still run; an existing report is replaced only with ``force`` and
never by a failed run (that one is kept as ``<period>.failed``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from cs_analysis.config import load_settings
from cs_analysis.dataset import load_dataset
from cs_analysis.errors import CsAnalysisError
from cs_analysis.kpis import KpiEngine
from cs_analysis.periods import latest_fiscal_quarter
from cs_analysis.persistence import package_versions

NOTEBOOKS = ("quarterly_report", "kpi_overview", "health_review", "model_review", "at_risk")
SEGMENT_NOTEBOOK = "segment_analysis"
KERNEL = "python3"


class ReportError(CsAnalysisError):
    """The report cannot be run (or some notebooks failed)."""


@dataclass
class RunResult:
    folder: Path
    notebooks: list[dict] = field(default_factory=list)

    @property
    def failed(self) -> list[dict]:
        return [n for n in self.notebooks if n["status"] != "ok"]


def notebooks_dir() -> Path:
    """The notebooks folder of this checkout."""
    return Path(str(resources.files("cs_analysis"))).resolve().parents[1] / "notebooks"


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=notebooks_dir(), capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _html(notebook: Path) -> None:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_filename(str(notebook))
    notebook.with_suffix(".html").write_text(body, encoding="utf-8")


def _jobs(engine: KpiEngine, period: str, segmentations: list[str], base: dict) -> list[tuple[str, str, dict]]:
    """(output name, notebook, parameters) for every notebook and every segment."""
    jobs = [(name, name, base) for name in NOTEBOOKS]
    frame = engine.kpis(period, segmentations)
    for by in segmentations:
        for segment in frame.loc[frame["segment_by"] == by, "segment"].drop_duplicates():
            safe = "".join(c if c.isalnum() else "_" for c in str(segment))
            jobs.append((f"{SEGMENT_NOTEBOOK}_{by}_{safe}", SEGMENT_NOTEBOOK,
                         {**base, "segment_by": by, "segment": str(segment)}))
    return jobs


def run_report(period: str | None, data: str | Path, out: str | Path = "reports", lang: str = "ja",
               segments: str = "size,touch_tier", config: str | None = None, force: bool = False,
               timeout: int = 1800, seed: int = 0) -> RunResult:
    """Execute every notebook for ``period`` into ``out/<period>/``; see the module docs."""
    import papermill as pm
    from tqdm import tqdm

    if lang not in ("ja", "en"):
        raise ReportError(f"--lang must be ja or en, not {lang!r}")
    missing = [n for n in (*NOTEBOOKS, SEGMENT_NOTEBOOK) if not (notebooks_dir() / f"{n}.ipynb").is_file()]
    if missing:
        raise ReportError(f"notebooks not found in {notebooks_dir()}: {', '.join(missing)} "
                          "(run from a checkout installed with pip install -e .)")
    data = Path(data).resolve()
    settings = load_settings(config)
    engine = KpiEngine(load_dataset(data), settings)  # validates the data before anything runs
    p = engine.period(period) if period else latest_fiscal_quarter(engine.cube.months[-1],
                                                                    settings.fiscal_year_start_month)
    label = p.label
    root = Path(out).resolve()
    target = root / label
    if target.exists() and not force:
        raise ReportError(f"{target} exists; pass --force to replace it")
    segmentations = [s.strip() for s in segments.split(",") if s.strip()]
    base = {"data": str(data), "period": label, "lang": lang, "config": str(Path(config).resolve()) if config else "",
            "seed": seed}
    tmp = root / f".{label}.running"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "figures").mkdir(parents=True)
    (tmp / "tables").mkdir()
    jobs = _jobs(engine, label, segmentations, {**base, "out": str(tmp)})
    result = RunResult(target)
    for name, notebook, params in tqdm(jobs, desc=f"report {label}", unit="notebook", file=sys.stderr):
        output = tmp / f"{name}.ipynb"
        started = time.perf_counter()
        entry = {"notebook": name, "source": f"notebooks/{notebook}.ipynb",
                 "parameters": {k: v for k, v in params.items() if k != "out"}}
        try:
            pm.execute_notebook(str(notebooks_dir() / f"{notebook}.ipynb"), str(output), parameters=params,
                                kernel_name=KERNEL, execution_timeout=timeout, progress_bar=False,
                                log_output=False, cwd=str(tmp))
            entry["status"] = "ok"
        except pm.PapermillExecutionError as exc:
            entry.update(status="failed", cell=exc.exec_count, error=f"{exc.ename}: {exc.evalue}")
        except Exception as exc:  # kernel died, timeout: the partial notebook is kept
            entry.update(status="failed", cell=None, error=f"{type(exc).__name__}: {exc}")
        entry["seconds"] = round(time.perf_counter() - started, 2)
        if output.exists():
            _html(output)
        result.notebooks.append(entry)
    manifest = {
        "period": label, "months": [str(p.first), str(p.last)], "parameters": {**base, "segments": segmentations},
        "data": str(data), "data_fingerprint": engine.dataset.fingerprint(), "git_commit": _git_commit(),
        "versions": package_versions(), "status": "failed" if result.failed else "ok",
        "notebooks": result.notebooks,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    if result.failed and target.exists():
        result.folder = root / f"{label}.failed"  # never replace a good report with a failed run
    if result.folder.exists():
        old = root / f".{label}.old"
        shutil.rmtree(old, ignore_errors=True)
        result.folder.rename(old)
        tmp.rename(result.folder)
        shutil.rmtree(old)
    else:
        tmp.rename(result.folder)
    return result
