"""Where trials run: one fold of one configuration is the unit of work, given to an executor.

The search never fits a fold itself; it hands a :class:`FoldJob` to a :class:`TrialExecutor`
and reads back a :class:`FoldOutcome`. Three executors are provided:

* :class:`SerialExecutor` fits in the calling process, one fold after another (one core);
* :class:`ProcessExecutor` fits folds side by side in local worker processes, which receive
  the training frame once when they start (the default when the search may use several cores);
* :class:`FuturesExecutor` wraps any :class:`concurrent.futures.Executor`, such as the one a
  Dask cluster hands out (``distributed.Client(...).get_executor()``); each job then carries
  its own rows, because a remote worker shares nothing with this process.

Jobs and outcomes are plain picklable values, so any engine that can run a function on
another machine can run a trial.
"""

from __future__ import annotations

import pickle
import time
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from loopml.config import CleaningConfig, Constraints, FeaturesConfig
from loopml.metrics import score
from loopml.modeling._families import unwrap
from loopml.modeling._pipeline import (
    PipelineRecipe,
    check_constraints,
    make_pipeline,
    predict_scores,
    quietly,
)
from loopml.modeling._split import Folds
from loopml.types import TaskKind

if TYPE_CHECKING:
    from loopml.data import NumberFormat
    from loopml.modeling._families import ModelFamily
    from loopml.modeling._spec import LatencyFn


@dataclass(frozen=True)
class FoldJob:
    """Fit one configuration on the training rows of one fold and score it on the rest."""

    family: str | ModelFamily  # a built-in family's name, or any family's record
    params: dict[str, Any]
    fold: int
    task: TaskKind
    metric: str
    roles: dict[str, str]
    classes: tuple[Any, ...] = ()
    positive_class: Any = None
    seed: int = 42
    threads: int = 1  # threads the model may use inside this job
    cleaning: CleaningConfig | None = None
    features: FeaturesConfig | None = None
    limits: Constraints | None = None  # checked on the fitted pipeline when set
    numbers: NumberFormat | None = None  # how numbers written as text are read
    latency: LatencyFn | None = None  # times one row for limits.max_latency_ms (module-level)
    keep_model: bool = False  # send the fitted pipeline back (long budgets bag fold models)


@dataclass(frozen=True)
class FoldOutcome:
    """What a fold job sends back: the score, the validation predictions and the time spent."""

    fold: int
    score: float = float("nan")
    predictions: np.ndarray | None = None  # validation rows x classes (x 1 for regression)
    seconds: float = 0.0
    error: str = ""  # "Type: message" when the fit or the scoring failed
    broken: str = ""  # the constraint the fitted pipeline breaks, if any
    latency_ms: float | None = None  # single-row latency, measured when limits bound it
    model: Any = None  # the fitted pipeline, when the job asked to keep it
    model_bytes: int = 0  # its size pickled (see pickled_size), when kept
    curve: tuple[float, ...] = ()  # a network's validation loss after each epoch


def fit_fold(
    job: FoldJob,
    X_train: pd.DataFrame,
    y_train: pd.Series,
    X_valid: pd.DataFrame,
    y_valid: pd.Series,
) -> FoldOutcome:
    """Run one job on the given rows. A failing candidate is reported, never raised."""
    started = time.perf_counter()
    try:
        pipe = make_pipeline(
            job.roles,
            job.family,
            job.task,
            job.params,
            job.seed,
            job.threads,
            PipelineRecipe(job.cleaning, job.features, job.numbers),
        )
        with quietly(job.threads):
            pipe.fit(X_train, y_train)
            pred, proba = predict_scores(pipe, X_valid, job.task, job.classes)
        value = score(job.metric, job.task, y_valid, pred, proba, job.classes, job.positive_class)
        predictions = proba if proba is not None else np.asarray(pred, dtype=float).reshape(-1, 1)
        broken, latency_ms = "", None
        if job.limits is not None:
            broken, latency_ms = check_constraints(
                pipe, X_valid.iloc[:1], job.limits, job.task, job.classes, job.latency
            )
        size = pickled_size(pipe) if job.keep_model else 0  # a model kept must pickle
    except Exception as exc:  # a candidate failing is recorded by the search, not fatal
        return FoldOutcome(
            fold=job.fold,
            seconds=time.perf_counter() - started,
            error=f"{type(exc).__name__}: {exc}",
        )
    return FoldOutcome(
        fold=job.fold,
        score=float(value),
        predictions=predictions,
        seconds=time.perf_counter() - started,
        broken=broken,
        latency_ms=latency_ms,
        model=pipe if job.keep_model else None,
        model_bytes=size,
        curve=tuple(getattr(unwrap(pipe), "curve_", ())),
    )


