"""The profile's relationships to the target: an association score and plot data per feature.

Numbers and dates against classes: the correlation ratio η (adjusted for the number of
classes) with a box per class; categories against classes: bias-corrected Cramér's V with the
class shares per category; numbers against a numeric target: |Spearman ρ| with a scatter
sample; categories against a numeric target: η with a box per category; dates: per time bin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from loopml.data._correlation import (
    box_summaries,
    contingency,
    correlation_ratio,
    cramers_v,
    pearson_matrix,
    rank_columns,
)
from loopml.data._problem import _POSITIVE_NAMES
from loopml.data._profile_types import (
    Association,
    ColumnProfile,
    TargetProfile,
    Work,
    iso_text,
)
from loopml.data._schema import Role
from loopml.types import TaskKind

TIME_BINS = 20
SCATTER_POINTS = 500


def _r(values: Any) -> list[float | None]:
    """Plot numbers rounded to 6 significant digits; NaN becomes None."""
    return [
        float(f"{v:.6g}") if v is not None and math.isfinite(v) else None
        for v in np.asarray(values, dtype=float).ravel().tolist()
    ]


def _positive(labels: list[str], counts: np.ndarray) -> str:
    for name in _POSITIVE_NAMES:
        for label in labels:
            if label.strip().casefold() == name:
                return label
    return labels[int(np.argmin(counts))]


def _time_bins(stamps: np.ndarray, unit: str) -> tuple[np.ndarray, list[str], int]:
    """Bin codes (-1 = missing) over the sample's time range, and the bin centres as text."""
    got = ~np.isnan(stamps)
    if not got.any():
        return np.full(len(stamps), -1), [], 0
    lo, hi = float(np.nanmin(stamps)), float(np.nanmax(stamps))
    n_bins = TIME_BINS if hi > lo else 1
    edges = np.linspace(lo, hi if hi > lo else lo + 1, n_bins + 1)
    codes = np.full(len(stamps), -1)
    codes[got] = np.clip(np.searchsorted(edges, stamps[got], side="right") - 1, 0, n_bins - 1)
    centres = iso_text(((edges[:-1] + edges[1:]) / 2).round().astype(np.int64), unit)
    return codes, centres, n_bins


@dataclass(frozen=True)
class _Features:
    """The feature columns by the kind of values kept for them in :class:`Work`."""

    numeric: list[str]
    dated: list[str]
    categorical: list[str]
    roles: dict[str, Role]


def relate_to_target(
    name: str, kind: TaskKind, columns: list[ColumnProfile], work: Work, seed: int
) -> TargetProfile:
    features = [c for c in columns if not c.is_target and c.pii is None]
    by_kind = _Features(
        numeric=[c.name for c in features if c.name in work.numbers],
        dated=[c.name for c in features if c.name in work.stamps],
        categorical=[c.name for c in features if c.name in work.codes],
        roles={c.name: c.role for c in features},
    )
    classes: tuple[str, ...] = ()
    positive = None
    if kind == "regression":
        rng = np.random.default_rng(seed + 1)
        found, keep, overall = _relate_to_numbers(name, by_kind, work, rng)
    else:
        found, keep, overall, classes, positive = _relate_to_classes(name, kind, by_kind, work)
    for a in found:
        # the plot dicts were built in this function and are not shared yet
        a.plot.update(feature=a.feature, target=name, positive=positive, overall=overall)
    found.sort(
        key=lambda a: (math.isnan(a.score), -a.score if not math.isnan(a.score) else 0, a.feature)
    )
    return TargetProfile(
        name=name,
        task=kind,
        classes=classes,
        positive=positive,
        rows=int(keep.sum()),
        associations=tuple(found),
    )


def _relate_to_numbers(
    name: str, features: _Features, work: Work, rng: np.random.Generator
) -> tuple[list[Association], np.ndarray, dict[str, float | None]]:
    """Associations with a regression target: rank correlation, and the correlation ratio."""
    roles = features.roles
    found: list[Association] = []
    y_all = work.numbers[name]
    keep = ~np.isnan(y_all)
    y = y_all[keep]
    overall: dict[str, float | None] = {"mean": _r([y.mean() if len(y) else np.nan])[0]}
    cols = features.numeric + features.dated
    if cols:
        values = np.column_stack(
            [work.numbers[c] if c in work.numbers else work.stamps[c][0] for c in cols]
        )[keep]
        rho = pearson_matrix(rank_columns(np.column_stack([values, y])))[-1, :-1]
        for j, col in enumerate(cols):
            x = values[:, j]
            if col in work.numbers:
                both = np.flatnonzero(~np.isnan(x))
                pick = np.sort(rng.choice(both, size=min(SCATTER_POINTS, len(both)), replace=False))
                plot: dict[str, Any] = {"kind": "scatter", "x": _r(x[pick]), "y": _r(y[pick])}
            else:
                bins, centres, n_bins = _time_bins(x, work.stamps[col][1])
                plot = _trend_mean(bins, centres, n_bins, y)
            plot["spearman"] = _r([rho[j]])[0]
            found.append(_assoc(col, roles[col], "|Spearman|", abs(rho[j]), x, plot))
    for col in features.categorical:
        codes, labels = work.codes[col]
        codes = codes[keep]
        eta = correlation_ratio(y[:, None], codes, len(labels), adjusted=True)[0]
        boxes = box_summaries(y[:, None], codes, len(labels))
        plot = _box_plot(boxes, 0, labels, value=name, by=col)
        found.append(_assoc(col, roles[col], "correlation ratio", eta, codes >= 0, plot))
    return found, keep, overall


