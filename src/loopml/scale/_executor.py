"""The search's fold jobs as Dask tasks.

:class:`loopml.modeling.FuturesExecutor` sends each job its own training and validation
rows; on a cluster that ships the training frame again with every fold of every trial.
:class:`DaskExecutor` scatters the frame, the target and the folds to every worker once, at
:meth:`~DaskExecutor.start`, and each task receives only the job and a reference to them.
The model inside a task may use the cores of its worker's machine per task slot on that
machine (a machine with 4 cores and one worker of 1 thread runs one task at a time with 4
threads; with 4 such workers, each task gets 1), not the cores of the machine that runs the
search.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any

from loopml.modeling import FoldJob, FoldOutcome, available_cpus, fit_fold

if TYPE_CHECKING:
    import pandas as pd

    from loopml.modeling import Folds


def _fit_scattered(job: FoldJob, data: tuple[pd.DataFrame, pd.Series, Folds]) -> FoldOutcome:
    X, y, folds = data
    train, valid = folds[job.fold]
    return fit_fold(job, X.iloc[train], y.iloc[train], X.iloc[valid], y.iloc[valid])


class DaskExecutor:
    """Fits fold jobs on the workers of a ``distributed.Client``.

    ``workers`` (how many jobs the search runs at once) is the cluster's task slots: the sum
    of its workers' threads when the executor is made. ``threads`` (per job) divides the
    cores each worker may use among the task slots of all the workers on its host, since
    workers on one host (a ``LocalCluster``, ``dask worker --nworkers``) share its cores;
    the fewest any host gives is used. The client belongs to the caller and is not closed
    by :meth:`close`.
    """

    def __init__(self, client: Any) -> None:
        info = client.scheduler_info()["workers"]
        if not info:
            raise RuntimeError("the Dask cluster has no worker")
        slots = {address: int(w["nthreads"]) for address, w in info.items()}
        host = {address: w.get("host", address) for address, w in info.items()}
        on_host = Counter[str]()
        for address, n in slots.items():
            on_host[host[address]] += n
        cores = client.run(available_cpus)  # affinity and cgroup quota of each worker
        self.client = client
        self.workers = sum(slots.values())
        # threads per task: the fewest any host can give each of the task slots it runs
        self.threads = max(1, min(cores.get(a, 1) // max(on_host[host[a]], 1) for a in slots))
        self._executor: Executor = client.get_executor(pure=False)
        self._data: Any = None
        self._rows: tuple[pd.DataFrame, pd.Series, list[Any]] | None = None

    def start(self, X: pd.DataFrame, y: pd.Series, folds: Folds) -> None:
        self._rows = (X, y, list(folds))
        self._scatter()

    def _scatter(self) -> None:
        scattered = self.client.scatter({"data": self._rows}, broadcast=True)
        self._data = scattered["data"]

    def submit(self, job: FoldJob) -> Future[FoldOutcome]:
        if self._data is None:
            raise RuntimeError("DaskExecutor.start must be called before submit")
        if self._data.status in ("cancelled", "lost", "error"):
            # a lost worker can take the scattered rows with it (seen on a loaded machine:
            # every later job was cancelled); send them again rather than fail every trial
            self._scatter()
        job = dataclasses.replace(job, threads=self.threads)
        return self._executor.submit(_fit_scattered, job, self._data)

    def close(self) -> None:
        if self._data is not None:
            self._data.release()
            self._data = None
        self._rows = None
