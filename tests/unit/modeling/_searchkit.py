"""Running :class:`loopml.modeling.Search` on given folds, as the modeling tests do."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from loopml.modeling import Search, SearchResult, TrainingData, TrainingSpec
from loopml.modeling._split import Folds


def signal_frame(
    n: int = 120, seed: int = 0, *, x1_gaps: int = 10, color_gaps: bool = False
) -> tuple[pd.DataFrame, np.ndarray]:
    """Numbers with gaps (and a category with gaps), a datetime column, and a signal in x1 and
    color: the modeling tests' data."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n).astype(object)
    X = pd.DataFrame(
        {
            "x1": x1,
            "x2": rng.uniform(0, 10, size=n),
            "color": color,
            "signup": pd.date_range("2024-01-01", periods=n, freq="D"),
        }
    )
    X.loc[rng.choice(n, x1_gaps, replace=False), "x1"] = np.nan
    if color_gaps:
        X.loc[[3, 7, 11], "color"] = None
    signal = x1 + (color == "red") + rng.normal(scale=0.5, size=n)
    return X, signal


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
