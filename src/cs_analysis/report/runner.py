"""The report runner: executes the notebooks with papermill into ``reports/<period>/``.

A run is a small graph of tasks on ``jobs`` workers: the shared preparation (the churn model and
the at-risk list, see ``ReportContext.prepare``; run on a worker's kernel) and one task per page. Pages
that need nothing from the preparation (the KPI overview; the health review, which computes the
contact-impact estimate the quarterly report reuses) run beside it; the others start once it is
done, the quarterly report once the health review is, and the PDF as soon as the quarterly
report exists. Each worker keeps its kernel from one notebook to the next, reset in between
(:mod:`.kernels`). The run writes into a temporary folder beside the target and moves it into
place only at the end: executed ``.ipynb``, ``.html`` without code, ``figures/*.png``,
``tables/*.csv``, ``tables.xlsx``, the PDF and ``manifest.json``. A failing notebook keeps its
partly executed copy (the error visible in it and in its HTML); the others still run; an
existing report is replaced only with ``force`` and never by a failed run (that one is kept as
``<period>.failed``). A failed preparation stops the run: nothing is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from cs_analysis import errors
from cs_analysis.core.periods import Period
from cs_analysis.errors import CsAnalysisError, ReportError
from cs_analysis.kpis.engine import KpiEngine
from cs_analysis.model.persistence import package_versions
from cs_analysis.report.base import SNAPSHOT_ENV, write_snapshot
from cs_analysis.report.context import ReportContext
from cs_analysis.report.exports import write_pdf, write_workbook
from cs_analysis.report.kernels import ENGINE, KERNEL, KERNEL_CONFIG, WorkerKernel
from cs_analysis.report.pages import NOTEBOOKS, SEGMENT_NOTEBOOK, run_pages, segment_file_name

__all__ = ["NOTEBOOKS", "SEGMENT_NOTEBOOK", "RunResult", "notebooks_dir", "period_lock", "run_report",
           "segment_file_name"]

PREPARE = "preparation"
KERNEL_THREADS = 1
PDF = "pdf"
# pages that need nothing from the preparation, and what the others need besides it
INDEPENDENT = frozenset({"kpi_overview", "health_review"})
NEEDS = {"quarterly_report": frozenset({PREPARE, "health_review"})}  # the health review caches the impact
FIRST = ("health_review", "kpi_overview", "quarterly_report", "renewals_forecast")  # what others wait for, then the longest


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


def _papermill(kernel: WorkerKernel, source: object, output: Path | None, folder: Path, timeout: int,
               parameters: dict | None = None) -> None:
    """Execute a notebook (a path or a NotebookNode) on the worker's ``kernel`` (reset first,
    :mod:`.kernels`), its working folder ``folder``; papermill saves it once, at the end (a
    failed one with its error)."""
    import papermill as pm

    # the kernel's working folder is set through nbclient: papermill's cwd= changes the folder
    # of the whole process, which is not safe with several notebooks at once
    pm.execute_notebook(source, None if output is None else str(output), parameters=parameters,
                        kernel_name=KERNEL, execution_timeout=timeout, progress_bar=False, log_output=False,
                        resources={"metadata": {"path": str(folder)}}, config=KERNEL_CONFIG, engine_name=ENGINE,
                        km=kernel.get(), request_save_on_cell_execute=False)


def _execute(job: Job, kernel: WorkerKernel) -> dict:
    """Execute one notebook on the worker's ``kernel`` (and write its HTML); the manifest entry,
    failures included. A kernel whose notebook failed is replaced, and its log kept."""
    entry = _run_notebook(job, kernel)
    if entry["status"] != "ok":
        kernel.discard()
        entry["kernel_log"] = f"logs/{kernel.log_path.name}"
    kernel.release()
    return entry


def _run_notebook(job: Job, kernel: WorkerKernel) -> dict:
    import papermill as pm

    output = job.folder / f"{job.name}.ipynb"
    started = time.perf_counter()
    entry = {"notebook": job.name, "file": f"{job.name}.ipynb", "source": f"notebooks/{job.source.name}",
             "parameters": {k: v for k, v in job.parameters.items() if k != "out"}}
    if "segment" in job.parameters:  # the manifest maps each segment page to its exact values
        entry.update(segment_by=job.parameters["segment_by"], segment=job.parameters["segment"])
    try:
        _papermill(kernel, str(job.source), output, job.folder, job.timeout, job.parameters)
        entry["status"] = "ok"
    except pm.PapermillExecutionError as exc:
        entry.update(status="failed", cell=exc.exec_count, error=f"{exc.ename}: {exc.evalue}")
    except Exception as exc:  # kernel died, timeout: the partial notebook is kept
        entry.update(status="failed", cell=None, error=f"{type(exc).__name__}: {exc}")
    entry["seconds"] = round(time.perf_counter() - started, 2)
    if output.exists():
        _html(output)
    return entry


PREPARE_CODE = """from cs_analysis.report.context import ReportContext

