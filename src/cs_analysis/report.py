"""The report runner: executes the notebooks with papermill into ``reports/<period>/``.

Each run first computes what most notebooks share (the churn model and the at-risk list; see
``ReportContext.prepare``), then executes the notebooks ``jobs`` at a time, each in its own
kernel. It writes into a temporary folder beside the target and moves it into place only at the
end: executed ``.ipynb``, ``.html`` without code, ``figures/*.png``, ``tables/*.csv`` and
``manifest.json``. A failing notebook keeps its partly executed copy (the error visible in it
and in its HTML); the others still run; an existing report is replaced only with ``force`` and
never by a failed run (that one is kept as ``<period>.failed``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from traitlets.config import Config

from cs_analysis.errors import CsAnalysisError
from cs_analysis.kpis import KpiEngine
from cs_analysis.persistence import package_versions
from cs_analysis.report_context import ReportContext

NOTEBOOKS = ("quarterly_report", "kpi_overview", "health_review", "model_review", "at_risk")
SEGMENT_NOTEBOOK = "segment_analysis"
KERNEL = "python3"
# CurveZMQ-encrypted kernel channels where the kernel supports them (ipykernel 7 warns otherwise)
KERNEL_CONFIG = Config({"KernelManager": {"transport_encryption": "auto"}})


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


def default_jobs() -> int:
    """Notebooks run at once by default: one per CPU, at most 4 (each kernel holds the data)."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class Job:
    name: str  # output name (folder/<name>.ipynb)
    source: Path  # the notebook to execute
    parameters: dict
    folder: Path
    timeout: int


def _jobs(engine: KpiEngine, period: str, segmentations: list[str], base: dict, folder: Path,
          timeout: int) -> list[Job]:
    """One job for every notebook and every segment."""
    nbdir = notebooks_dir()
    specs = [(name, name, base) for name in NOTEBOOKS]
    frame = engine.kpis(period, segmentations)
    for by in segmentations:
        for segment in frame.loc[frame["segment_by"] == by, "segment"].drop_duplicates():
            safe = "".join(c if c.isalnum() else "_" for c in str(segment))
            specs.append((f"{SEGMENT_NOTEBOOK}_{by}_{safe}", SEGMENT_NOTEBOOK,
                          {**base, "segment_by": by, "segment": str(segment)}))
    return [Job(name, nbdir / f"{nb}.ipynb", params, folder, timeout) for name, nb, params in specs]


def _execute(job: Job) -> dict:
    """Execute one notebook (and write its HTML); the manifest entry, failures included."""
    import papermill as pm

    output = job.folder / f"{job.name}.ipynb"
    started = time.perf_counter()
    entry = {"notebook": job.name, "source": f"notebooks/{job.source.name}",
             "parameters": {k: v for k, v in job.parameters.items() if k != "out"}}
    try:
        # the kernel's working folder is set through nbclient: papermill's cwd= changes the
        # folder of the whole process, which is not safe with several notebooks at once
        pm.execute_notebook(str(job.source), str(output), parameters=job.parameters, kernel_name=KERNEL,
                            execution_timeout=job.timeout, progress_bar=False, log_output=False,
                            resources={"metadata": {"path": str(job.folder)}}, config=KERNEL_CONFIG)
        entry["status"] = "ok"
    except pm.PapermillExecutionError as exc:
        entry.update(status="failed", cell=exc.exec_count, error=f"{exc.ename}: {exc.evalue}")
    except Exception as exc:  # kernel died, timeout: the partial notebook is kept
        entry.update(status="failed", cell=None, error=f"{type(exc).__name__}: {exc}")
    entry["seconds"] = round(time.perf_counter() - started, 2)
    if output.exists():
        _html(output)
    return entry


def _prepare(ctx: ReportContext) -> dict:
    """Run ``ctx.prepare()``; its manifest entry. On failure the notebooks that need what it
    computes fail visibly, each with the error in its cell."""
    started = time.perf_counter()
    try:
        ctx.prepare()
        entry = {"status": "ok"}
    except Exception as exc:
        entry = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    return {**entry, "seconds": round(time.perf_counter() - started, 2)}


def _execute_all(jobs: list[Job], workers: int, label: str) -> list[dict]:
    """Every job's manifest entry, in job order, with a progress bar."""
    from tqdm import tqdm

    entries: dict[int, dict] = {}
    with tqdm(total=len(jobs), desc=f"report {label}", unit="notebook", file=sys.stderr) as bar:
        if workers <= 1:
            for i, job in enumerate(jobs):
                entries[i] = _execute(job)
                bar.update()
        else:  # threads suffice: each one waits on its kernel process
            with ThreadPoolExecutor(workers) as pool:
                futures = {pool.submit(_execute, job): i for i, job in enumerate(jobs)}
                for future in as_completed(futures):
                    entries[futures[future]] = future.result()
                    bar.update()
    return [entries[i] for i in range(len(jobs))]


def run_report(period: str | None, data: str | Path, out: str | Path = "reports", lang: str = "ja",
               segments: str = "size,touch_tier", config: str | None = None, force: bool = False,
               timeout: int = 1800, seed: int = 0, jobs: int | None = None) -> RunResult:
    """Execute every notebook for ``period`` into ``out/<period>/``; see the module docs."""
    if lang not in ("ja", "en"):
        raise ReportError(f"--lang must be ja or en, not {lang!r}")
    missing = [n for n in (*NOTEBOOKS, SEGMENT_NOTEBOOK) if not (notebooks_dir() / f"{n}.ipynb").is_file()]
    if missing:
        raise ReportError(f"notebooks not found in {notebooks_dir()}: {', '.join(missing)} "
                          "(run from a checkout installed with pip install -e .)")
    data = Path(data).resolve()
    config = str(Path(config).resolve()) if config else None
    ctx = ReportContext(str(data), period or "", lang, config, seed=seed)
    engine = ctx.engine  # loads and validates the data before anything runs
    p = ctx.period
    label = p.label
    root = Path(out).resolve()
    target = root / label
    if target.exists() and not force:
        raise ReportError(f"{target} exists; pass --force to replace it")
    segmentations = [s.strip() for s in segments.split(",") if s.strip()]
    base = {"data": str(data), "period": label, "lang": lang, "config": config or "", "seed": seed}
    tmp = root / f".{label}.running"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "figures").mkdir(parents=True)
    (tmp / "tables").mkdir()
    all_jobs = _jobs(engine, label, segmentations, {**base, "out": str(tmp)}, tmp, timeout)
    result = RunResult(target)
    ctx.out = str(tmp)
    preparation = _prepare(ctx)
    result.notebooks = _execute_all(all_jobs, jobs or default_jobs(), label)
    shutil.rmtree(tmp / "cache", ignore_errors=True)
    manifest = {
        "period": label, "months": [str(p.first), str(p.last)], "parameters": {**base, "segments": segmentations},
        "data": str(data), "data_fingerprint": engine.dataset.fingerprint(), "git_commit": _git_commit(),
        "versions": package_versions(), "status": "failed" if result.failed else "ok",
        "preparation": preparation, "notebooks": result.notebooks,
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
