"""A column's values as the statistics read them: sorted valid numbers, label counts.

The conversions are :meth:`loopml.data.Schema.inspect`'s (``to_numeric``, ``to_boolean``,
``normalize_category``), with fast paths for what the prediction log holds: a column of
numbers and None is read without parsing text, and a categorical column is counted first
(``value_counts`` on the raw values) so only its distinct values are normalised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from loopml.data import normalize_category, to_boolean, to_numeric

_NUMBER_KINDS = ("floating", "integer", "mixed-integer-float", "empty")


def numbers_of(values: pd.Series) -> tuple[np.ndarray, int, int]:
    """Valid numbers (sorted), and the counts of missing and invalid values.

    Values that are all numbers or missing (the usual logged column) take a fast path; other
    columns are read with :func:`loopml.data.to_numeric`, as the pipeline reads them.
    """
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        missing_count = int(np.isnan(numbers).sum())
        invalid = 0
    elif pd.api.types.infer_dtype(values, skipna=True) in _NUMBER_KINDS:
        numbers = pd.to_numeric(values).to_numpy(dtype=float, na_value=np.nan)
        missing_count, invalid = int(np.isnan(numbers).sum()), 0
    else:
        numbers = to_numeric(values).to_numpy(dtype=float, na_value=np.nan)
        missing = missing_of(values)
        missing_count = int(missing.sum())
        invalid = int((np.isnan(numbers) & ~missing).sum())
    valid = numbers[~np.isnan(numbers)]
    valid.sort()
    return valid, missing_count, invalid


def missing_of(values: pd.Series) -> np.ndarray:
    missing = values.isna().to_numpy().copy()
    text = values.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    if text.any():
        blank = values[text].astype(str).str.strip() == ""
        missing[np.flatnonzero(text)[blank.to_numpy()]] = True
    return missing


def label_counts(values: pd.Series) -> tuple[pd.Series, int]:
    """Counts per normalised label, and the count of missing values (blank text too)."""
    raw = values.value_counts(dropna=True, sort=False)
    keys = raw.index.to_series(index=np.arange(len(raw)))
    kind = pd.api.types.infer_dtype(keys, skipna=True)
    if kind == "integer":
        keys = keys.astype("int64")
    elif kind in ("floating", "mixed-integer-float"):
        keys = keys.astype(float)  # 1 and 1.0 are one label, written "1"
    normal = normalize_category(keys).to_numpy()
    counts = pd.Series(raw.to_numpy(), index=normal)
    counts = counts[pd.notna(normal)]
    counts = counts.groupby(level=0, sort=False).sum()
    return counts, len(values) - int(counts.sum())


def boolean_counts(values: pd.Series) -> tuple[pd.Series, int, int]:
    """Counts of "0" and "1", and the counts of missing and invalid values."""
    flags = to_boolean(values).to_numpy(dtype=float)
    missing = missing_of(values) if values.dtype == object else np.isnan(flags)
    ones = int(np.nansum(flags))
    zeros = int((flags == 0).sum())
    n_missing = int(missing.sum())
    invalid = len(values) - ones - zeros - n_missing
    return pd.Series([zeros, ones], index=["0", "1"]), n_missing, max(invalid, 0)


def sorted_quantiles(x: np.ndarray, points: int) -> np.ndarray:
    """``points`` evenly spaced quantiles of sorted ``x`` (numpy's default, linear)."""
    position = np.linspace(0.0, len(x) - 1, points)
    lo = np.floor(position).astype(np.int64)
    hi = np.minimum(lo + 1, len(x) - 1)
    return x[lo] + (position - lo) * (x[hi] - x[lo])
