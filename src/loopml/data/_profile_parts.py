"""The EDA profile of data that outgrow memory: map-reduce over partitions.

:func:`profile_partitions` builds the same :class:`~loopml.data.Profile` as
:func:`~loopml.data.profile`, reading the data part by part, twice, and never holding more
than one part and a sample. The parts are pandas DataFrames (or functions that read one), or
a ``dask.dataframe.DataFrame`` whose parts are summarised as Dask tasks on the active
scheduler (a ``distributed.Client`` sends them to its cluster); summaries are merged in a
tree, so the caller receives one summary, not one per part.

1. Roles (and the task, when not given) are inferred from the first part's first 20,000
   rows, unless a schema is given.
2. The first pass summarises each part (:mod:`loopml.data._profile_merge`): rows, missing
   values and their patterns, minimum, maximum, mean, standard deviation and skew, zeros,
   negatives, infinities, category counts, text lengths, and distinct counts. Merged exactly,
   except distinct values past 16,384 (a K-minimum-values estimate, about 0.8% relative
   error) and the most frequent texts and missing-value patterns when a part has more than
   1,000 different ones (its 1,000 most frequent are kept: counts are then lower bounds).
3. The second pass counts each histogram on the bin edges the merged minimum and maximum give
   (the edges the in-memory profile would choose: counts agree exactly) and draws a seeded
   Bernoulli sample of about ``sample_rows`` rows, from which the quantiles, correlations,
   word counts and target relationships come, as the in-memory profile takes them from its
   sample. With no more rows than ``sample_rows`` the sample is every row, and the whole
   profile equals the in-memory one (up to floating-point rounding of merged moments).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from loopml.data._problem import infer_task
from loopml.data._profile import (
    ROLE_ROWS,
    _check_arguments,
    _guess_column,
    _hashable,
    _missing_matrix,
    _task,
    date_counts,
    date_edges,
    histogram_edges,
    stamps_us,
)
from loopml.data._profile_merge import (
    DistinctSketch,
    Moments,
    add_counts,
    ranked,
    top_counts,
)
from loopml.data._profile_parts_build import build_profile
from loopml.data._schema import (
    ColumnSchema,
    Role,
    Schema,
    infer_schema,
    is_text,
    missing_mask,
    to_numeric,
)
from loopml.errors import DataError
from loopml.types import TaskKind

if TYPE_CHECKING:
    from loopml.config import ProjectConfig

KEPT_ENTRIES = 1_000  # most frequent texts and missing-value patterns kept per part
Kind = Literal["pii", "numeric", "category", "datetime", "text"]


@dataclass(frozen=True)
class Plan:
    """How one column is summarised."""

    info: ColumnSchema
    kind: Kind
    dtype: str
    is_target: bool = False
    in_work: bool = False  # numbers kept in the sample for correlations and the target

    @property
    def name(self) -> str:
        return str(self.info.name)


@dataclass
class ColumnSums:
    """One column's first-pass summary (over one part, or merged over several)."""

    rows: int = 0
    missing: int = 0
    found: int = 0  # present values readable in the column's role
    moments: Moments = field(default_factory=Moments)  # finite numbers, or text lengths
    lo: float = np.inf
    hi: float = -np.inf
    zeros: int = 0
    negatives: int = 0
    infinite: int = 0
    whole: bool = True
    distinct: DistinctSketch | None = None
    counts: dict[object, int] = field(default_factory=dict)
    cut: bool = False  # ``counts`` lost entries past KEPT_ENTRIES


@dataclass
class FirstPass:
    rows: int
    memory: int
    per_row: np.ndarray  # [k]: rows with exactly k missing values
    patterns: dict[object, int]  # packed missing bits of a row -> rows
    columns: list[ColumnSums]
    patterns_cut: bool = False


@dataclass
class SecondPass:
    histograms: dict[str, np.ndarray]
    sample: pd.DataFrame


# --------------------------------------------------------------------------------------------
# the entry point


