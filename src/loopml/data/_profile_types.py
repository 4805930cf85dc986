"""The result types of the EDA profile, and what its passes hand each other.

Frozen records: :class:`Profile` holds :class:`ColumnProfile` per column (with a summary for
its role), :class:`Missingness`, :class:`Correlations` and the :class:`TargetProfile`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from loopml.data._schema import Role
from loopml.types import TaskKind

TOP_K = 20  # categories shown, and kept apart in Cramér's V and target plots (the rest: other)
OTHER = "(other)"

# --------------------------------------------------------------------------------------------
# result types


@dataclass(frozen=True)
class Histogram:
    """Bin edges (numbers, or ISO timestamps for dates) and the count of rows in each bin."""

    edges: tuple[Any, ...]
    counts: tuple[int, ...]
    log: bool = False  # log-spaced bins: plot on a log axis

    @property
    def total(self) -> int:
        return int(sum(self.counts))


@dataclass(frozen=True)
class NumericSummary:
    minimum: float
    maximum: float
    mean: float
    std: float
    skew: float
    quantiles: dict[str, float]  # "5%", "25%", "50%", "75%", "95%"
    zeros: int
    negatives: int
    infinite: int
    histogram: Histogram


@dataclass(frozen=True)
class CategorySummary:
    top: tuple[tuple[str, int], ...]  # the most frequent values with their counts
    other: int  # rows holding a value outside ``top``


@dataclass(frozen=True)
class DatetimeSummary:
    minimum: str
    maximum: str
    histogram: Histogram


@dataclass(frozen=True)
class TextSummary:
    min_length: int
    mean_length: float
    max_length: int
    mean_words: float  # on the sample
    histogram: Histogram  # of lengths
    top: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class ColumnProfile:
    """What one column holds. Counts are over every row."""

    name: str
    role: Role
    dtype: str
    count: int  # present values
    missing: int
    missing_share: float
    distinct: int
    invalid: int = 0  # present but not readable in its role (text in a number column...)
    reason: str = ""
    is_target: bool = False
    pii: str | None = None  # values are withheld from the profile
    numeric: NumericSummary | None = None
    categories: CategorySummary | None = None
    datetime: DatetimeSummary | None = None
    text: TextSummary | None = None


@dataclass(frozen=True)
class MissingPattern:
    columns: tuple[str, ...]  # the columns missing together in these rows
    count: int


@dataclass(frozen=True)
class Missingness:
    cells: int  # missing cells in the table
    share: float  # of all cells
    complete_rows: int
    by_column: dict[str, float]  # share of rows missing, per column
    per_row: tuple[int, ...]  # [k]: rows with exactly k missing values
    patterns: tuple[MissingPattern, ...]  # most common combinations, rows with any missing


@dataclass(frozen=True)
class Matrix:
    """A symmetric matrix of pairwise scores; NaN where a pair has no defined value."""

    columns: tuple[str, ...]
    values: tuple[tuple[float, ...], ...]

    def get(self, a: str, b: str) -> float:
        return self.values[self.columns.index(a)][self.columns.index(b)]


@dataclass(frozen=True)
class Correlations:
    pearson: Matrix  # numeric columns
    spearman: Matrix
    cramers_v: Matrix  # categorical and boolean columns, bias-corrected, top categories
    rows: int  # rows used (the sample)
    top_k: int = TOP_K


@dataclass(frozen=True)
class Association:
    """How strongly one feature relates to the target, with the data of its plot.

    ``plot["kind"]`` is ``box`` (a box per class or category), ``scatter`` (sampled points),
    ``rate`` (class shares per category) or ``trend`` (per time bin).
    """

    feature: str
    role: Role
    method: str  # "correlation ratio", "Cramér's V", "|Spearman|"
    score: float  # in [0, 1]; NaN when undefined (a constant feature)
    rows: int
    plot: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class TargetProfile:
    name: str
    task: TaskKind
    classes: tuple[str, ...]  # for classification: the classes kept apart in plots
    positive: str | None  # for binary: the class whose rate is plotted
    rows: int  # sample rows with a target value
    associations: tuple[Association, ...]  # strongest first


@dataclass(frozen=True)
class Profile:
    """The EDA profile of a table; :func:`profile` builds it."""

    n_rows: int
    n_columns: int
    memory: int  # bytes, deep
    columns: tuple[ColumnProfile, ...]
    missingness: Missingness
    correlations: Correlations
    target: TargetProfile | None
    sampled: dict[str, str]  # part -> "200,000 of 1,000,000 rows (seed 0)"; empty: exact
    sample_size: int
    seed: int
    # part -> how it is estimated when not exact (the partitioned profile's sketches)
    estimated: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> ColumnProfile:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (NaN becomes None)."""
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class Work:
    """What the column pass hands to the correlation and target passes (sample rows only)."""

    numbers: dict[str, np.ndarray] = field(default_factory=dict)
    codes: dict[str, tuple[np.ndarray, list[str]]] = field(default_factory=dict)
    stamps: dict[str, tuple[np.ndarray, str]] = field(default_factory=dict)


def iso_text(ints: np.ndarray, unit: str) -> list[str]:
    """Integer timestamps in ``unit`` as ISO 8601 text to the second."""
    stamps = np.asarray(ints, dtype=np.int64).astype(f"datetime64[{unit}]")
    return [str(s) for s in np.datetime_as_string(stamps, unit="s")]
