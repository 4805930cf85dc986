"""Where folds are fitted: fold jobs and the executors that run them (loopml.modeling._executor).

Starting a worker process imports scikit-learn, LightGBM and loopml (about 4 s on a busy core),
so the tests that need real processes share the pools they start where they can.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _searchkit import run_search, signal_frame

import _needs as needs
from loopml.config import Constraints
from loopml.metrics import score
from loopml.modeling import Leaderboard, available_cpus, cv_folds, make_pipeline
from loopml.modeling._executor import (
    MIN_PROCESS_BUDGET,
    FoldJob,
    FoldOutcome,
    FuturesExecutor,
    ProcessExecutor,
    SerialExecutor,
    TrialExecutor,
    default_executor,
    fit_fold,
    wait_all,
)
from loopml.modeling._split import Folds

ROLES = {"x1": "numeric", "x2": "numeric", "color": "categorical", "signup": "datetime"}


def _frame(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Numbers with gaps, a category, a datetime column, and a signal in x1/color."""
    return signal_frame(n, seed)


@dataclasses.dataclass(frozen=True)
class Data:
    X: pd.DataFrame
    y: pd.Series
    folds: Folds


@pytest.fixture(scope="module")
def regression() -> Data:
    X, signal = _frame()
    y = pd.Series(3.0 * signal + 10.0)
    return Data(X, y, cv_folds(y, strategy="random", n_folds=3, seed=0))


@pytest.fixture(scope="module")
def binary() -> Data:
    X, signal = _frame()
    y = pd.Series(np.where(signal > 0.5, "yes", "no"), dtype=object)
    return Data(X, y, cv_folds(y, strategy="stratified", n_folds=3, seed=0))


def _job(family: str = "lightgbm", fold: int = 0, **changes: Any) -> FoldJob:
    """A regression job on the ``regression`` fixture's folds."""
    job = FoldJob(
        family=family, params={}, fold=fold, task="regression", metric="rmse", roles=ROLES
    )
    return dataclasses.replace(job, **changes)


def _binary_job(fold: int = 0, **changes: Any) -> FoldJob:
    job = FoldJob(
        family="linear",
        params={},
        fold=fold,
        task="binary",
        metric="roc_auc",
        roles=ROLES,
        classes=("no", "yes"),
        positive_class="yes",
    )
    return dataclasses.replace(job, **changes)


def _fit(job: FoldJob, data: Data) -> FoldOutcome:
    train, valid = data.folds[job.fold]
    return fit_fold(
        job, data.X.iloc[train], data.y.iloc[train], data.X.iloc[valid], data.y.iloc[valid]
    )


def _run(executor: TrialExecutor, data: Data, jobs: list[FoldJob]) -> list[FoldOutcome]:
    executor.start(data.X, data.y, data.folds)
    try:
        return wait_all(jobs, [executor.submit(job) for job in jobs])
    finally:
        executor.close()


def _frozen() -> float:
    """A clock that never moves: the budget never binds, max_trials decides."""
    return 0.0


