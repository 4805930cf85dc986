"""Incremental loading: keep the rows newer than the last run's watermark, and find the next.

The watermark is the largest value of ``data.incremental.column`` loaded. Times compare as times
(a watermark may also be given as ISO text), numbers as numbers, anything else as text.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import DataError


def newer_mask(values: pd.Series, since: Any, *, origin: str = "the data") -> pd.Series:
    """Boolean mask of ``values > since``, comparing times as times and numbers as numbers.

    ``since`` may be what :func:`watermark` returned or its text form (an ISO timestamp).
    Missing values are never newer.
    """
    since = native(since)
    name = values.name
    try:
        if pd.api.types.is_datetime64_any_dtype(values):
            bound = _timestamp_like(since, values)
            return (values > bound).fillna(False).astype(bool)
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            bound = float(since) if isinstance(since, str) else since
            return (values > bound).fillna(False).astype(bool)
        if isinstance(since, dt.datetime | dt.date):
            parsed = pd.to_datetime(values, errors="raise", format="mixed")
            return (parsed > _timestamp_like(since, parsed)).fillna(False).astype(bool)
        present = values.notna()
        mask = pd.Series(False, index=values.index)
        mask[present] = values[present].astype(str) > str(since)
        return mask
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"data.incremental.column {name!r} of {origin} ({values.dtype}) cannot be compared "
            f"with the last watermark {since!r}: {exc}. Use a time or number column, or reset "
            "the watermark."
        ) from exc


def _timestamp_like(since: Any, values: pd.Series) -> pd.Timestamp:
    """``since`` as a Timestamp with the same time-zone awareness as ``values``."""
    bound = pd.Timestamp(since)
    tz = getattr(values.dt, "tz", None)
    if tz is not None and bound.tzinfo is None:
        return bound.tz_localize(tz)
    if tz is None and bound.tzinfo is not None:
        return bound.tz_convert("UTC").tz_localize(None)
    return bound


def watermark(values: pd.Series) -> Any:
    """The largest non-missing value, as a plain Python value (or Timestamp); None if none."""
    present = values.dropna()
    if present.empty:
        return None
    try:
        return native(present.max())
    except TypeError:  # mixed types: the order of their text
        return present.astype(str).max()


def native(value: Any) -> Any:
    """numpy scalars as Python values; datetime64 as Timestamp."""
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value)
    if isinstance(value, np.generic):
        return value.item()
    return value
