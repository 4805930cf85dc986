"""Preparation for clustering and anomaly detection: the rows, the schema and the holdout,
without a target to predict (an anomaly project's label column, if any, becomes booleans)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from loopml.data._schema import Schema, infer_schema, missing_mask
from loopml.data._split import Split, choose_strategy, holdout_split
from loopml.errors import DataError

if TYPE_CHECKING:
    from loopml.config import ProjectConfig
    from loopml.data._problem import Problem
    from loopml.types import TaskKind


def unlabelled_rows(
    frame: pd.DataFrame, problem: Problem, *, drop_duplicates: str
) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """The rows to learn from and their labels: an anomaly project's label column as
    booleans (rows without a label left out), else all missing (there are none)."""
    notes = []
    if problem.has_labels:
        blank = missing_mask(frame[problem.target])
        if blank.any():
            notes.append(f"{int(blank.sum())} rows without a label in {problem.target!r} left out")
        frame = frame.loc[~blank]
        frame = frame.assign(**{problem.target: problem.anomaly_truth(frame[problem.target])})
    if drop_duplicates == "drop":
        duplicated = frame.duplicated()
        if duplicated.any():
            notes.append(f"{int(duplicated.sum())} duplicate rows dropped (cleaning.duplicates)")
            frame = frame.loc[~duplicated]
    frame = frame.reset_index(drop=True)
    if problem.has_labels:
        y = frame.pop(problem.target).astype(bool)
    else:
        y = pd.Series(np.full(len(frame), np.nan), index=frame.index, name="label")
    return frame, y, notes


def unsupervised_schema(frame: pd.DataFrame, config: ProjectConfig, drop: list[str]) -> Schema:
    ids = list(config.data.id_columns)
    if config.data.group_column:
        ids.append(config.data.group_column)
    schema = infer_schema(
        frame,
        "",  # no target (an anomaly project's label column is already taken out)
        id_columns=ids,
        time_column=config.data.time_column,
        drop_columns=drop,
    )
    usable = [c for c, r in schema.roles().items() if r in ("numeric", "boolean", "categorical")]
    if not usable:
        raise DataError(
            "no numeric, boolean or categorical column to learn from: clustering and anomaly "
            "detection compare rows by those (dates and free text are left out). Add such "
            "columns or revise data.id_columns / data.drop_columns."
        )
    return schema


def unsupervised_split(
    y: pd.Series,
    problem: Problem,
    config: ProjectConfig,
    time: pd.Series | None,
    groups: pd.Series | None,
) -> Split:
    """The holdout: stratified on the anomaly labels where there are some, else random (or
    by time or group as configured)."""
    training = config.training
    kind: TaskKind = "binary" if problem.has_labels else "regression"
    strategy = choose_strategy(training.split, kind, time, groups)
    if strategy == "stratified" and not problem.has_labels:
        strategy = "random"
    return holdout_split(
        y if problem.has_labels else pd.Series(np.zeros(len(y))),
        strategy=strategy,
        fraction=training.holdout_fraction,
        seed=training.seed,
        time=time,
        groups=groups,
    )