def profile_partitions(
    data: Any,
    *,
    target: str | None = None,
    task: TaskKind | Literal["auto"] | None = None,
    schema: Schema | None = None,
    sample_rows: int = 200_000,
    seed: int = 0,
) -> Any:
    """:func:`~loopml.data.profile` of data given as partitions (module docstring).

    Parameters
    ----------
    data
        A ``dask.dataframe.DataFrame``, or a sequence of parts: pandas DataFrames or
        functions without arguments that read one (each part is read twice).
    target, task, schema, sample_rows, seed
        As :func:`~loopml.data.profile`.

    Returns
    -------
    Profile

    Raises
    ------
    DataError
        The target is not a column, or the parts do not all have the first part's columns.
    ConfigError
        ``task`` or ``sample_rows`` is not valid.
    """
    if not hasattr(data, "to_delayed") and not isinstance(data, Sequence):
        data = list(data)  # read twice: an iterator is kept (give functions to read lazily)
    first = _first_part(data)
    names = [str(c) for c in first.columns]
    _check_arguments(names, target, task, sample_rows)
    kind: TaskKind | None = None
    if target is not None:
        kind = _task(first[target]) if task is None or task == "auto" else task
    plans = plan_columns(first, target, kind, schema)
    del first
    summary = _map_reduce(data, first_pass, merge_first, plans)
    edges = _edges(plans, summary.columns)
    share = min(1.0, sample_rows / summary.rows) if summary.rows else 1.0
    second = _map_reduce(data, second_pass, merge_second, plans, edges, share, seed)
    return build_profile(
        plans, summary, second, edges, target=target, kind=kind, seed=seed, guessed=schema is None
    )


def profile_parquet(
    files: Sequence[Path], config: ProjectConfig, *, engine: Literal["local", "dask"] = "local"
) -> Any:
    """The profile of a Parquet dataset as the project sees its data (as
    :func:`~loopml.data.profile_data`): its target when the files have it, its id, time and
    dropped columns, its sample size and seed.

    ``local`` reads one row group at a time in this process; ``dask`` reads the files as a
    ``dask.dataframe`` and summarises its parts on the active Dask scheduler.
    """
    import pyarrow.parquet as pq

    first = pd.read_parquet(files[0]).iloc[:ROLE_ROWS]
    target = config.problem.target if config.problem.target in first.columns else None
    task = None if config.problem.task == "auto" else config.problem.task
    if target is not None and task is None and not missing_mask(first[target]).all():
        task = infer_task(first[target], categories=config.cleaning.categories)
    schema = infer_schema(
        first,
        target or "",
        id_columns=[c for c in config.data.id_columns if c in first.columns],
        time_column=config.data.time_column,
        drop_columns=[c for c in config.data.drop_columns if c in first.columns],
    )
    parts: Any
    if engine == "dask":
        import dask.dataframe as dd

        parts = dd.read_parquet([str(f) for f in files])
    else:
        groups = [(f, i) for f in files for i in range(pq.ParquetFile(f).num_row_groups)]
        parts = [functools.partial(_row_group, f, i) for f, i in groups]
    return profile_partitions(
        parts,
        target=target,
        task=task,
        schema=schema,
        sample_rows=config.profile.sample_rows,
        seed=config.training.seed,
    )


def _row_group(path: Path, index: int) -> pd.DataFrame:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).read_row_group(index).to_pandas()


def _first_part(data: Any) -> pd.DataFrame:
    if hasattr(data, "to_delayed"):
        import dask

        frame = dask.compute(data.to_delayed()[0])[0]
    else:
        parts = data
        if not parts:
            raise DataError("the dataset has no part to profile: give at least one.")
        frame = _load(parts[0])
    return frame.iloc[:ROLE_ROWS]


def _load(part: pd.DataFrame | Callable[[], pd.DataFrame]) -> pd.DataFrame:
    return part if isinstance(part, pd.DataFrame) else part()


def _map_reduce(data: Any, fn: Callable[..., Any], merge: Callable[..., Any], *args: Any) -> Any:
    """``fn(part, index, *args)`` of every part, merged pairwise in a tree."""
    if hasattr(data, "to_delayed"):
        import dask

        tasks = [dask.delayed(fn)(part, i, *args) for i, part in enumerate(data.to_delayed())]
        while len(tasks) > 1:
            pairs = [tasks[i : i + 2] for i in range(0, len(tasks), 2)]
            tasks = [dask.delayed(merge)(*p) if len(p) == 2 else p[0] for p in pairs]
        return dask.compute(tasks[0])[0]
    results: Iterable[Any] = (fn(_load(part), i, *args) for i, part in enumerate(data))
    return functools.reduce(merge, results)


# --------------------------------------------------------------------------------------------
# roles


