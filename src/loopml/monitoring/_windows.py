"""Windows of logged traffic: the time ranges ``loopml monitor`` tests, and their rows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from loopml.serving import LoggedColumns, PredictionLog


@dataclass(frozen=True)
class WindowRows:
    """One window's logged predictions, as columns.

    ``features`` holds the values as the log keeps them (after the privacy policy, JSON
    values); ``labels`` is missing (None) where no label arrived yet.
    """

    start: float
    end: float
    features: pd.DataFrame
    predictions: pd.Series
    probabilities: pd.DataFrame | None  # one column per class, in the problem's order
    labels: pd.Series

    @property
    def rows(self) -> int:
        return len(self.features)

    @property
    def labelled(self) -> np.ndarray:
        """Which rows have their label."""
        return self.labels.notna().to_numpy()


def window_bounds(since: float, until: float, size: float) -> list[tuple[float, float]]:
    """``[start, end)`` ranges of ``size`` seconds covering ``[since, until)``, aligned to
    multiples of ``size`` since the epoch (a 1d window runs from midnight UTC to midnight)."""
    if until <= since:
        return []
    first = math.floor(since / size) * size
    count = math.ceil((until - first) / size)
    return [(first + i * size, first + (i + 1) * size) for i in range(count)]


def read_window(
    log: PredictionLog,
    start: float,
    end: float,
    *,
    model_version: str,
    columns: Sequence[str],
    classes: Sequence[Any] = (),
) -> WindowRows:
    """The predictions of ``model_version`` logged in ``[start, end)``, with their labels."""
    return to_window(log.read_columns(start, end, model_version), start, end, columns, classes)


def to_window(
    logged: LoggedColumns,
    start: float,
    end: float,
    columns: Sequence[str],
    classes: Sequence[Any] = (),
) -> WindowRows:
    """Logged rows as a :class:`WindowRows` (features in ``columns`` order; a column absent
    from a row is missing there)."""
    features = pd.DataFrame.from_records(logged.features, columns=list(columns)).astype(object)
    predictions = pd.Series(logged.predictions, dtype=object)
    labels = pd.Series(logged.labels, dtype=object).where(logged.has_label, None)
    probabilities = None
    if classes:
        keys = [str(c) for c in classes]
        probabilities = pd.DataFrame(
            [[(p or {}).get(k, np.nan) for k in keys] for p in logged.probabilities],
            columns=keys,
            dtype=float,
        )
    return WindowRows(start, end, features, predictions, probabilities, labels)


def parse_time(text: str, *, now: float) -> float:
    """Seconds since the epoch from ``--since``/``--until``: an ISO 8601 date or time (UTC
    unless it says otherwise), or a duration before ``now`` ("7d" is a week ago).

    Raises
    ------
    ConfigError
        Neither form (the message shows both).
    """
    import datetime as dt

    from loopml.config import parse_duration
    from loopml.errors import ConfigError

    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"{text!r} is not a time; give an ISO 8601 date or time (2026-12-01, "
            "2026-12-01T08:00) or a duration before now (36h, 7d)."
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()