def _relate_to_classes(
    name: str, kind: TaskKind, features: _Features, work: Work
) -> tuple[list[Association], np.ndarray, dict[str, float | None], tuple[str, ...], Any]:
    """Associations with a class target: correlation ratio, and Cramér's V for categories."""
    y_codes, y_labels = work.codes[name]
    keep = y_codes >= 0
    y = y_codes[keep]
    n_levels = len(y_labels)
    counts = np.bincount(y, minlength=n_levels)
    seen = [i for i in range(n_levels) if counts[i] > 0]
    classes = tuple(y_labels[i] for i in seen)
    positive = (
        _positive(list(classes), counts[seen]) if kind == "binary" and len(seen) == 2 else None
    )
    shown = [y_labels.index(positive)] if positive is not None else seen
    overall: dict[str, float | None] = {
        y_labels[k]: _r([counts[k] / max(1, len(y))])[0] for k in shown
    }
    found = _class_associations(name, features, work, keep, shown)
    return found, keep, overall, classes, positive


def _class_associations(
    name: str, features: _Features, work: Work, keep: np.ndarray, shown: list[int]
) -> list[Association]:
    roles = features.roles
    y_codes, y_labels = work.codes[name]
    y = y_codes[keep]
    n_levels = len(y_labels)
    found: list[Association] = []
    if features.numeric:
        values = np.column_stack([work.numbers[c] for c in features.numeric])[keep]
        etas = correlation_ratio(values, y, n_levels, adjusted=True)
        boxes = box_summaries(values, y, n_levels)
        for j, col in enumerate(features.numeric):
            plot = _box_plot(boxes, j, y_labels, value=col, by=name)
            found.append(_assoc(col, roles[col], "correlation ratio", etas[j], values[:, j], plot))
    for col in features.dated:
        x = work.stamps[col][0][keep]
        eta = correlation_ratio(x[:, None], y, n_levels, adjusted=True)[0]
        bins, centres, n_bins = _time_bins(x, work.stamps[col][1])
        table = contingency(bins, n_bins, y, n_levels)
        plot = {"kind": "trend", "x": centres, "n": table.sum(axis=1).tolist()}
        plot["shares"] = _shares(table, y_labels, shown)
        found.append(_assoc(col, roles[col], "correlation ratio", eta, x, plot))
    for col in features.categorical:
        codes, labels = work.codes[col]
        codes = codes[keep]
        table = contingency(codes, len(labels), y, n_levels)
        rows = table.sum(axis=1) > 0
        plot = {
            "kind": "rate",
            "categories": [labels[i] for i in np.flatnonzero(rows)],
            "n": table.sum(axis=1)[rows].tolist(),
            "shares": _shares(table[rows], y_labels, shown),
        }
        found.append(_assoc(col, roles[col], "Cramér's V", cramers_v(table), codes >= 0, plot))
    return found


def _assoc(
    feature: str, role: Role, method: str, score: float, present: np.ndarray, plot: dict[str, Any]
) -> Association:
    rows = int(present.sum()) if present.dtype == bool else int((~np.isnan(present)).sum())
    score = float(score)
    return Association(
        feature, role, method, score if math.isfinite(score) else float("nan"), rows, plot
    )


def _shares(
    table: np.ndarray, labels: list[str], shown: list[int]
) -> dict[str, list[float | None]]:
    totals = table.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {labels[k]: _r(table[:, k] / totals) for k in shown}


def _trend_mean(bins: np.ndarray, centres: list[str], n_bins: int, y: np.ndarray) -> dict[str, Any]:
    got = bins >= 0
    n = np.bincount(bins[got], minlength=n_bins)
    sums = np.bincount(bins[got], weights=y[got], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"kind": "trend", "x": centres, "n": n.tolist(), "mean": _r(sums / n)}


def _box_plot(
    boxes: dict[str, np.ndarray], j: int, labels: list[str], *, value: str, by: str
) -> dict[str, Any]:
    seen = np.flatnonzero(boxes["n"][:, j] > 0)
    plot: dict[str, Any] = {"kind": "box", "value": value, "by": by}
    plot["groups"] = [labels[i] for i in seen]
    for key in ("q1", "median", "q3", "lower", "upper", "mean"):
        plot[key] = _r(boxes[key][seen, j])
    plot["n"] = boxes["n"][seen, j].tolist()
    return plot