ReportContext({data!r}, {period!r}, {lang!r}, {config!r}, {out!r}, {seed!r}).prepare()
"""


def _prepare(kernel: WorkerKernel, parameters: dict, folder: Path, timeout: int) -> dict:
    """Run ``ReportContext.prepare()`` (the churn model and the at-risk list the notebooks
    share, written to the run's folder) on ``kernel``, a worker's like any page (so it runs
    beside the pages that do not need it, and the kernel keeps the loaded data for the next
    page); its manifest entry. A failure is a :class:`ReportError` that stops the run (most
    notebooks would only repeat it)."""
    import nbformat
    import papermill as pm

    started = time.perf_counter()
    p = parameters
    code = PREPARE_CODE.format(data=p["data"], period=p["period"], lang=p["lang"], config=p["config"] or None,
                               out=p["out"], seed=p["seed"])
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)],
                                  metadata={"kernelspec": {"name": KERNEL, "display_name": "Python 3",
                                                           "language": "python"}})
    stopped = ("the report's shared preparation (training the churn model and scoring the at-risk list) failed, "
               "so the run was stopped and no report was written")
    try:
        _papermill(kernel, nb, None, folder, timeout)
    except pm.PapermillExecutionError as exc:  # the error raised in the kernel: ours is said as it is
        kernel.discard()
        ours = getattr(errors, exc.ename, None)
        known = isinstance(ours, type) and issubclass(ours, CsAnalysisError)
        raise ReportError(f"{stopped}: {exc.evalue if known else f'unexpected {exc.ename}: {exc.evalue}'}") from None
    except Exception as exc:  # the kernel died or timed out
        kernel.discard()
        raise ReportError(f"{stopped}: {type(exc).__name__}: {exc}") from None
    finally:
        kernel.release()
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


@dataclass(frozen=True)
class Task:
    """One step of a run: ``name``, what must be done before it, and what it does on a worker
    (given that worker's kernel); it returns its manifest entry, or None."""

    name: str
    needs: frozenset[str]
    run: Callable[[WorkerKernel], dict | None]


def _tasks(jobs: list[Job], prepare: Callable[[WorkerKernel], dict], pdf: Callable[[], None]) -> list[Task]:
    """The run's tasks in the order workers take them up (the first whose needs are done)."""
    by_name = {job.name: job for job in jobs}
    order = [n for n in FIRST if n in by_name] + [job.name for job in jobs if job.name not in FIRST]
    tasks = [Task(PREPARE, frozenset(), prepare)]
    for name in order:
        needs = frozenset() if name in INDEPENDENT else NEEDS.get(name, frozenset({PREPARE}))
        tasks.append(Task(name, needs & ({PREPARE} | set(by_name)),
                          lambda kernel, job=by_name[name]: _execute(job, kernel)))
        if name == "quarterly_report":
            tasks.append(Task(PDF, frozenset({name}), lambda kernel: pdf()))
    return tasks


def _schedule(tasks: list[Task], workers: int, kernels: list[WorkerKernel], on_done: Callable[[str], None]
              ) -> dict[str, dict | None]:
    """Run ``tasks`` on ``workers`` threads (each with its kernel): every worker takes up the
    first task not yet started whose needs are done, and waits when there is none. A task that
    raises stops the run: no task starts after it, the running ones finish, and its exception
    is raised here."""
    origin = time.perf_counter()
    cond = threading.Condition()
    started: set[str] = set()
    done: set[str] = set()
    results: dict[str, dict | None] = {}
    failure: list[BaseException] = []

    def take() -> Task | None:
        with cond:
            while not failure and len(started) < len(tasks):
                ready = next((t for t in tasks if t.name not in started and t.needs <= done), None)
                if ready is not None:
                    started.add(ready.name)
                    return ready
                cond.wait()
            return None

    def work(kernel: WorkerKernel) -> None:
        while (task := take()) is not None:
            begun = time.perf_counter() - origin
            try:
                result = task.run(kernel)
                if result is not None:  # when it ran, since the run's start (the manifest's timeline)
                    result["started"] = round(begun, 2)
            except BaseException as exc:  # noqa: B036 - handed to the main thread, raised there
                with cond:
                    failure.append(exc)
                    cond.notify_all()
                return
            with cond:
                results[task.name] = result
                done.add(task.name)
                cond.notify_all()
            on_done(task.name)

    threads = [threading.Thread(target=work, args=(kernels[i],), name=f"report-worker-{i}", daemon=True)
               for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failure:
        raise failure[0]
    return results


def _execute_all(jobs: list[Job], workers: int, label: str, prepare: Callable[[WorkerKernel], dict],
                 pdf: Callable[[], None], folder: Path, reuse_kernels: bool = True,
                 env: dict[str, str] | None = None) -> tuple[dict, list[dict]]:
    """The preparation's manifest entry and every job's (in job order), with a
    progress bar over the notebooks, shown once the preparation is done (so that a run it stops
    prints only its error)."""
    from tqdm import tqdm

    tasks = _tasks(jobs, prepare, pdf)
    # one BLAS/OpenMP thread per kernel: the workers are the parallelism (more threads than cores
    # slow OpenMP code down many times over), and the numbers do not depend on --jobs (a
    # multi-threaded sum adds in another order: the last digits of a probability move)
    kernels = [WorkerKernel(folder / "logs" / f"kernel-{i + 1}.log", reuse=reuse_kernels, threads=KERNEL_THREADS,
                            env=env) for i in range(workers)]
    names = {job.name for job in jobs}
    progress: dict = {"done": 0, "bar": None}
    lock = threading.Lock()

    def on_done(name: str) -> None:
        with lock:
            if name == PREPARE:
                progress["bar"] = tqdm(total=len(jobs), initial=progress["done"], desc=f"report {label}",
                                       unit="notebook", file=sys.stderr)
            elif name in names:
                progress["done"] += 1
                if progress["bar"] is not None:
                    progress["bar"].update()

    try:
        results = _schedule(tasks, max(1, workers), kernels, on_done)
    finally:
        for kernel in kernels:
            kernel.close()
        if progress["bar"] is not None:
            progress["bar"].close()
    return results[PREPARE], [results[job.name] for job in jobs]


def run_report(period: str | None, data: str | Path, out: str | Path = "reports", lang: str = "ja",
               segments: str = "size,touch_tier", config: str | None = None, force: bool = False,
               timeout: int = 1800, seed: int = 0, jobs: int | None = None, reuse_kernels: bool = True
               ) -> RunResult:
    """Execute every notebook for ``period`` into ``out/<period>/``; see the module docs.
    ``reuse_kernels=False`` gives every notebook a fresh kernel of its own (slower; the same
    report)."""
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
                             seed, jobs, notes, reuse_kernels)
    return result


def _run_locked(ctx: ReportContext, engine: KpiEngine, label: str, root: Path, target: Path, data: Path,
                config: str | None, segmentations: list[str], force: bool, timeout: int, seed: int,
                jobs: int | None, notes: list[str], reuse_kernels: bool = True) -> RunResult:
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

    def pdf() -> None:
        if (tmp / "quarterly_report.html").is_file():
            missing_pdf = write_pdf(tmp / "quarterly_report.html", tmp / "quarterly_report.pdf")
            if missing_pdf:
                notes.append(missing_pdf)

    def prepare(kernel: WorkerKernel) -> dict:
        return _prepare(kernel, {**base, "out": str(tmp)}, tmp, timeout)

    try:
        all_jobs = _jobs(engine, p, segmentations, {**base, "out": str(tmp)}, tmp, timeout)
        result = RunResult(target, notes=notes)
        # validated once, here: the kernels read this snapshot instead of the raw files
        snapshot = write_snapshot(engine.dataset, tmp / "cache" / "dataset", str(data), config)
        preparation, result.notebooks = _execute_all(all_jobs, jobs or default_jobs(), label, prepare, pdf, tmp,
                                                     reuse_kernels, {SNAPSHOT_ENV: str(snapshot)})
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(tmp / "cache", ignore_errors=True)
    write_workbook(tmp / "tables", tmp / "tables.xlsx")
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
