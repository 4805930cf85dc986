"""The EDA profile: column statistics, missingness, correlations and relationships to the target.

Exact numbers (rows, missing values, distinct values, minimum, maximum, mean, standard
deviation, histograms, top categories, missingness patterns) come from every row. Quantiles,
correlations and the target relationships come from a seeded sample of ``sample_rows`` rows
when the table is larger; :attr:`Profile.sampled` says which parts used it. Work is vectorised
over whole columns and matrices, so a million rows by fifty columns take seconds.
"""

from __future__ import annotations

import difflib
import math
import warnings
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from loopml.data._correlation import cramers_v_matrix, pearson_matrix, spearman_matrix
from loopml.data._problem import infer_task
from loopml.data._profile_target import relate_to_target
from loopml.data._profile_types import (
    OTHER,
    TOP_K,
    CategorySummary,
    ColumnProfile,
    Correlations,
    DatetimeSummary,
    Histogram,
    Matrix,
    Missingness,
    MissingPattern,
    NumericSummary,
    Profile,
    TextSummary,
    Work,
    iso_text,
)
from loopml.data._schema import (
    ColumnSchema,
    Role,
    Schema,
    infer_column,
    is_text,
    missing_mask,
    to_datetime,
    to_numeric,
)
from loopml.errors import ConfigError, DataError
from loopml.types import TaskKind

ROLE_ROWS = 20_000  # rows a column's role is guessed from: a pattern, not a statistic
HISTOGRAM_BINS = 30
MAX_PATTERNS = 10
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_TASKS = ("binary", "multiclass", "regression", "clustering", "anomaly")


# --------------------------------------------------------------------------------------------
# the entry point


def profile(
    frame: pd.DataFrame,
    *,
    target: str | None = None,
    task: TaskKind | Literal["auto"] | None = None,
    schema: Schema | None = None,
    sample_rows: int = 200_000,
    seed: int = 0,
) -> Profile:
    """Profile a table: statistics per column, missingness, correlations, target relationships.

    Parameters
    ----------
    frame
        The data.
    target
        The target column; adds a relationship score and a plot for each feature.
    task
        ``binary``, ``multiclass`` or ``regression``; ``None`` or ``auto`` infers it.
    schema
        Roles to use (e.g. the project's); columns it lacks get an inferred role. Columns the
        schema marks as personal data are counted but their values are withheld.
    sample_rows
        Quantiles, correlations and target plots use a seeded sample of this many rows when the
        table is larger. Roles are guessed from at most 20,000 of them.
    seed
        Seed of the sample and of the scatter-plot points.

    Returns
    -------
    Profile

    Raises
    ------
    DataError
        The target is not a column of the table.
    ConfigError
        ``task`` or ``sample_rows`` is not valid.

    Examples
    --------
    >>> import pandas as pd
    >>> p = profile(pd.DataFrame({"x": [1.0, 2.0, None], "y": ["a", "b", "a"]}), target="y")
    >>> p.column("x").missing, p.target.task
    (1, 'binary')
    """
    names = [str(c) for c in frame.columns]
    _check_arguments(names, target, task, sample_rows)
    n_rows = len(frame)
    idx, role_idx, sampled = _samples(n_rows, sample_rows, seed, has_target=target is not None)
    sample_size = sample_rows if idx is not None else n_rows
    kind = None if target is None else _target_kind(frame.iloc[:, names.index(target)], task)

    na = _missing_matrix(frame)
    work = Work()
    columns = []
    for pos, name in enumerate(names):
        values = _hashable(frame.iloc[:, pos])
        if is_text(values):
            values = values.mask(na[:, pos])
        part = values.take(idx) if idx is not None else values
        info = _column_schema(values, name, target, kind, schema, role_idx)
        columns.append(
            _column(values, part, idx, info, int(na[:, pos].sum()), name == target, work)
        )
    guessed = [n for n in names if n != target and (schema is None or n not in schema.names)]
    if guessed and role_idx is not None:
        sampled["roles"] = f"{len(role_idx):,} of {n_rows:,} rows (seed {seed})"

    correlations = _correlations(columns, work, sample_size)
    target_profile = None
    if target is not None and kind is not None:
        target_profile = relate_to_target(target, kind, columns, work, seed)
    return Profile(
        n_rows=n_rows,
        n_columns=len(names),
        memory=int(frame.memory_usage(deep=True, index=True).sum()),
        columns=tuple(columns),
        missingness=_missingness(na, names),
        correlations=correlations,
        target=target_profile,
        sampled=sampled,
        sample_size=sample_size,
        seed=seed,
    )


