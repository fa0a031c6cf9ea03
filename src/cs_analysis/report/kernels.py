"""The kernels of a report run: one per worker, reused from one notebook to the next.

Starting a kernel and importing pandas, matplotlib and the library costs about two seconds, more
than most report pages take to compute. A worker therefore keeps its kernel and, before each
notebook, resets it to a fresh state (:data:`RESET`: the user namespace emptied, the execution
counter back to 1, every figure closed): each notebook still runs as if alone (its outputs,
execution counts included, are those of a fresh kernel), only the imported modules — and the
dataset loaded for the same files (:func:`cs_analysis.report.base.shared_engine`) — are kept.
A kernel whose notebook failed (an error, a timeout, a crash) is shut down and the next notebook
gets a new one. :meth:`WorkerKernel.close` shuts the kernel down at the end of the run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.utils import merge_kwargs, remove_args
from traitlets.config import Config

__all__ = ["ENGINE", "KERNEL", "KERNEL_CONFIG", "RESET", "WorkerKernel", "quiet_manager_class"]

KERNEL = "python3"
# CurveZMQ-encrypted kernel channels where the kernel supports them (ipykernel 7 warns otherwise)
KERNEL_CONFIG = Config({"KernelManager": {"transport_encryption": "auto"}})
ENGINE = "cs-analysis-reused-kernel"

RESET = """\
get_ipython().run_line_magic("reset", "-f")
get_ipython().execution_count = 1
import sys as _sys
if "matplotlib.pyplot" in _sys.modules:
    _sys.modules["matplotlib.pyplot"].close("all")
del _sys
"""


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_environment(threads: int | None, extra: dict[str, str] | None = None) -> dict[str, str] | None:
    """The environment of a kernel that may use ``threads`` BLAS/OpenMP threads (None: the
    libraries' default, one per CPU), with the variables ``extra``. A limit the user set is kept."""
    if threads is None and not extra:
        return None
    env = {**os.environ, **(extra or {})}
    for name in THREAD_VARIABLES if threads is not None else ():
        env.setdefault(name, str(threads))
    return env


def quiet_manager_class(log: IO[bytes], threads: int | None = None, extra: dict[str, str] | None = None) -> type:
    """A kernel manager class whose kernels write their own stdout/stderr (their log lines, such
    as the "KeyboardInterrupt caught in kernel" printed when the interrupt that starts every
    shutdown lands mid-message) to ``log`` instead of the user's terminal, with at most
    ``threads`` BLAS/OpenMP threads and the variables ``extra`` (:func:`thread_environment`)."""
    env = thread_environment(threads, extra)

    class _Quiet(AsyncKernelManager):
        async def start_kernel(self, **kw):  # type: ignore[override]
            kw.setdefault("stdout", log)
            kw.setdefault("stderr", log)
            if env is not None:
                kw.setdefault("env", env)
            return await super().start_kernel(**kw)

    return _Quiet


class _ResetClient(PapermillNotebookClient):
    """Papermill's client, resetting the (reused) kernel before the first cell and closing its
    channels after the last."""

    def papermill_execute_cells(self):
        reply = self.wait_for_reply(self.kc.execute(RESET, silent=True, store_history=False))
        if reply is None or reply["content"].get("status") != "ok":
            raise RuntimeError("the kernel could not be reset for the next notebook")
        super().papermill_execute_cells()

    def execute(self, **kwargs):
        try:
            return super().execute(**kwargs)
        finally:
            if self.kc is not None:
                self.kc.stop_channels()
                self.kc = None


class _ReusedKernelEngine(NBClientEngine):
    """Papermill's nbclient engine with :class:`_ResetClient` (the same arguments)."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None, stderr_file=None,
                                 start_timeout=60, execution_timeout=None, **kwargs):
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(safe_kwargs, timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                                    startup_timeout=start_timeout, kernel_name=kernel_name, log_output=log_output,
                                    stdout_file=stdout_file, stderr_file=stderr_file)
        return _ResetClient(nb_man, **final_kwargs).execute()


papermill_engines.register(ENGINE, _ReusedKernelEngine)


class WorkerKernel:
    """One worker's kernel: started by the first notebook that needs it (in ``folder``, its
    output going to ``log_path``), kept for the next, replaced after a failure."""

    def __init__(self, log_path: Path, reuse: bool = True, threads: int | None = None,
                 env: dict[str, str] | None = None):
        self.log_path = log_path
        self.threads = threads
        self.env = env  # variables the kernels get (the run's dataset snapshot)
        self.reuse = reuse  # False: closed after each notebook (release), so each gets a fresh kernel
        self._log: IO[bytes] | None = None
        self.manager: AsyncKernelManager | None = None
        self.failed = False  # a notebook failed on one of this worker's kernels: its log is kept

    def get(self) -> AsyncKernelManager:
        """The kernel manager to hand to papermill (nbclient starts its kernel when it has none)."""
        if self.manager is None:
            if self._log is None:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                self._log = self.log_path.open("ab")
            self.manager = quiet_manager_class(self._log, self.threads, self.env)(kernel_name=KERNEL, config=KERNEL_CONFIG)
        return self.manager

    def release(self) -> None:
        """After a notebook: a kernel that is not reused (``reuse=False``) is shut down."""
        if not self.reuse:
            self.close()

    def discard(self) -> None:
        """Shut the kernel down now (its notebook failed: it may be busy, broken or dead)."""
        self.failed = True
        self._shutdown(now=True)

    def close(self) -> None:
        """Shut the kernel down and close its log (removed unless a notebook failed)."""
        self._shutdown(now=False)
        if self._log is not None:
            self._log.close()
            self._log = None
            if not self.failed:
                self.log_path.unlink(missing_ok=True)

    def _shutdown(self, now: bool) -> None:
        km, self.manager = self.manager, None
        if km is None:
            return
        try:
            if km.has_kernel:
                run_sync(km.shutdown_kernel)(now=now)  # also removes its connection file
        except (RuntimeError, OSError):  # "No kernel is running!", or its process is gone already
            run_sync(km.cleanup_resources)()
