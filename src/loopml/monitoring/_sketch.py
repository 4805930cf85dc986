"""Reference and drift statistics as map-reduce over partitions (data that outgrow memory).

Each partition is summarised alone (:func:`frame_stats`: the same :class:`ColumnStats` the
in-memory reference keeps), and the summaries are merged (:func:`merge_stats`): row, missing
and invalid counts and category counts add up exactly; mean and standard deviation merge
exactly (pooled moments); minimum and maximum exactly; the quantile sketch is merged as the
count-weighted mixture of the parts' piecewise-linear CDFs, re-cut at
:data:`~loopml.monitoring._reference.QUANTILE_POINTS` levels. Each part's sketch is within
1/1000 of its ECDF, so the merged CDF is too, plus the re-cut's interpolation (tested: the
Kolmogorov–Smirnov distance between the merged sketch and the in-memory one stays under
0.002). A label counted among the "other" labels of one part (past
:data:`~loopml.monitoring._reference.MAX_LABELS`) stays there after merging.

A window summarised the same way is tested against the reference by :func:`sketch_drift`:
the KS statistic between the two sketches (the p-value from the real row counts), PSI on the
reference's deciles from the window's sketch, Wasserstein from the two sketches, chi-square
on the merged counts; Benjamini–Hochberg and ``min_effect`` as :func:`feature_drift`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from loopml.data import Problem, Schema
from loopml.monitoring._contract import FeatureDrift
from loopml.monitoring._drift import (
    _decide,
    _label_test,
    _ref_cdf,
    _Test,
    ks_p_value,
    psi,
)
from loopml.monitoring._reference import (
    MAX_LABELS,
    QUANTILE_POINTS,
    ColumnStats,
    Reference,
    build_reference,
    column_stats,
)

Columns = Sequence[tuple[str, str]]  # (name, schema role)


def frame_stats(frame: pd.DataFrame, columns: Columns) -> list[ColumnStats]:
    """Each column's statistics over one partition (a column absent from it: all missing)."""
    out = []
    for name, role in columns:
        values = frame[name] if name in frame.columns else pd.Series([None] * len(frame))
        out.append(column_stats(name, role, values))
    return out


def _merged_quantiles(parts: Sequence[ColumnStats]) -> np.ndarray:
    """Quantiles of the count-weighted mixture of the parts' sketched CDFs."""
    sketched = [p for p in parts if len(p.quantiles) and p.count]
    grid = np.unique(np.concatenate([p.quantiles for p in sketched]))
    weights = np.array([p.count for p in sketched], dtype=float)
    total = weights.sum()

    def mixture(side: str) -> np.ndarray:
        parts = zip(weights, sketched, strict=True)
        cdfs = [w * _ref_cdf(p.quantiles, grid, side) for w, p in parts]
        return np.maximum.accumulate(np.sum(cdfs, axis=0) / total)

    right, left = mixture("right"), mixture("left")  # left < right where a part has an atom
    levels = np.linspace(0.0, 1.0, QUANTILE_POINTS)
    # the first knot whose CDF reaches each level; between the knot before it (CDF ``right``
    # there) and it (CDF ``left`` just before it) the mixture is linear
    idx = np.clip(np.searchsorted(right, levels, side="left"), 0, len(grid) - 1)
    lower = np.clip(idx - 1, 0, len(grid) - 1)
    rise = left[idx] - right[lower]
    frac = np.where(rise > 0, (levels - right[lower]) / np.where(rise > 0, rise, 1.0), 1.0)
    q = grid[lower] + np.clip(frac, 0.0, 1.0) * (grid[idx] - grid[lower])
    q[0], q[-1] = grid[0], grid[-1]
    return np.asarray(q, dtype=float)


def _merge_numeric(first: ColumnStats, parts: Sequence[ColumnStats]) -> ColumnStats:
    valued = [p for p in parts if p.count and p.mean is not None]
    if not valued:
        return first
    n = np.array([p.count for p in valued], dtype=float)
    means = np.array([p.mean for p in valued], dtype=float)
    stds = np.array([p.std or 0.0 for p in valued], dtype=float)
    mean = float(np.sum(n * means) / n.sum())
    var = float(np.sum(n * (stds**2 + (means - mean) ** 2)) / n.sum())
    return replace(
        first,
        quantiles=_merged_quantiles(valued),
        minimum=float(min(p.minimum for p in valued if p.minimum is not None)),
        maximum=float(max(p.maximum for p in valued if p.maximum is not None)),
        mean=mean,
        std=float(np.sqrt(max(var, 0.0))),
    )


def _merge_labels(first: ColumnStats, parts: Sequence[ColumnStats]) -> ColumnStats:
    totals: dict[str, float] = {}
    for p in parts:
        for label, count in zip(p.labels, p.counts, strict=True):
            totals[label] = totals.get(label, 0.0) + float(count)
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    kept = ranked[:MAX_LABELS]
    other = sum(p.other for p in parts) + int(sum(c for _, c in ranked[MAX_LABELS:]))
    return replace(
        first,
        labels=tuple(label for label, _ in kept),
        counts=np.array([c for _, c in kept], dtype=float),
        other=other,
    )