def pickled_size(value: Any) -> int:
    """The bytes of ``value`` pickled, counted without keeping them: for fitted models,
    whose arrays pickle as they are, about the memory they hold.

    Examples
    --------
    >>> pickled_size(np.zeros(1_000_000)) > 8_000_000
    True
    """
    counter = _ByteCounter()
    pickle.Pickler(counter, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return counter.size


class _ByteCounter:
    """A write-only file that counts what is written to it."""

    size = 0

    def write(self, data: Any) -> int:
        written = memoryview(data).nbytes
        self.size += written
        return written


class TrialExecutor(Protocol):
    """Runs fold jobs. ``workers`` jobs may run at the same time."""

    workers: int

    def start(self, X: pd.DataFrame, y: pd.Series, folds: Folds) -> None:
        """Make the data available to the workers; called once, before any job."""

    def submit(self, job: FoldJob) -> Future[FoldOutcome]:
        """Start ``job``; the future holds its outcome."""

    def close(self) -> None:
        """Release the workers; called once, after the last job."""


def _rows(
    X: pd.DataFrame, y: pd.Series, folds: Folds, fold: int
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    train, valid = folds[fold]
    return X.iloc[train], y.iloc[train], X.iloc[valid], y.iloc[valid]


# the rows a worker process was started with (one search per worker pool)
_WORKER_DATA: tuple[pd.DataFrame, pd.Series, Folds] | None = None


def _install(X: pd.DataFrame, y: pd.Series, folds: Folds) -> None:
    global _WORKER_DATA
    _WORKER_DATA = (X, y, folds)


def _fit_installed(job: FoldJob) -> FoldOutcome:
    if _WORKER_DATA is None:  # pragma: no cover - the pool initializer always runs first
        raise RuntimeError("worker started without data")
    return fit_fold(job, *_rows(*_WORKER_DATA, job.fold))


#: How long each warm-up job holds its worker, so that every worker gets one.
WARM_UP_SECONDS = 0.2


def _ready(seconds: float) -> bool:
    time.sleep(seconds)
    return _WORKER_DATA is not None


class ProcessExecutor:
    """Fits jobs in ``workers`` local processes, started by :meth:`start` with the data.

    The workers are started by joblib's loky: fresh interpreters (no OpenMP or BLAS thread
    state inherited from this process, unlike a fork) that, unlike multiprocessing's spawn,
    do not re-run the calling script, so a script without an ``if __name__ == "__main__":``
    guard works. The frame and the folds are pickled once per worker.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self._pool: Any = None  # loky's ProcessPoolExecutor
        self._data: tuple[Any, ...] = ()

    def start(self, X: pd.DataFrame, y: pd.Series, folds: Folds) -> None:
        self._data = (X, y, folds)
        self._pool = self._new_pool()

    def _new_pool(self) -> Any:
        from joblib.externals.loky.backend.context import get_context
        from joblib.externals.loky.process_executor import ProcessPoolExecutor

        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            context=get_context("loky"),
            initializer=_install,
            initargs=self._data,
        )
        # start every worker now (imports and the data take a few seconds), so that the
        # first trial's fold times, which the budget estimates build on, are fold times
        ready = [pool.submit(_ready, WARM_UP_SECONDS) for _ in range(self.workers)]
        for future in ready:
            future.result()
        return pool

    def submit(self, job: FoldJob) -> Future[FoldOutcome]:
        if self._pool is None:
            raise RuntimeError("ProcessExecutor.start must be called before submit")
        try:
            return self._pool.submit(_fit_installed, job)
        except BrokenProcessPool:
            # a worker died (a native crash in one candidate): its jobs were reported as
            # failed; later trials get a fresh pool
            self._pool.shutdown(wait=False, kill_workers=True)
            self._pool = self._new_pool()
            return self._pool.submit(_fit_installed, job)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, kill_workers=False)
            self._pool = None
        self._data = ()


class FuturesExecutor:
    """Any :class:`concurrent.futures.Executor` as a trial executor, e.g. a Dask cluster's.

    Each job is sent with its own training and validation rows, since the executor's workers
    may be on other machines. The executor is not shut down by :meth:`close`: it belongs to
    the caller. Its workers should be processes: a job limits OpenMP threads and silences
    warnings for its whole process, which threads of one process would share.

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> with ThreadPoolExecutor(2) as pool:
    ...     executor = FuturesExecutor(pool, workers=2)
    """

    def __init__(self, executor: Executor, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.executor = executor
        self.workers = workers
        self._data: tuple[pd.DataFrame, pd.Series, Folds] | None = None

    def start(self, X: pd.DataFrame, y: pd.Series, folds: Folds) -> None:
        self._data = (X, y, folds)

    def submit(self, job: FoldJob) -> Future[FoldOutcome]:
        if self._data is None:
            raise RuntimeError(f"{type(self).__name__}.start must be called before submit")
        return self.executor.submit(fit_fold, job, *_rows(*self._data, job.fold))

    def close(self) -> None:
        self._data = None


class _Inline(Executor):
    """A ``concurrent.futures`` executor that runs each call when it is submitted."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # kept in the future, as a pool would
            future.set_exception(exc)
        return future


class SerialExecutor(FuturesExecutor):
    """Fits each job in this process when it is submitted: one at a time, nothing to ship."""

    def __init__(self) -> None:
        super().__init__(_Inline(), workers=1)


#: Searches shorter than this run in-process even with several cores (see default_executor).
MIN_PROCESS_BUDGET = 30.0


def default_executor(jobs: int, n_folds: int, budget_seconds: float) -> TrialExecutor:
    """Local processes when folds can run side by side and the budget pays for starting them.

    Starting a worker process (importing scikit-learn and the boosting libraries) costs a
    second or two, so a search on one core, or under ``MIN_PROCESS_BUDGET`` seconds, fits in
    this process.
    """
    workers = min(jobs, n_folds)
    if workers <= 1 or budget_seconds < MIN_PROCESS_BUDGET:
        return SerialExecutor()
    return ProcessExecutor(workers)


def wait_all(jobs: list[FoldJob], futures: list[Future[FoldOutcome]]) -> list[FoldOutcome]:
    """The outcomes in submission order; a job whose worker died is reported as failed."""
    outcomes = []
    for job, future in zip(jobs, futures, strict=True):
        try:
            outcomes.append(future.result())
        except Exception as exc:  # a crashed worker process, a lost remote worker
            outcomes.append(FoldOutcome(fold=job.fold, error=f"{type(exc).__name__}: {exc}"))
    return outcomes
