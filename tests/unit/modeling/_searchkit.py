"""Running :class:`loopml.modeling.Search` on given folds, as the modeling tests do."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from loopml.modeling import Search, SearchResult, TrainingData, TrainingSpec
from loopml.modeling._split import Folds

_DATA_FIELDS = ("time", "groups", "strategy", "numbers")
_RUN_FIELDS = ("candidates", "executor", "progress", "started")


def run_search(
    X: pd.DataFrame,
    y: pd.Series,
    *,
    roles: dict[str, str],
    folds: Folds,
    clock: Callable[[], float] = time.monotonic,
    **settings: Any,
) -> SearchResult:
    """One search on ``folds``; ``settings`` are :class:`TrainingSpec` fields, the optional
    :class:`TrainingData` fields and the search's own arguments (executor, progress, ...)."""
    data = TrainingData(
        X=X, y=y, roles=roles, **{k: settings.pop(k) for k in _DATA_FIELDS if k in settings}
    )
    run = {k: settings.pop(k) for k in _RUN_FIELDS if k in settings}
    # these tests check the search's refit path at budgets that never bind; the bagging
    # tests (test_bagging.py) ask for bagging themselves
    settings.setdefault("bagging", False)
    for key in ("classes", "families"):
        if key in settings:
            settings[key] = tuple(settings[key])
    spec = TrainingSpec(**settings)
    return Search(data, spec, folds, clock=clock, **run).run()