def merge_stats(parts: Sequence[ColumnStats]) -> ColumnStats:
    """One column's statistics over all ``parts`` (the same column in each partition)."""
    first = parts[0]
    merged = replace(
        first,
        rows=sum(p.rows for p in parts),
        missing=sum(p.missing for p in parts),
        invalid=sum(p.invalid for p in parts),
    )
    if first.kind == "numeric" or first.role == "boolean":
        merged = _merge_numeric(merged, parts)
    if first.kind == "labels":
        merged = _merge_labels(merged, parts)
    return merged


def partitioned_stats(data: Any, columns: Columns) -> list[ColumnStats]:
    """Map-reduce: :func:`frame_stats` of each partition, merged column by column.

    ``data`` is a ``dask.dataframe.DataFrame`` (each partition summarised as a Dask task, on
    whatever scheduler is active: a ``distributed.Client`` sends them to its cluster) or any
    iterable of pandas DataFrames (summarised here, one at a time).
    """
    if hasattr(data, "to_delayed"):
        import dask

        tasks = [dask.delayed(frame_stats)(part, list(columns)) for part in data.to_delayed()]
        per_part = list(dask.compute(*tasks))
    else:
        per_part = [frame_stats(frame, columns) for frame in data]
    if not per_part:
        raise ValueError("no partition to summarise")
    return [merge_stats([part[i] for part in per_part]) for i in range(len(columns))]


def reference_from_partitions(
    data: Any | Iterable[pd.DataFrame],
    schema: Schema,
    problem: Problem,
    **holdout: Any,
) -> dict[str, Any]:
    """:func:`build_reference` with its feature statistics computed over partitions; the
    holdout's part (``holdout_y``, ``holdout_predictions``, ``holdout_probabilities``,
    ``seed``) is small and taken as it is."""
    columns = [(c.name, c.role) for c in schema.feature_columns]
    features = partitioned_stats(data, columns)
    out = build_reference(pd.DataFrame(), schema, problem, **holdout)
    out["features"] = [f.to_dict() for f in features]
    return out


# --------------------------------------------------------------------------------------------
# a sketched window against the reference


def sketch_ks(ref: np.ndarray, win: np.ndarray) -> float:
    """sup |F_window − F_reference| between two quantile sketches (both sides of each knot)."""
    grid = np.unique(np.concatenate([ref, win]))
    gaps = [
        np.abs(_ref_cdf(win, grid, side) - _ref_cdf(ref, grid, side)).max()
        for side in ("left", "right")
    ]
    return float(max(gaps))


def _sketch_numeric(ref: ColumnStats, win: ColumnStats, measure: str) -> _Test:
    q, w = ref.quantiles, win.quantiles
    d = sketch_ks(q, w)
    if measure == "wasserstein":
        effect = float(np.mean(np.abs(w - q)) / (ref.std if ref.std else 1.0))
    else:
        last = len(q) - 1
        edges = np.unique(q[[round(last * i / 10) for i in range(1, 10)]])
        ref_cdf = np.concatenate([[0.0], _ref_cdf(q, edges, "right"), [1.0]])
        win_cdf = np.concatenate([[0.0], _ref_cdf(w, edges, "right"), [1.0]])
        effect = psi(np.diff(ref_cdf), np.diff(win_cdf))
    p = ks_p_value(d, ref.count, win.count)
    return _Test(ref.name, "ks", d, p, effect, measure, win.count)


def _sketch_test(
    ref: ColumnStats, win: ColumnStats, numeric: str, categorical: str
) -> _Test | None:
    if not win.count or not ref.count:
        return None
    if ref.kind == "numeric" and len(ref.quantiles) and len(win.quantiles):
        return _sketch_numeric(ref, win, numeric)
    if ref.kind == "labels":
        counts = pd.Series(dict(zip(win.labels, win.counts, strict=True)), dtype=float)
        if win.other:  # labels past MAX_LABELS in the window: counted as unseen
            counts["\x00other"] = float(win.other)
        return _label_test(ref, counts, categorical)
    return None


def sketch_drift(
    reference: Reference,
    window: Sequence[ColumnStats],
    *,
    alpha: float,
    min_effect: float,
    numeric_effect: str = "psi",
    categorical_effect: str = "psi",
) -> list[FeatureDrift]:
    """:func:`~loopml.monitoring.feature_drift` of a window given as merged statistics
    (:func:`partitioned_stats` of its partitions) instead of its rows."""
    by_name = {w.name: w for w in window}
    tests = []
    for ref in reference.features:
        if ref.name in by_name:
            test = _sketch_test(ref, by_name[ref.name], numeric_effect, categorical_effect)
            if test is not None:
                tests.append(test)
    return _decide(tests, alpha, min_effect)
