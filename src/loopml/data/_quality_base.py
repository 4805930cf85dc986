"""Shared pieces of the quality checks: what the sample says about each column, and helpers."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from loopml.data._schema import _ID_NAME, is_text, to_datetime, to_numeric

N_EXAMPLES = 5
#: A text column holds numbers when more than this share of its values parse as numbers
#: (the threshold schema inference uses).
NUMERIC_SHARE = 0.95
_DATED = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")

Kind = Literal["numeric", "boolean", "datetime", "text", "other"]


@dataclass
class ColumnFacts:
    """What the sample says about one column."""

    name: Any
    kind: Kind
    n_present: int = 0  # non-missing values in the sample
    counts: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))  # per raw value
    numbers: pd.Series | None = None  # parsed numbers: numeric columns and numbers as text
    label_is_number: np.ndarray | None = None  # text: per entry of ``counts``
    numeric_share: float = 0.0
    unique_share: float = 0.0
    is_free_text: bool = False
    is_dated: bool = False
    is_id_like: bool = False

    @property
    def label(self) -> str:
        return str(self.name)

    @property
    def is_categorical(self) -> bool:
        """Text labels: not numbers, dates, free text or identifiers."""
        return (
            self.kind == "text"
            and not (self.is_free_text or self.is_dated or self.is_id_like)
            and self.numeric_share <= NUMERIC_SHARE
        )

    @property
    def role(self) -> str:
        """``number``, ``time``, ``label`` or ``skip``: how statistical checks treat it."""
        if self.kind == "text":
            return "number" if self.numeric_share > NUMERIC_SHARE else "label"
        return {"numeric": "number", "boolean": "number", "datetime": "time"}.get(self.kind, "skip")


def plain(value: Any) -> Any:
    """A JSON-friendly Python scalar: numpy scalars unwrapped, timestamps as ISO text, NaN None."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def present_text(values: pd.Series) -> pd.Series:
    """Non-missing, non-blank values as text, unstripped."""
    text = values.dropna().astype("string")
    return text[text.str.strip() != ""].astype(object)


def positions(mask: pd.Series | np.ndarray, limit: int = N_EXAMPLES) -> tuple[int, ...]:
    """The first few row positions (0-based) where ``mask`` holds."""
    return tuple(int(i) for i in np.flatnonzero(np.asarray(mask))[:limit])


def scaled(k: int, scale: float) -> int:
    """A count in the sample, scaled to the whole table."""
    return round(k * scale)


def names_text(values: Any) -> str:
    return ", ".join(repr(str(v)) for v in list(values)[:10])


def describe(full: pd.Series, values: pd.Series, *, declared_id: bool) -> ColumnFacts:
    """Classify one column from its sample ``values`` (``full`` is the whole column)."""
    name = values.name
    if pd.api.types.is_bool_dtype(values):
        present = values.dropna()
        return ColumnFacts(name, "boolean", len(present), present.value_counts())
    if pd.api.types.is_datetime64_any_dtype(values):
        present = values.dropna()
        return ColumnFacts(name, "datetime", len(present), present.value_counts())
    if pd.api.types.is_numeric_dtype(values):
        return _describe_numbers(full, values, declared_id=declared_id)
    if not is_text(values):
        present = values.dropna()
        try:
            counts = present.value_counts()
        except TypeError:  # unhashable values such as lists
            counts = pd.Series(dtype=float)
        return ColumnFacts(name, "other", len(present), counts)
    return _describe_text(values, declared_id=declared_id)


def _describe_numbers(full: pd.Series, values: pd.Series, *, declared_id: bool) -> ColumnFacts:
    name = values.name
    present = values.dropna()
    col = ColumnFacts(name, "numeric", len(present), present.value_counts())
    col.numbers = to_numeric(present)
    col.numeric_share = 1.0
    col.unique_share = len(col.counts) / max(len(present), 1)
    if not declared_id and len(present) > 50 and col.unique_share > 0.95:
        integral = bool(np.all(np.mod(col.numbers.to_numpy(), 1) == 0))
        col.is_id_like = integral and (
            bool(_ID_NAME.search(str(name))) or bool(full.is_monotonic_increasing)
        )
    return col


def _describe_text(values: pd.Series, *, declared_id: bool) -> ColumnFacts:
    name = values.name
    raw = present_text(values)
    col = ColumnFacts(name, "text", len(raw), raw.value_counts())
    if not len(raw):
        return col
    # parse each distinct label once, not each row
    labels = pd.Series(col.counts.index.astype(str), dtype=object).str.strip()
    label_numbers = to_numeric(labels).to_numpy(dtype=float)
    col.label_is_number = ~np.isnan(label_numbers)
    weights = col.counts.to_numpy()
    col.numeric_share = float(weights[col.label_is_number].sum() / weights.sum())
    col.unique_share = labels.nunique() / len(raw)
    if col.numeric_share > NUMERIC_SHARE:
        col.numbers = to_numeric(raw)
    probe = raw.iloc[:: max(1, len(raw) // 500)].astype(str).str.strip()
    if col.numeric_share <= NUMERIC_SHARE and probe.str.contains(_DATED).mean() > 0.95:
        col.is_dated = bool(to_datetime(probe).notna().mean() > 0.95)
    if col.unique_share > 0.5:
        col.is_free_text = bool(probe.str.split().str.len().mean() >= 4)
    if not (declared_id or col.is_dated or col.is_free_text) and len(raw) > 50:
        if col.numeric_share > NUMERIC_SHARE:
            finite = label_numbers[~np.isnan(label_numbers)]
            col.is_id_like = (
                col.unique_share > 0.95
                and bool(np.all(np.mod(finite, 1) == 0))
                and bool(_ID_NAME.search(str(name)))
            )
        else:
            col.is_id_like = col.unique_share > 0.95
    return col