class _Die:
    """Kills the process that unpickles it, the way a segfaulting library would."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os._exit, (3,))


# ---------------------------------------------------------------------------- fit_fold


def test_fit_fold_scores_the_validation_rows(regression: Data) -> None:
    job = _job(fold=1)
    train, valid = regression.folds[1]

    outcome = _fit(job, regression)

    pipe = make_pipeline(ROLES, "lightgbm", "regression", {}, job.seed, 1)
    pipe.fit(regression.X.iloc[train], regression.y.iloc[train])
    expected = pipe.predict(regression.X.iloc[valid])
    assert outcome.fold == 1
    assert outcome.error == ""
    assert outcome.broken == ""
    assert outcome.seconds > 0.0
    assert outcome.predictions is not None
    assert outcome.predictions.shape == (len(valid), 1)
    np.testing.assert_allclose(outcome.predictions[:, 0], expected, rtol=0, atol=1e-12)
    rmse = score("rmse", "regression", regression.y.iloc[valid], expected, None, (), None)
    assert outcome.score == pytest.approx(rmse, abs=1e-12)


def test_fit_fold_returns_class_probabilities_for_classification(binary: Data) -> None:
    outcome = _fit(_binary_job(fold=2), binary)

    _, valid = binary.folds[2]
    assert outcome.error == ""
    assert 0.5 < outcome.score <= 1.0
    assert outcome.predictions is not None
    assert outcome.predictions.shape == (len(valid), 2)
    np.testing.assert_allclose(outcome.predictions.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"params": {"C": -1.0}}, r"^InvalidParameterError: The 'C' parameter"),
        (
            {"family": "no_such_family"},
            r"^UnknownFamilyError: unknown model family 'no_such_family'; known: lightgbm, ",
        ),
    ],
)
def test_fit_fold_reports_a_failing_candidate_without_raising(
    binary: Data, changes: dict[str, Any], error: str
) -> None:
    outcome = _fit(_binary_job(fold=1, **changes), binary)

    assert outcome.fold == 1
    assert re.search(error, outcome.error), outcome.error
    assert math.isnan(outcome.score)
    assert outcome.predictions is None
    assert outcome.broken == ""


def test_fit_fold_reports_a_broken_constraint(regression: Data) -> None:
    limits = Constraints(max_model_mb=1e-6)

    outcome = _fit(_job("linear", limits=limits), regression)

    assert outcome.error == ""
    assert math.isfinite(outcome.score)
    assert outcome.broken.startswith("model is ")
    assert outcome.broken.endswith("MB, over problem.constraints.max_model_mb 1e-06")


def test_fit_fold_without_limits_checks_no_constraint(regression: Data) -> None:
    outcome = _fit(_job("linear", limits=None), regression)
    assert outcome.broken == ""


# ---------------------------------------------------------------------------- executors


@dataclasses.dataclass(frozen=True)
class ProcessRun:
    outcomes: list[FoldOutcome]  # the three folds
    dead: FoldOutcome  # a job whose worker process died
    later: FoldOutcome | BaseException  # the next job after that, or what submit raised


@pytest.fixture(scope="module")
def process_run(regression: Data) -> ProcessRun:
    """One local worker process: three folds, a job that kills it, then one more job.

    One pool serves several tests because starting a worker costs seconds of imports.
    """
    jobs = [_job(fold=k) for k in range(3)]
    killer = _job("linear", params={"alpha": _Die()})
    executor = ProcessExecutor(1)
    executor.start(regression.X, regression.y, regression.folds)
    try:
        outcomes = wait_all(jobs, [executor.submit(job) for job in jobs])
        (dead,) = wait_all([killer], [executor.submit(killer)])
        later: FoldOutcome | BaseException
        try:
            (later,) = wait_all(jobs[:1], [executor.submit(jobs[0])])
        except BrokenProcessPool as exc:
            later = exc
    finally:
        executor.close()
    return ProcessRun(outcomes, dead, later)


def _scores(outcomes: list[FoldOutcome]) -> list[float]:
    assert [o.error for o in outcomes] == [""] * len(outcomes)
    return [o.score for o in outcomes]


def test_executors_give_the_same_fold_scores(regression: Data, process_run: ProcessRun) -> None:
    jobs = [_job(fold=k) for k in range(3)]

    serial = _run(SerialExecutor(), regression, jobs)
    with ThreadPoolExecutor(2) as pool:
        threaded = _run(FuturesExecutor(pool, workers=2), regression, jobs)
    processes = process_run.outcomes

    assert [o.fold for o in serial] == [0, 1, 2]
    assert [o.fold for o in threaded] == [0, 1, 2]
    assert [o.fold for o in processes] == [0, 1, 2]
    assert all(math.isfinite(s) for s in _scores(serial))
    assert _scores(threaded) == pytest.approx(_scores(serial), abs=1e-9)
    assert _scores(processes) == pytest.approx(_scores(serial), abs=1e-9)
    for a, b in zip(serial, processes, strict=True):
        np.testing.assert_allclose(a.predictions, b.predictions, rtol=0, atol=1e-9)


def test_a_dead_worker_process_is_a_failed_outcome(process_run: ProcessRun) -> None:
    dead = process_run.dead

    assert dead.fold == 0
    assert dead.error.startswith(("BrokenProcessPool: ", "TerminatedWorkerError: "))
    assert math.isnan(dead.score)
    assert dead.predictions is None


def test_process_executor_runs_jobs_after_a_worker_died(process_run: ProcessRun) -> None:
    later = process_run.later
    if isinstance(later, BaseException):
        raise later

    assert later.error == ""
    assert later.score == pytest.approx(process_run.outcomes[0].score, abs=1e-9)


def test_wait_all_keeps_submission_order_and_reports_lost_jobs() -> None:
    jobs = [_job(fold=k) for k in range(3)]
    futures: list[Future[FoldOutcome]] = [Future(), Future(), Future()]
    futures[0].set_result(FoldOutcome(fold=0, score=1.5))
    futures[1].set_exception(RuntimeError("worker lost"))
    futures[2].set_result(FoldOutcome(fold=2, score=2.5))

    outcomes = wait_all(jobs, futures)

    assert [o.fold for o in outcomes] == [0, 1, 2]
    assert [o.error for o in outcomes] == ["", "RuntimeError: worker lost", ""]
    assert outcomes[0].score == 1.5
    assert math.isnan(outcomes[1].score)
    assert outcomes[2].score == 2.5


EXECUTORS = ["SerialExecutor", "ProcessExecutor", "FuturesExecutor"]


def _executor(name: str, pool: ThreadPoolExecutor) -> TrialExecutor:
    if name == "SerialExecutor":
        return SerialExecutor()
    if name == "ProcessExecutor":
        return ProcessExecutor(2)  # its processes start with the first job
    return FuturesExecutor(pool, workers=1)


@pytest.mark.parametrize("name", EXECUTORS)
def test_submit_before_start_raises(name: str) -> None:
    with ThreadPoolExecutor(1) as pool:
        executor = _executor(name, pool)
        with pytest.raises(RuntimeError, match=rf"^{name}\.start must be called before submit$"):
            executor.submit(_job())


@pytest.mark.parametrize("name", EXECUTORS)
def test_submit_after_close_raises(name: str, regression: Data) -> None:
    with ThreadPoolExecutor(1) as pool:
        executor = _executor(name, pool)
        executor.start(regression.X, regression.y, regression.folds)
        executor.close()
        with pytest.raises(RuntimeError, match=rf"^{name}\.start must be called before submit$"):
            executor.submit(_job())


def test_futures_executor_leaves_the_callers_executor_running(regression: Data) -> None:
    with ThreadPoolExecutor(1) as pool:
        _run(FuturesExecutor(pool, workers=1), regression, [_job("linear")])
        assert pool.submit(lambda: 7).result() == 7


@pytest.mark.parametrize("workers", [0, -1])
def test_executors_need_a_worker(workers: int) -> None:
    with pytest.raises(ValueError, match=rf"^workers must be at least 1, got {workers}$"):
        ProcessExecutor(workers)
    with (
        ThreadPoolExecutor(1) as pool,
        pytest.raises(ValueError, match=rf"^workers must be at least 1, got {workers}$"),
    ):
        FuturesExecutor(pool, workers=workers)


def test_executors_report_their_workers() -> None:
    assert SerialExecutor().workers == 1
    assert ProcessExecutor(3).workers == 3


# ---------------------------------------------------------------------------- default_executor


@pytest.mark.parametrize(
    ("jobs", "n_folds", "budget", "expected"),
    [
        (1, 5, 600.0, None),  # one core
        (8, 1, 600.0, None),  # one fold: nothing to run side by side
        (8, 5, MIN_PROCESS_BUDGET - 0.1, None),  # too short to pay for starting processes
        (8, 5, MIN_PROCESS_BUDGET, 5),  # as many workers as folds
        (2, 5, 600.0, 2),  # as many workers as cores
        (4, 3, 120.0, 3),
    ],
)
def test_default_executor(jobs: int, n_folds: int, budget: float, expected: int | None) -> None:
    executor = default_executor(jobs, n_folds, budget)

    if expected is None:
        assert isinstance(executor, SerialExecutor)
    else:
        assert isinstance(executor, ProcessExecutor)
        assert executor.workers == expected


# ---------------------------------------------------------------------------- search


def _search(data: Data, executor: TrialExecutor, **kwargs: Any) -> Leaderboard:
    options: dict[str, Any] = {
        "families": ("linear", "lightgbm"),
        "budget_seconds": 600.0,
        "max_trials": 3,
        "seed": 0,
        "n_jobs": 1,
        "clock": _frozen,
        "executor": executor,
    }
    options.update(kwargs)
    result = run_search(
        data.X,
        data.y,
        task="binary",
        metric="roc_auc",
        roles=ROLES,
        folds=data.folds,
        classes=("no", "yes"),
        positive_class="yes",
        **options,
    )
    return result.leaderboard


def _assert_same_board(board: Leaderboard, expected: Leaderboard) -> None:
    def rows(b: Leaderboard) -> list[tuple[Any, ...]]:
        return [(t.number, t.family, t.source, t.status, t.params) for t in b.trials]

    assert rows(board) == rows(expected)
    for trial, want in zip(board.trials, expected.trials, strict=True):
        assert trial.fold_scores == pytest.approx(want.fold_scores, abs=1e-9)


@pytest.fixture(scope="module")
def serial_board(binary: Data) -> Leaderboard:
    return _search(binary, SerialExecutor())


def test_serial_search_is_the_reference(serial_board: Leaderboard) -> None:
    assert [(t.family, t.source, t.status) for t in serial_board.trials] == [
        ("lightgbm", "portfolio", "ok"),
        ("linear", "portfolio", "ok"),
        ("lightgbm", "optuna", "ok"),
    ]
    assert all(len(t.fold_scores) == 3 for t in serial_board.trials)


def test_search_in_worker_processes_matches_serial(binary: Data, serial_board: Leaderboard) -> None:
    board = _search(binary, ProcessExecutor(2))
    _assert_same_board(board, serial_board)


@pytest.mark.services
def test_search_on_a_dask_cluster_matches_serial(binary: Data, serial_board: Leaderboard) -> None:

    with needs.dask_client(2) as client:
        board = _search(binary, FuturesExecutor(client.get_executor(), workers=2))
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)

    _assert_same_board(board, serial_board)
    # 3 trials x 3 folds, in waves of two: both workers fitted folds
    assert sum(executed.values()) == 9
    assert all(count > 0 for count in executed.values())


UNGUARDED_SCRIPT = """
import numpy as np, pandas as pd
from loopml.modeling import ProcessExecutor, TrainingData, TrainingSpec, train_model

