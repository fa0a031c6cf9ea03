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

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO

from traitlets.config import Config

from cs_analysis.core.periods import Period
from cs_analysis.errors import CsAnalysisError, ReportError
from cs_analysis.kpis.engine import KpiEngine
from cs_analysis.model.persistence import package_versions
from cs_analysis.report.context import ReportContext
from cs_analysis.report.exports import write_pdf, write_workbook
from cs_analysis.report.pages import NOTEBOOKS, SEGMENT_NOTEBOOK, run_pages, segment_file_name

__all__ = ["NOTEBOOKS", "SEGMENT_NOTEBOOK", "RunResult", "notebooks_dir", "period_lock", "run_report",
           "segment_file_name"]

KERNEL = "python3"
# CurveZMQ-encrypted kernel channels where the kernel supports them (ipykernel 7 warns otherwise)
KERNEL_CONFIG = Config({"KernelManager": {"transport_encryption": "auto"}})


@dataclass
class RunResult:
    folder: Path
    notebooks: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the run left out, and why

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
    """The notebook's HTML, without code. The cell papermill injects gets a random id: it is
    given a stable one first, so the same data gives the same report."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    for i, cell in enumerate(nb.cells):
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell["id"] = f"injected-parameters-{i}"
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
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


def _jobs(engine: KpiEngine, period: Period, segmentations: list[str], base: dict, folder: Path,
          timeout: int) -> list[Job]:
    """One job for every page of the run (report.pages): the quarterly report also gets the
    segmentations, for its index of the run's pages."""
    nbdir = notebooks_dir()
    jobs = []
    for page in run_pages(engine, period, segmentations):
        params = dict(base)
        if page.segment_by is not None:
            params.update(segment_by=page.segment_by, segment=page.segment)
        if page.notebook == "quarterly_report":
            params["segments"] = ",".join(segmentations)
        jobs.append(Job(page.name, nbdir / f"{page.notebook}.ipynb", params, folder, timeout))
    return jobs


def kernel_manager_class(log: IO[bytes]) -> type:
    """A kernel manager class whose kernels write their own stdout/stderr (their log lines, such
    as the "KeyboardInterrupt caught in kernel" printed when the interrupt that starts every
    shutdown lands mid-message) to ``log`` instead of the user's terminal. Given to nbclient as
    its class (not as an instance), so nbclient owns the kernel and shuts it down."""
    from jupyter_client.manager import AsyncKernelManager

    class _Quiet(AsyncKernelManager):
        async def start_kernel(self, **kw):  # type: ignore[override]
            kw.setdefault("stdout", log)
            kw.setdefault("stderr", log)
            return await super().start_kernel(**kw)

    return _Quiet


def _execute(job: Job) -> dict:
    """Execute one notebook (and write its HTML); the manifest entry, failures included. The
    kernel's own log goes to logs/<name>.kernel.log, kept only when the notebook failed."""
    import papermill as pm

    output = job.folder / f"{job.name}.ipynb"
    log_path = job.folder / "logs" / f"{job.name}.kernel.log"
    log_path.parent.mkdir(exist_ok=True)
    started = time.perf_counter()
    entry = {"notebook": job.name, "file": f"{job.name}.ipynb", "source": f"notebooks/{job.source.name}",
             "parameters": {k: v for k, v in job.parameters.items() if k != "out"}}
    if "segment" in job.parameters:  # the manifest maps each segment page to its exact values
        entry.update(segment_by=job.parameters["segment_by"], segment=job.parameters["segment"])
    with log_path.open("wb") as log:
        try:
            # the kernel's working folder is set through nbclient: papermill's cwd= changes the
            # folder of the whole process, which is not safe with several notebooks at once
            pm.execute_notebook(str(job.source), str(output), parameters=job.parameters, kernel_name=KERNEL,
                                execution_timeout=job.timeout, progress_bar=False, log_output=False,
                                resources={"metadata": {"path": str(job.folder)}}, config=KERNEL_CONFIG,
                                kernel_manager_class=kernel_manager_class(log))
            entry["status"] = "ok"
        except pm.PapermillExecutionError as exc:
            entry.update(status="failed", cell=exc.exec_count, error=f"{exc.ename}: {exc.evalue}")
        except Exception as exc:  # kernel died, timeout: the partial notebook is kept
            entry.update(status="failed", cell=None, error=f"{type(exc).__name__}: {exc}")
    if entry["status"] == "ok":
        log_path.unlink(missing_ok=True)
    else:
        entry["kernel_log"] = f"logs/{log_path.name}"
    entry["seconds"] = round(time.perf_counter() - started, 2)
    if output.exists():
        _html(output)
    return entry