def _samples(
    n_rows: int, sample_rows: int, seed: int, *, has_target: bool
) -> tuple[np.ndarray | None, np.ndarray | None, dict[str, str]]:
    """Seeded row samples for the statistics and for role guessing, and what each covers."""
    rng = np.random.default_rng(seed)
    idx = (
        np.sort(rng.choice(n_rows, size=sample_rows, replace=False))
        if n_rows > sample_rows
        else None
    )
    role_rows = min(ROLE_ROWS, sample_rows)
    role_idx = (
        np.sort(rng.choice(n_rows, size=role_rows, replace=False)) if n_rows > role_rows else None
    )
    sampled: dict[str, str] = {}
    if idx is not None:
        where = f"{sample_rows:,} of {n_rows:,} rows (seed {seed})"
        sampled = {"quantiles": where, "correlations": where, "text words": where}
        if has_target:
            sampled["target"] = where
    return idx, role_idx, sampled


def _target_kind(raw: pd.Series, task: TaskKind | Literal["auto"] | None) -> TaskKind:
    """The kind of target the relationships are computed for.

    An anomaly label column relates to the features as a binary target does; a column named
    as the target of a clustering problem (an outside grouping) is profiled by its values.
    """
    chosen = _task(raw) if task in (None, "auto", "clustering") else task
    return "binary" if chosen == "anomaly" else cast("TaskKind", chosen)


def _missing_matrix(frame: pd.DataFrame) -> np.ndarray:
    """Missing cells as the quality findings count them: blank text is missing too."""
    na = np.zeros(frame.shape, dtype=bool)
    for pos in range(frame.shape[1]):
        na[:, pos] = missing_mask(frame.iloc[:, pos]).to_numpy(dtype=bool)
    return na


