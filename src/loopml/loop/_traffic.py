"""Retraining's data: labelled logged traffic, split into what may be trained on and the
common holdout, and appended to the source rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from loopml.config import ProjectConfig
from loopml.errors import ConfigError

if TYPE_CHECKING:
    from loopml.serving import LoggedRow


@dataclass(frozen=True)
class Traffic:
    """Labelled logged rows as tables of the source's columns (features, target, time)."""

    training: pd.DataFrame  # before the holdout window
    holdout: pd.DataFrame  # the most recent labelled traffic


def labelled_traffic(
    rows: Sequence[LoggedRow], config: ProjectConfig, *, now: float, masked: Sequence[str] = ()
) -> Traffic:
    """Split the labelled ``rows`` of the data window at ``now - retraining.holdout_window``.

    A row is its logged features plus its label as the target column; with
    ``data.time_column`` not among the features, the prediction's time fills it, and with
    ``data.group_column`` not among them, each logged row is a group of its own (its request
    id), so a grouped split keeps working. Columns in ``masked`` (those the privacy policy
    drops or hashes) are left out: see :meth:`Retraining.training_data`.
    """
    target, time_column = config.problem.target, config.data.time_column
    if target is None:
        raise ConfigError("labelled traffic needs problem.target: this project has no labels")
    group_column = config.data.group_column
    cut = now - config.retraining.holdout_seconds
    records: list[dict[str, Any]] = []
    recent: list[bool] = []
    for row in rows:
        if not row.has_label:
            continue
        record = {k: v for k, v in row.features.items() if k not in masked}
        if time_column and time_column not in record:
            stamp = dt.datetime.fromtimestamp(row.time, tz=dt.UTC).replace(tzinfo=None)
            record[time_column] = stamp.isoformat(sep=" ")
        if group_column and group_column not in record:
            record[group_column] = f"logged:{row.request_id}"
        record[target] = row.label
        records.append(record)
        recent.append(row.time >= cut)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame({target: []})
    is_recent = pd.Series(recent, dtype=bool, index=frame.index)
    return Traffic(
        training=frame[~is_recent].reset_index(drop=True),
        holdout=frame[is_recent].reset_index(drop=True),
    )


def read_traffic(config: ProjectConfig, base_dir: Path, start: float, end: float) -> list[Any]:
    """The logged predictions with ``start <= time < end`` from ``serving.prediction_log``
    (none when the default SQLite log was never written: nothing is created). Shadow rows
    are left out: they repeat a request the champion's row already holds."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from loopml.serving import PredictionLog

    url = config.serving.prediction_log.url
    try:
        parsed = make_url(url)
    except ArgumentError:  # PredictionLog says what is wrong with it
        parsed = None
    if parsed is not None and parsed.get_backend_name() == "sqlite" and parsed.database:
        path = Path(parsed.database)
        if not (path if path.is_absolute() else base_dir / path).is_file():
            return []
    with PredictionLog(url, base_dir=base_dir, mode="sync") as plog:
        return [row for row in plog.read(start, end) if row.variant != "shadow"]


def training_frame(sources: pd.DataFrame, logged: pd.DataFrame, target: str) -> pd.DataFrame:
    """The source rows followed by the logged rows, in the source's columns.

    Logged columns the sources lack are left out; source columns the log lacks (ids,
    personal data, columns the model did not use) are missing in the logged rows. Numeric
    source columns read the logged values as numbers (JSON may carry ``"3.5"``).
    """
    if logged.empty:
        return sources
    logged = logged[[c for c in logged.columns if c in sources.columns]].copy()
    for column in logged.columns:
        if pd.api.types.is_numeric_dtype(sources[column]) and not pd.api.types.is_bool_dtype(
            sources[column]
        ):
            logged[column] = pd.to_numeric(logged[column], errors="coerce")
    if target in logged.columns and not pd.api.types.is_numeric_dtype(sources[target]):
        labels = logged[target]
        logged[target] = labels.where(labels.isna(), labels.astype(str))
    return pd.concat([sources, logged], ignore_index=True)