def _prepare(ctx: ReportContext) -> dict:
    """Run ``ctx.prepare()`` (the churn model and the at-risk list the notebooks share); its
    manifest entry. A failure stops the run at once with the preparation's error (a
    :class:`ReportError`): every notebook would only repeat it."""
    started = time.perf_counter()
    what = "the report's shared preparation (training the churn model and scoring the at-risk list)"
    try:
        ctx.prepare()
    except CsAnalysisError as exc:
        raise ReportError(f"{what} failed, so no notebook was run: {exc}") from None
    except Exception as exc:  # a bug: say so in one line, still before any notebook runs
        raise ReportError(f"{what} failed, so no notebook was run: unexpected {type(exc).__name__}: {exc}") from None
    return {"status": "ok", "seconds": round(time.perf_counter() - started, 2)}


LOCK_SUFFIX = ".lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextlib.contextmanager
def period_lock(root: Path, label: str) -> Iterator[Path]:
    """Hold ``root/.<label>.lock`` while a run writes the period's report: a second run for the
    same period and folder stops with a :class:`ReportError` naming the first (its process,
    host and start). A lock left by a run that was killed (its process is gone on this host)
    is stale: it is removed and taken."""
    lock = root / f".{label}{LOCK_SUFFIX}"
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(lock.read_text(encoding="utf-8"))
                pid, host = int(holder["pid"]), str(holder["host"])
            except (OSError, ValueError, KeyError, TypeError):
                holder, pid, host = {}, -1, ""
            if host == me["host"] and not _alive(pid) or (not holder and _old(lock)):
                lock.unlink(missing_ok=True)  # stale: the run that held it is gone
                continue
            raise ReportError(
                f"another report run for {label} is writing into {root} (process {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')}, started {holder.get('started', '?')}); wait for it to finish, or "
                f"delete {lock} if that run is no longer running") from None
        except OSError as exc:
            raise ReportError(f"{root}: cannot create the report folder's lock: {exc.strerror}") from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(me, f)
        break
    else:
        raise ReportError(f"{lock}: cannot take the report lock")
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)


def _old(path: Path, seconds: float = 24 * 3600) -> bool:
    """An unreadable lock older than a day is stale."""
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return True


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
    label = ctx.period.label
    root = Path(out).resolve()
    target = root / label
    if target.exists() and not force:
        raise ReportError(f"{target} exists; pass --force to replace it")
    segmentations = [s.strip() for s in segments.split(",") if s.strip()]
    notes = []
    if "size" in segmentations and not ctx.has_size:
        segmentations.remove("size")
        notes.append("no size segment pages: the accounts have no employees column (size needs it)")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"{root}: cannot create the reports folder: {exc.strerror}") from None
    with period_lock(root, label):
        result = _run_locked(ctx, engine, label, root, target, data, config, segmentations, force, timeout,
                             seed, jobs, notes)
    return result


def _run_locked(ctx: ReportContext, engine: KpiEngine, label: str, root: Path, target: Path, data: Path,
                config: str | None, segmentations: list[str], force: bool, timeout: int, seed: int,
                jobs: int | None, notes: list[str]) -> RunResult:
    """The run itself, under the period's lock (see :func:`run_report`)."""
    if target.exists() and not force:  # checked again: another run may have finished meanwhile
        raise ReportError(f"{target} exists; pass --force to replace it")
    p = ctx.period
    base = {"data": str(data), "period": label, "lang": ctx.lang, "config": config or "", "seed": seed}
    tmp = root / f".{label}.running"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "figures").mkdir(parents=True)
        (tmp / "tables").mkdir()
    except OSError as exc:
        raise ReportError(f"{tmp}: cannot create the run's folder: {exc.strerror}") from None
    try:
        all_jobs = _jobs(engine, p, segmentations, {**base, "out": str(tmp)}, tmp, timeout)
        result = RunResult(target, notes=notes)
        ctx.out = str(tmp)
        preparation = _prepare(ctx)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.notebooks = _execute_all(all_jobs, jobs or default_jobs(), label)
    shutil.rmtree(tmp / "cache", ignore_errors=True)
    write_workbook(tmp / "tables", tmp / "tables.xlsx")
    if (tmp / "quarterly_report.html").is_file():
        missing_pdf = write_pdf(tmp / "quarterly_report.html", tmp / "quarterly_report.pdf")
        if missing_pdf:
            notes.append(missing_pdf)
    with contextlib.suppress(OSError):
        (tmp / "logs").rmdir()  # only when empty: logs of failed notebooks stay
    manifest = {
        "period": label, "months": [str(p.first), str(p.last)], "parameters": {**base, "segments": segmentations},
        "data": str(data), "data_fingerprint": engine.dataset.fingerprint(), "git_commit": _git_commit(),
        "versions": package_versions(), "status": "failed" if result.failed else "ok",
        "preparation": preparation, "notebooks": result.notebooks, "notes": notes,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    if result.failed and target.exists():
        result.folder = root / f"{label}.failed"  # never replace a good report with a failed run
    try:
        if result.folder.exists():
            old = root / f".{label}.old"
            shutil.rmtree(old, ignore_errors=True)
            result.folder.rename(old)
            tmp.rename(result.folder)
            shutil.rmtree(old)
        else:
            tmp.rename(result.folder)
    except OSError as exc:
        raise ReportError(f"{result.folder}: cannot move the finished report into place: {exc.strerror}") from None
    return result