def _check_arguments(
    names: list[str], target: str | None, task: str | None, sample_rows: int
) -> None:
    if sample_rows < 1:
        raise ConfigError(f"sample_rows must be a positive number of rows, got {sample_rows}.")
    if task not in (None, "auto", *_TASKS):
        raise ConfigError(f"task must be one of auto, {', '.join(_TASKS)}; got {task!r}.")
    if target is not None and target not in names:
        shown = ", ".join(names[:20])
        close = difflib.get_close_matches(target, names, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise DataError(
            f"target column {target!r} is not in the data.{hint} The columns are: {shown}. "
            "Check problem.target in loopml.yaml or the --target option."
        )


def _column_schema(
    values: pd.Series,
    name: str,
    target: str | None,
    kind: TaskKind | None,
    schema: Schema | None,
    role_idx: np.ndarray | None,
) -> ColumnSchema:
    """The target's role from its task, the schema's role, or one guessed from the sample."""
    if name == target:
        role: Role = "numeric" if kind == "regression" else "categorical"
        return ColumnSchema(name, role, str(values.dtype), 0.0, 0, reason=f"the {kind} target")
    if schema is not None and name in schema.names:
        return schema[name]
    return _guess_column(values, name, role_idx)


def _guess_column(values: pd.Series, name: str, role_idx: np.ndarray | None) -> ColumnSchema:
    """The inferred schema of a column the caller's schema lacks, from the role sample."""
    guess = values.take(role_idx) if role_idx is not None else values
    with np.errstate(invalid="ignore"):  # inf in a number column
        return infer_column(guess.rename(name))


def _task(raw: pd.Series) -> TaskKind:
    labels = raw if pd.api.types.is_numeric_dtype(raw) else raw.astype("string").str.strip()
    if labels.notna().sum() == 0:
        return "binary"
    return infer_task(labels)


# --------------------------------------------------------------------------------------------
# one column


def _column(
    values: pd.Series,
    part: pd.Series,
    idx: np.ndarray | None,
    info: ColumnSchema,
    missing: int,
    is_target: bool,
    work: Work,
) -> ColumnProfile:
    name = str(info.name)
    n = len(values)
    base: dict[str, Any] = {
        "name": name,
        "role": info.role,
        "dtype": str(values.dtype),
        "missing": missing,
        "missing_share": missing / n if n else 0.0,
        "reason": info.reason,
        "is_target": is_target,
        "pii": info.pii,
    }
    present = n - missing
    if info.pii is not None:
        return ColumnProfile(**base, count=present, distinct=int(values.nunique(dropna=True)))
    role = info.role
    if role == "id" and pd.api.types.is_numeric_dtype(values):
        role = "numeric"  # id-like numbers: summarised as numbers, kept out of correlations
    if role == "numeric":
        return _numeric_column(base, values, idx, info, present, work)
    if role in ("categorical", "boolean"):
        return _category_column(base, values, part, present, work)
    if role == "datetime":
        return _datetime_column(base, values, idx, present, work)
    return _text_column(base, values, idx, present, role)


def _numeric_column(
    base: dict[str, Any],
    values: pd.Series,
    idx: np.ndarray | None,
    info: ColumnSchema,
    present: int,
    work: Work,
) -> ColumnProfile:
    name = base["name"]
    numbers = to_numeric(values).to_numpy(dtype=float, na_value=np.nan)
    got = ~np.isnan(numbers)
    if info.role == "numeric":  # not id-like numbers; infinity counts as missing here
        sample = numbers[idx] if idx is not None else numbers.copy()
        sample[np.isinf(sample)] = np.nan
        work.numbers[name] = sample
    found = numbers[got]
    summary = _numeric(found, None if idx is None else numbers[idx])
    return ColumnProfile(
        **base,
        count=len(found),
        distinct=len(pd.unique(found)),
        invalid=present - int(got.sum()),
        numeric=summary,
    )


def _category_column(
    base: dict[str, Any], values: pd.Series, part: pd.Series, present: int, work: Work
) -> ColumnProfile:
    counts = values.value_counts(dropna=True)
    top = counts.iloc[:TOP_K]
    codes = pd.Index(top.index).get_indexer(part)
    codes[(codes < 0) & part.notna().to_numpy()] = len(top)
    labels = [str(k) for k in top.index]
    work.codes[base["name"]] = (codes, [*labels, OTHER])
    return ColumnProfile(
        **base,
        count=present,
        distinct=len(counts),
        categories=CategorySummary(
            top=tuple(zip(labels, (int(c) for c in top), strict=True)),
            other=int(counts.iloc[TOP_K:].sum()),
        ),
    )


def _datetime_column(
    base: dict[str, Any], values: pd.Series, idx: np.ndarray | None, present: int, work: Work
) -> ColumnProfile:
    stamps = _parse_dates(values).to_numpy()
    unit = np.datetime_data(stamps.dtype)[0]
    ints = stamps.view("int64")
    got = ~np.isnat(stamps)
    floats = np.where(got, ints, 0).astype(float)
    floats[~got] = np.nan
    work.stamps[base["name"]] = (floats[idx] if idx is not None else floats, unit)
    return ColumnProfile(
        **base,
        count=int(got.sum()),
        distinct=len(pd.unique(ints[got])),
        invalid=present - int(got.sum()),
        datetime=_datetimes(ints[got], unit),
    )


def _text_column(
    base: dict[str, Any], values: pd.Series, idx: np.ndarray | None, present: int, role: str
) -> ColumnProfile:
    """Text, and ids that are not numbers."""
    text = values if isinstance(values.dtype, pd.StringDtype) else values.astype("string")
    lengths = text.str.len().to_numpy(dtype=float, na_value=np.nan)
    lengths = lengths[~np.isnan(lengths)]
    part_text = text.take(idx) if idx is not None else text
    words = _word_counts(part_text)
    counts = values.value_counts(dropna=True)
    top_texts: tuple[tuple[str, int], ...] = ()
    if role == "text":
        top_texts = tuple((str(k), int(c)) for k, c in counts.iloc[:5].items())
    return ColumnProfile(
        **base,
        count=present,
        distinct=len(counts),
        text=TextSummary(
            min_length=int(lengths.min()) if len(lengths) else 0,
            mean_length=float(lengths.mean()) if len(lengths) else float("nan"),
            max_length=int(lengths.max()) if len(lengths) else 0,
            mean_words=float(np.nanmean(words)) if np.any(~np.isnan(words)) else float("nan"),
            histogram=_histogram(lengths),
            top=top_texts,
        ),
    )


def _parse_dates(values: pd.Series) -> pd.Series:
    """Timestamps like :func:`to_datetime`, with ISO 8601 text parsed by the fast C path first.

    The shared parser reads any format but goes value by value; only the values that are not
    ISO 8601 are handed to it.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return to_datetime(values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stamps = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)
    stamps = stamps.dt.tz_localize(None)
    failed = (stamps.isna() & values.notna()).to_numpy()
    if failed.any():
        stamps = stamps.astype("datetime64[us]")
        stamps[failed] = to_datetime(values[failed]).astype("datetime64[us]").to_numpy()
    return stamps


def stamps_us(values: pd.Series) -> np.ndarray:
    """Timestamps as integer microseconds (missing or unreadable: the smallest int64)."""
    stamps = _parse_dates(values).to_numpy().astype("datetime64[us]")
    return stamps.view("int64")


def _word_counts(text: pd.Series) -> np.ndarray:
    """Words (runs of non-space characters) per value, NaN where missing, counted by Arrow."""
    counts = pc.count_substring_regex(pa.array(text, type=pa.large_string()), r"\S+")
    return counts.to_numpy(zero_copy_only=False).astype(float)


def _hashable(values: pd.Series) -> pd.Series:
    """The values, as text if some are unhashable (lists or dicts read from JSON)."""
    if values.dtype == object:
        try:
            pd.unique(values.to_numpy())
        except TypeError:
            return values.astype(str).where(values.notna(), None)
    return values


def _numeric(values: np.ndarray, sample: np.ndarray | None) -> NumericSummary:
    """Summary of the present values (no NaN); each step is one vectorised pass."""
    is_finite = np.isfinite(values)
    finite = values if is_finite.all() else values[is_finite]
    infinite = len(values) - len(finite)
    if len(finite) == 0:
        nan = float("nan")
        return NumericSummary(nan, nan, nan, nan, nan, {}, 0, 0, infinite, Histogram((), ()))
    n = len(finite)
    mean = float(finite.mean())
    centred = finite - mean
    squares = centred * centred
    m2 = float(squares.sum()) / n
    skew = float(np.dot(squares, centred)) / n / m2**1.5 if m2 > 0 else 0.0
    std = math.sqrt(m2 * n / (n - 1)) if n > 1 else 0.0
    del centred, squares
    lo, hi = float(finite.min()), float(finite.max())
    source = finite if sample is None else sample[np.isfinite(sample)]
    if len(source) == 0:
        source = finite
    qs = np.quantile(source, QUANTILES)
    return NumericSummary(
        minimum=lo,
        maximum=hi,
        mean=mean,
        std=std,
        skew=skew,
        quantiles={f"{q:.0%}": float(v) for q, v in zip(QUANTILES, qs, strict=True)},
        zeros=int(np.count_nonzero(finite == 0)),
        negatives=int(np.count_nonzero(finite < 0)),
        infinite=infinite,
        histogram=_histogram(finite, skew=skew, bounds=(lo, hi)),
    )


def _histogram(
    values: np.ndarray, *, skew: float = 0.0, bounds: tuple[float, float] | None = None
) -> Histogram:
    """Equal-width bins over all values; one bin per integer when integers span few values.

    Positive values skewed over several orders of magnitude get log-spaced bins instead
    (``log=True``), so the bulk of the distribution is not squeezed into the first bin.
    """
    if len(values) == 0:
        return Histogram((), ())
    lo, hi = bounds if bounds is not None else (float(values.min()), float(values.max()))
    whole = hi - lo < 1e12 and _whole(values[:1000]) and _whole(values)
    edges, log = histogram_edges(lo, hi, skew=skew, whole=whole)
    counts, _ = np.histogram(values, bins=edges)
    return Histogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts), log=log)


def histogram_edges(lo: float, hi: float, *, skew: float, whole: bool) -> tuple[np.ndarray, bool]:
    """The bin edges of :func:`_histogram` for values from ``lo`` to ``hi`` (and whether they
    are log-spaced); ``whole``: every value is a whole number (and the span under 1e12)."""
    if lo == hi:
        return np.array([lo - 0.5, hi + 0.5]), False
    if lo > 0 and hi / lo >= 1000 and skew > 2:
        return np.geomspace(lo, hi, HISTOGRAM_BINS + 1), True
    if whole and hi - lo < 1e12:
        width = max(1, math.ceil((hi - lo + 1) / HISTOGRAM_BINS))  # whole numbers per bin
        return np.arange(lo - 0.5, hi + width, width), False
    return np.linspace(lo, hi, HISTOGRAM_BINS + 1), False


def _whole(values: np.ndarray) -> bool:
    return bool(np.all(np.mod(values, 1) == 0))


def _datetimes(ints: np.ndarray, unit: str) -> DatetimeSummary:
    if len(ints) == 0:
        return DatetimeSummary("", "", Histogram((), ()))
    lo, hi = int(ints.min()), int(ints.max())
    return datetime_summary(lo, hi, date_counts(ints, date_edges(lo, hi)), unit)


def date_edges(lo: int, hi: int) -> np.ndarray:
    """Bin edges of the timestamps from ``lo`` to ``hi`` (integers in their unit)."""
    if lo == hi:
        return np.array([lo, lo + 1], dtype=np.int64)
    edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1).round().astype(np.int64)
    edges[0], edges[-1] = lo, hi
    return edges


def date_counts(ints: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Timestamps per bin of :func:`date_edges` (one bin: all of them)."""
    if len(edges) == 2 and edges[1] == edges[0] + 1:
        return np.array([len(ints)])
    counts, _ = np.histogram(ints, bins=edges.astype(float))
    return counts


def datetime_summary(lo: int, hi: int, counts: np.ndarray, unit: str) -> DatetimeSummary:
    edges = date_edges(lo, hi)
    return DatetimeSummary(
        minimum=iso_text(np.array([lo]), unit)[0],
        maximum=iso_text(np.array([hi]), unit)[0],
        histogram=Histogram(tuple(iso_text(edges, unit)), tuple(int(c) for c in counts)),
    )


# --------------------------------------------------------------------------------------------
# across columns


def _missingness(na: np.ndarray, names: list[str]) -> Missingness:
    n_rows, n_cols = na.shape
    by_column = na.sum(axis=0)
    per_row = na.sum(axis=1)
    cells = int(by_column.sum())
    patterns: list[MissingPattern] = []
    with_missing = np.flatnonzero(by_column)
    rows = per_row > 0
    if len(with_missing) and rows.any():
        sub = na[rows][:, with_missing]
        if len(with_missing) <= 62:
            keys = sub.astype(np.int64) @ (
                np.int64(1) << np.arange(len(with_missing), dtype=np.int64)
            )
            counts = pd.Series(keys).value_counts().iloc[:MAX_PATTERNS]
            for key, count in counts.items():
                cols = [names[with_missing[b]] for b in range(len(with_missing)) if key >> b & 1]
                patterns.append(MissingPattern(tuple(cols), int(count)))
        else:
            uniq, counts_ = np.unique(np.packbits(sub, axis=1), axis=0, return_counts=True)
            order = np.argsort(-counts_, kind="stable")[:MAX_PATTERNS]
            for i in order:
                bits = np.unpackbits(uniq[i])[: len(with_missing)].astype(bool)
                cols = [names[c] for c in with_missing[bits]]
                patterns.append(MissingPattern(tuple(cols), int(counts_[i])))
    return Missingness(
        cells=cells,
        share=cells / (n_rows * n_cols) if n_rows and n_cols else 0.0,
        complete_rows=int((per_row == 0).sum()),
        by_column={
            name: (float(by_column[i]) / n_rows if n_rows else 0.0) for i, name in enumerate(names)
        },
        per_row=tuple(int(c) for c in np.bincount(per_row, minlength=n_cols + 1)),
        patterns=tuple(patterns),
    )


def _matrix(columns: list[str], values: np.ndarray) -> Matrix:
    return Matrix(tuple(columns), tuple(tuple(float(v) for v in row) for row in values))


def _correlations(columns: list[ColumnProfile], work: Work, rows: int) -> Correlations:
    numeric = list(work.numbers)
    matrix = np.column_stack([work.numbers[c] for c in numeric]) if numeric else np.empty((rows, 0))
    categorical = [c.name for c in columns if c.name in work.codes]
    if categorical:
        codes = np.column_stack([work.codes[c][0] for c in categorical])
        v = cramers_v_matrix(codes, [len(work.codes[c][1]) for c in categorical])
    else:
        v = np.empty((0, 0))
    return Correlations(
        pearson=_matrix(numeric, pearson_matrix(matrix)),
        spearman=_matrix(numeric, spearman_matrix(matrix)),
        cramers_v=_matrix(categorical, v),
        rows=rows,
    )