def plan_columns(
    frame: pd.DataFrame, target: str | None, kind: TaskKind | None, schema: Schema | None
) -> list[Plan]:
    """Each column's role (the schema's, else guessed from ``frame``) and summary kind."""
    plans = []
    for pos, name in enumerate(str(c) for c in frame.columns):
        values = _hashable(frame.iloc[:, pos])
        dtype = str(values.dtype)
        if name == target:
            role: Role = "numeric" if kind == "regression" else "categorical"
            info = ColumnSchema(name, role, dtype, 0.0, 0, reason=f"the {kind} target")
        elif schema is not None and name in schema.names:
            info = schema[name]
        else:
            info = _guess_column(values, name, None)
        plans.append(_plan(info, dtype, pd.api.types.is_numeric_dtype(values), name == target))
    return plans


def _plan(info: ColumnSchema, dtype: str, numbers: bool, is_target: bool) -> Plan:
    if info.pii is not None:
        return Plan(info, "pii", dtype, is_target)
    role = info.role
    if role == "numeric" or (role == "id" and numbers):
        return Plan(info, "numeric", dtype, is_target, in_work=role == "numeric")
    if role in ("categorical", "boolean"):
        return Plan(info, "category", dtype, is_target)
    if role == "datetime":
        return Plan(info, "datetime", dtype, is_target)
    return Plan(info, "text", dtype, is_target)


# --------------------------------------------------------------------------------------------
# first pass: one part's summary, and merging two


def first_pass(frame: pd.DataFrame, index: int, plans: list[Plan]) -> FirstPass:
    frame = _columns_of(frame, plans, index)
    na = _missing_matrix(frame)
    columns = []
    for pos, plan in enumerate(plans):
        values = _hashable(frame.iloc[:, pos])
        if is_text(values):
            values = values.mask(na[:, pos])
        columns.append(_column_sums(values, plan, int(na[:, pos].sum())))
    rows = na.any(axis=1)
    keys = pd.Series([bytes(r) for r in np.packbits(na[rows], axis=1)], dtype=object)
    patterns = top_counts(keys)
    cut = len(patterns) > KEPT_ENTRIES
    return FirstPass(
        rows=len(frame),
        memory=int(frame.memory_usage(deep=True, index=True).sum()),
        per_row=np.bincount(na.sum(axis=1), minlength=len(plans) + 1),
        patterns=dict(ranked(patterns)[:KEPT_ENTRIES]) if cut else patterns,
        columns=columns,
        patterns_cut=cut,
    )


def _columns_of(frame: pd.DataFrame, plans: list[Plan], index: int) -> pd.DataFrame:
    names = [p.name for p in plans]
    if [str(c) for c in frame.columns] == names:
        return frame
    lacking = [n for n in names if n not in {str(c) for c in frame.columns}]
    if lacking:
        raise DataError(
            f"part {index} of the data lacks the column(s) {', '.join(map(repr, lacking[:5]))} "
            "the first part has; every part of a dataset must have the same columns."
        )
    return frame.loc[:, names]


def _column_sums(values: pd.Series, plan: Plan, missing: int) -> ColumnSums:
    sums = ColumnSums(rows=len(values), missing=missing)
    present = values.dropna()
    if plan.kind == "category":
        sums.counts = top_counts(values)
        return sums
    if plan.kind == "pii":
        sums.distinct = DistinctSketch.of(present)
        return sums
    if plan.kind == "numeric":
        return _number_sums(sums, values)
    if plan.kind == "datetime":
        ints = stamps_us(values)
        found = ints[ints != np.iinfo(np.int64).min]
        sums.found = len(found)
        sums.distinct = DistinctSketch.of(found)
        if len(found):
            sums.lo, sums.hi = float(found.min()), float(found.max())
        return sums
    text = present.astype("string")
    lengths = text.str.len().to_numpy(dtype=float)
    sums.moments = Moments.of(lengths)
    if len(lengths):
        sums.lo, sums.hi = float(lengths.min()), float(lengths.max())
    sums.distinct = DistinctSketch.of(present)
    counts = top_counts(present) if plan.info.role == "text" else {}
    sums.cut = len(counts) > KEPT_ENTRIES
    sums.counts = dict(ranked(counts)[:KEPT_ENTRIES]) if sums.cut else counts
    return sums


def _number_sums(sums: ColumnSums, values: pd.Series) -> ColumnSums:
    numbers = to_numeric(values).to_numpy(dtype=float, na_value=np.nan)
    found = numbers[~np.isnan(numbers)]
    finite = found[np.isfinite(found)]
    sums.found = len(found)
    sums.infinite = len(found) - len(finite)
    sums.distinct = DistinctSketch.of(found)
    sums.moments = Moments.of(finite)
    if len(finite):
        sums.lo, sums.hi = float(finite.min()), float(finite.max())
        sums.zeros = int(np.count_nonzero(finite == 0))
        sums.negatives = int(np.count_nonzero(finite < 0))
        sums.whole = bool(np.all(np.mod(finite, 1) == 0))
    return sums


