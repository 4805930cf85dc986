"""The one training entry point: :func:`train_model`, for projects and estimators alike."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from loopml.modeling._executor import TrialExecutor
from loopml.modeling._families import FamilyRegistry
from loopml.modeling._search import Search, SearchResult
from loopml.modeling._spec import ProgressFn, TrainingData, TrainingSpec
from loopml.modeling._split import plan_folds, time_ordered_column

__all__ = ["TrainingData", "TrainingSpec", "train_model"]


def train_model(
    data: TrainingData,
    training: TrainingSpec,
    *,
    candidates: FamilyRegistry | None = None,
    executor: TrialExecutor | None = None,
    clock: Callable[[], float] = time.monotonic,
    progress: ProgressFn | None = None,
    started: float | None = None,
) -> SearchResult:
    """Plan the folds, search the candidates within the budget, refit the best on all rows.

    ``Project.train`` and ``AutoClassifier``/``AutoRegressor.fit`` both train through here.
    When ``data.strategy`` is ``None`` the folds are time-ordered if the rows are sorted by
    one of their datetime columns (:func:`~loopml.modeling.time_ordered_column`), else
    stratified (classification) or random (regression); see
    :func:`~loopml.modeling._split.plan_folds` for the fold count and the class rule.

    ``candidates`` are the model families the search may use (default: the built-in ones),
    ``executor`` fits the folds, ``clock`` measures the budget, which counts from
    ``started`` (a ``clock`` reading) when given, so a caller's preparation is paid from it.

    Raises
    ------
    TrainingError
        When no candidate completed.
    """
    started = clock() if started is None else started
    strategy, time_column = data.strategy, None
    if strategy is None:
        time_column = time_ordered_column(data.X, data.roles)
        if time_column is not None:
            strategy = "time"  # the rows are in time order already: later rows validate
        else:
            strategy = "random" if training.task == "regression" else "stratified"
    plan = plan_folds(
        data.y,
        task=training.task,
        strategy=strategy,
        n_folds=training.cv_folds,
        seed=training.seed,
        time=data.time,
        groups=data.groups,
    )
    if plan.strategy != "time":
        time_column = None
    search = Search(
        data,
        training,
        plan.folds,
        candidates=candidates,
        executor=executor,
        clock=clock,
        progress=progress,
        started=started,
    )
    return dataclasses.replace(search.run(), time_column=time_column)
