"""The holdout split: the rows kept out of all model selection, and how they were chosen."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from loopml.errors import DataError
from loopml.types import TaskKind


@dataclass(frozen=True)
class Split:
    """Row positions of the training part and the holdout, and how they were chosen."""

    train: np.ndarray
    holdout: np.ndarray
    strategy: str


def choose_strategy(
    split: str, task: TaskKind, time: pd.Series | None, groups: pd.Series | None
) -> str:
    if split != "auto":
        return split
    if time is not None:
        return "time"
    if groups is not None:
        return "group"
    return "random" if task == "regression" else "stratified"


def holdout_split(
    y: pd.Series,
    *,
    strategy: str,
    fraction: float,
    seed: int,
    time: pd.Series | None = None,
    groups: pd.Series | None = None,
) -> Split:
    """Keep ``fraction`` of the rows out of all model selection.

    ``time``: the holdout is the latest rows. ``group``: no group is on both sides.
    ``stratified``: class shares are kept on both sides.
    """
    # scikit-learn is imported here: preparing data is also part of commands that never split
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    n = len(y)
    positions = np.arange(n)
    n_holdout = max(1, round(n * fraction))
    if n - n_holdout < 2:
        raise DataError(f"only {n} rows with a target: too few to keep a holdout. Add rows.")
    if strategy == "time":
        if time is None:
            raise DataError("a time-ordered split needs data.time_column")
        order = np.argsort(time.to_numpy(), kind="stable")
        return Split(
            train=np.sort(order[:-n_holdout]),
            holdout=np.sort(order[-n_holdout:]),
            strategy=strategy,
        )
    if strategy == "group":
        if groups is None:
            raise DataError("a grouped split needs data.group_column")
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        train, holdout = next(splitter.split(positions, y, groups.to_numpy()))
        return Split(train=np.sort(train), holdout=np.sort(holdout), strategy=strategy)
    stratify = y.to_numpy() if strategy == "stratified" else None
    try:
        train, holdout = train_test_split(
            positions, test_size=n_holdout, random_state=seed, stratify=stratify
        )
    except ValueError as exc:
        raise DataError(
            f"cannot make a stratified holdout of {n_holdout} rows: {exc}. Collect more rows of "
            "the rare classes or lower training.holdout_fraction."
        ) from exc
    return Split(train=np.sort(train), holdout=np.sort(holdout), strategy=strategy)