def merge_first(a: FirstPass, b: FirstPass) -> FirstPass:
    patterns = add_counts(dict(a.patterns), b.patterns)
    cut = a.patterns_cut or b.patterns_cut or len(patterns) > KEPT_ENTRIES
    return FirstPass(
        rows=a.rows + b.rows,
        memory=a.memory + b.memory,
        per_row=a.per_row + b.per_row,
        patterns=dict(ranked(patterns)[:KEPT_ENTRIES]),
        columns=[_merge_sums(x, y) for x, y in zip(a.columns, b.columns, strict=True)],
        patterns_cut=cut,
    )


def _merge_sums(a: ColumnSums, b: ColumnSums) -> ColumnSums:
    counts = add_counts(dict(a.counts), b.counts)
    trim = a.distinct is not None and len(counts) > KEPT_ENTRIES  # texts: the most frequent
    cut = a.cut or b.cut or trim
    if trim:
        counts = dict(ranked(counts)[:KEPT_ENTRIES])
    sketches = [s for s in (a.distinct, b.distinct) if s is not None]
    return ColumnSums(
        rows=a.rows + b.rows,
        missing=a.missing + b.missing,
        found=a.found + b.found,
        moments=a.moments.merge(b.moments),
        lo=min(a.lo, b.lo),
        hi=max(a.hi, b.hi),
        zeros=a.zeros + b.zeros,
        negatives=a.negatives + b.negatives,
        infinite=a.infinite + b.infinite,
        whole=a.whole and b.whole,
        distinct=functools.reduce(DistinctSketch.merge, sketches) if sketches else None,
        counts=counts,
        cut=cut,
    )


# --------------------------------------------------------------------------------------------
# second pass: histograms on the merged bin edges, and the sample


def _edges(plans: list[Plan], columns: list[ColumnSums]) -> dict[str, tuple[np.ndarray, bool]]:
    """Each column's histogram bin edges (and whether they are log-spaced)."""
    edges: dict[str, tuple[np.ndarray, bool]] = {}
    for plan, sums in zip(plans, columns, strict=True):
        if sums.lo > sums.hi:  # no value
            continue
        if plan.kind == "numeric":
            whole = sums.whole and sums.hi - sums.lo < 1e12
            edges[plan.name] = histogram_edges(
                sums.lo, sums.hi, skew=sums.moments.skew, whole=whole
            )
        elif plan.kind == "text":
            edges[plan.name] = histogram_edges(sums.lo, sums.hi, skew=0.0, whole=True)
        elif plan.kind == "datetime":
            edges[plan.name] = date_edges(int(sums.lo), int(sums.hi)), False
    return edges


def second_pass(
    frame: pd.DataFrame,
    index: int,
    plans: list[Plan],
    edges: dict[str, tuple[np.ndarray, bool]],
    share: float,
    seed: int,
) -> SecondPass:
    frame = _columns_of(frame, plans, index)
    histograms = {}
    for pos, plan in enumerate(plans):
        if plan.name not in edges:
            continue
        values = _hashable(frame.iloc[:, pos])
        histograms[plan.name] = _histogram_counts(values, plan, edges[plan.name][0])
    if share < 1.0:
        rng = np.random.default_rng([seed, index])
        frame = frame.iloc[np.flatnonzero(rng.random(len(frame)) < share)]
    keep = [p.name for p in plans if p.kind != "pii"]
    return SecondPass(histograms, frame.loc[:, keep])


def _histogram_counts(values: pd.Series, plan: Plan, edges: np.ndarray) -> np.ndarray:
    if plan.kind == "datetime":
        ints = stamps_us(values)
        return date_counts(ints[ints != np.iinfo(np.int64).min], edges)
    if plan.kind == "numeric":
        numbers = to_numeric(values).to_numpy(dtype=float, na_value=np.nan)
        found = numbers[np.isfinite(numbers)]
    else:
        text = values.mask(missing_mask(values)).dropna().astype("string")
        found = text.str.len().to_numpy(dtype=float)
    counts, _ = np.histogram(found, bins=edges)
    return counts


def merge_second(a: SecondPass, b: SecondPass) -> SecondPass:
    histograms = dict(a.histograms)
    for name, counts in b.histograms.items():
        histograms[name] = histograms[name] + counts if name in histograms else counts
    return SecondPass(histograms, pd.concat([a.sample, b.sample], ignore_index=True))