print("script body ran")  # a spawned worker re-running this file would print it again
rng = np.random.RandomState(0)
X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.choice(["x", "y"], 200)})
y = pd.Series(np.where(X["a"] > 0, "yes", "no"))
result = train_model(
    TrainingData(X, y, roles={"a": "numeric", "b": "categorical"}, strategy="stratified"),
    TrainingSpec(
        task="binary", metric="roc_auc", budget_seconds=600, classes=("no", "yes"),
        positive_class="yes", families=("linear",), max_trials=1, cv_folds=2, seed=0, n_jobs=2,
    ),
    executor=ProcessExecutor(2),
)
print("status", result.leaderboard.trials[0].status)
"""


def test_process_workers_do_not_rerun_a_script_without_a_main_guard(tmp_path: Any) -> None:
    # multiprocessing's spawn re-imports the calling script in each worker and refuses to
    # start from an unguarded one; the loky workers do neither
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED_SCRIPT, encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("script body ran") == 1
    assert "status ok" in done.stdout


@pytest.mark.services
def test_dask_executor_scatters_the_rows_once_and_matches_serial(
    binary: Data, serial_board: Leaderboard
) -> None:
    from loopml.scale import DaskExecutor

    with needs.dask_client(2) as client:
        executor = DaskExecutor(client)
        assert executor.workers == 2
        cores = client.run(available_cpus)
        # both workers run on this host: its cores are shared between their two task slots,
        # not given whole to each (2 x 2 threads on 2 cores made the search slower than local)
        assert executor.threads == max(1, min(cores.values()) // 2)
        executor.start(binary.X, binary.y, binary.folds)
        held = client.who_has([executor._data])[executor._data.key]
        executor.close()
        board = _search(binary, DaskExecutor(client))
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)

    assert len(held) == 2  # the rows went to both workers at start, not with each job
    rows = [(t.number, t.family, t.source, t.status) for t in board.trials]
    assert rows == [(t.number, t.family, t.source, t.status) for t in serial_board.trials]
    for trial, want in zip(board.trials, serial_board.trials, strict=True):
        # the models may use several threads on a worker: sums in another order
        assert trial.fold_scores == pytest.approx(want.fold_scores, abs=1e-6)
    assert sum(executed.values()) >= 9 and all(count > 0 for count in executed.values())


@pytest.mark.services
def test_a_single_dask_worker_gets_every_core_of_its_host_per_task() -> None:
    from loopml.scale import DaskExecutor

    with needs.dask_client(1) as client:
        executor = DaskExecutor(client)
        cores = client.run(available_cpus)

    assert executor.workers == 1
    assert executor.threads == next(iter(cores.values()))


@pytest.mark.services
def test_a_worker_lost_during_the_search_costs_at_most_its_folds(binary: Data) -> None:
    import signal

    from loopml.scale import DaskExecutor

    class KillOnFourthJob(DaskExecutor):
        """Kills one worker process as the fourth fold job is submitted."""

        submitted = 0

        def submit(self, job: FoldJob) -> Any:
            self.submitted += 1
            if self.submitted == 4:
                pid = sorted(self.client.run(os.getpid).values())[0]
                os.kill(pid, signal.SIGKILL)
            return super().submit(job)

    with needs.dask_client(2) as client:
        executor = KillOnFourthJob(client)
        board = _search(binary, executor, max_trials=4)

    assert executor.submitted >= 4  # the kill happened during the search
    searched = [t for t in board.trials if t.source != "ensemble"]  # an ensemble row may follow
    assert len(searched) == 4  # the search went on to its last trial
    assert board.best.status == "ok"
    failed = [t for t in searched if t.status != "ok"]
    assert len(failed) <= 1  # Dask re-runs a lost fold elsewhere; at worst one trial failed
