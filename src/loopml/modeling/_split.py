"""Holdout and cross-validation splits: stratified, time-ordered, grouped or random."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    TimeSeriesSplit,
)

# the holdout split is data preparation (loopml.data); modeling's callers still find it here
from loopml.data import Split as Split
from loopml.data import choose_strategy as choose_strategy
from loopml.data import holdout_split, to_datetime
from loopml.types import TaskKind

Folds = list[tuple[np.ndarray, np.ndarray]]


#: Rows above which the automatic fold count drops: every fold is a full fit, and on large data
#: more configurations in the budget are worth more than a lower-variance estimate of each.
AUTO_FOLDS = ((10_000, 5), (40_000, 3))


def auto_fold_count(n_rows: int) -> int:
    """Folds for ``n_rows`` rows: 5 up to 10,000, 3 up to 40,000, then one validation split.

    Examples
    --------
    >>> [auto_fold_count(n) for n in (500, 20_000, 100_000)]
    [5, 3, 1]
    """
    for limit, folds in AUTO_FOLDS:
        if n_rows <= limit:
            return folds
    return 1


def time_ordered_column(
    frame: pd.DataFrame, roles: dict[str, str], *, min_sorted: float = 0.95
) -> str | None:
    """The datetime column the rows are (nearly) sorted by, or None.

    Data collected over time usually arrives in time order; random folds on it let a model
    interpolate between neighbouring moments that a deployed model never sees, so the search
    should validate on later rows instead. A column counts when at least ``min_sorted`` of the
    steps between consecutive parsed timestamps go forward (or stay) and time does advance.

    Examples
    --------
    >>> frame = pd.DataFrame({"at": ["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-05"]})
    >>> time_ordered_column(frame, {"at": "datetime"})
    'at'
    """
    for name, role in roles.items():
        if role != "datetime" or name not in frame.columns:
            continue
        stamps = to_datetime(frame[name]).dropna()
        if len(stamps) < 3 or len(stamps) < 0.9 * len(frame):
            continue
        steps = np.diff(stamps.to_numpy().astype("datetime64[ns]").astype(np.int64))
        if (steps > 0).any() and float(np.mean(steps >= 0)) >= min_sorted:
            return name
    return None


def _single_split(
    y: pd.Series,
    strategy: str,
    seed: int,
    time: pd.Series | None,
    groups: pd.Series | None,
    fraction: float = 0.2,
) -> Folds:
    """One train/validation split, for data large enough that one is a reliable estimate:
    :func:`holdout_split` of the training part, with the rows' own order standing in for a
    missing time and a plain random split where stratifying is impossible."""
    n = len(y)
    n_valid = max(1, round(n * fraction))
    if strategy == "time" and time is None:  # the rows are in time order already
        return [(np.arange(n - n_valid), np.arange(n - n_valid, n))]
    counts = y.value_counts()
    # stratifying needs two rows of every class and room for each in both parts
    if strategy == "stratified" and (
        int(counts.min()) < 2 or min(n_valid, n - n_valid) < len(counts)
    ):
        strategy = "random"
    if strategy == "group" and groups is None:
        strategy = "random"
    split = holdout_split(
        y, strategy=strategy, fraction=fraction, seed=seed, time=time, groups=groups
    )
    return [(split.train, split.holdout)]


def cv_folds(
    y: pd.Series,
    *,
    strategy: str,
    n_folds: int,
    seed: int,
    time: pd.Series | None = None,
    groups: pd.Series | None = None,
) -> Folds:
    """Cross-validation folds (positions into ``y``) that follow the holdout's strategy.

    ``n_folds=1`` is a single validation split of 20% (the latest rows for ``time``).
    """
    n = len(y)
    positions = np.arange(n)
    if n_folds == 1:
        return _single_split(y, strategy, seed, time, groups)
    if strategy == "time":
        order = np.argsort(time.to_numpy(), kind="stable") if time is not None else positions
        splitter = TimeSeriesSplit(n_splits=n_folds)
        return [(order[a], order[b]) for a, b in splitter.split(order)]
    if strategy == "group" and groups is not None:
        g = groups.to_numpy()
        n_folds = min(n_folds, len(np.unique(g)))
        labels = (
            pd.api.types.is_object_dtype(y)
            or pd.api.types.is_string_dtype(y)
            or pd.api.types.is_bool_dtype(y)
            or isinstance(y.dtype, pd.CategoricalDtype)
        )
        if labels:
            split = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        else:
            split = GroupKFold(n_splits=n_folds)
        return list(split.split(positions, y, g))
    if strategy == "stratified":
        smallest = int(y.value_counts().min())
        folds = max(2, min(n_folds, smallest)) if smallest >= 2 else n_folds
        with warnings.catch_warnings():
            # a class rarer than the folds is spread as well as it can be; the search copes
            warnings.filterwarnings("ignore", message="The least populated class")
            return list(
                StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(positions, y)
            )
    return list(KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(positions))


@dataclass(frozen=True)
class FoldPlan:
    """The cross-validation folds of a search, and the strategy they follow."""

    folds: Folds
    strategy: str


def plan_folds(
    y: pd.Series,
    *,
    task: TaskKind,
    strategy: str,
    n_folds: int | Literal["auto"],
    seed: int,
    time: pd.Series | None = None,
    groups: pd.Series | None = None,
) -> FoldPlan:
    """The folds every search uses, from a project or an estimator alike.

    ``n_folds="auto"`` picks the count from the row count (:func:`auto_fold_count`: 5, 3 or
    one 20% validation split). A count above one is capped so that every fold can hold each
    class and at least two rows. Time-ordered folds (``strategy="time"``; without ``time`` the
    rows' own order) keep only the folds whose training part has every class; when none does,
    the folds are stratified instead.

    Examples
    --------
    >>> y = pd.Series(["a", "b"] * 10)
    >>> plan = plan_folds(y, task="binary", strategy="time", n_folds="auto", seed=0)
    >>> plan.strategy, len(plan.folds)
    ('time', 5)
    """
    n = len(y)
    count = auto_fold_count(n) if n_folds == "auto" else int(n_folds)
    if count > 1:
        smallest = n if task == "regression" else int(y.value_counts().min())
        count = max(2, min(count, smallest, n // 2))
    if strategy == "time":
        folds = cv_folds(y, strategy="time", n_folds=count, seed=seed, time=time)
        if task != "regression":
            n_classes = y.nunique()
            folds = [f for f in folds if y.iloc[f[0]].nunique() == n_classes]
        if folds:
            return FoldPlan(folds, "time")
        strategy = "stratified"  # no time-ordered fold sees every class
    folds = cv_folds(y, strategy=strategy, n_folds=count, seed=seed, time=time, groups=groups)
    return FoldPlan(folds, strategy)
