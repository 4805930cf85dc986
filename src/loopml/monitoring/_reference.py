"""Reference statistics: what training stores so that a monitoring window reads only its rows.

:func:`build_reference` summarises the training part's feature columns and the holdout's
predictions in a JSON-ready dict (``ModelBundle.reference["monitoring"]``, layout
:data:`~loopml.monitoring.REFERENCE_FORMAT`); :class:`Reference` reads it back for the
statistics in ``_drift.py``. Values are converted as :meth:`loopml.data.Schema.inspect` and
the pipeline convert them (``to_numeric``, ``to_boolean``, ``to_datetime``,
``normalize_category``).

Per feature column: rows, missing and invalid counts; numeric and boolean columns keep
:data:`QUANTILE_POINTS` quantiles (a sketch the Kolmogorov–Smirnov test reads as a
piecewise-linear CDF, within 1/1000 of the training ECDF), minimum, maximum, mean and std;
categorical columns keep the counts of their :data:`MAX_LABELS` most common labels and one
count of all the others; datetime and text columns keep only their counts (time moves
forward: a date column always drifts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from loopml.data import Problem, Schema, to_datetime
from loopml.errors import DataError
from loopml.monitoring._columns import (
    boolean_counts,
    label_counts,
    missing_of,
    numbers_of,
    sorted_quantiles,
)
from loopml.monitoring._contract import REFERENCE_FORMAT

#: Points of the quantile sketch of a numeric column (0, 0.001, ..., 1).
QUANTILE_POINTS = 1001
#: Labels of a categorical column counted one by one; the rest share one count.
MAX_LABELS = 1000
#: Holdout rows kept for calibrating CBPE and the realised-metric baseline.
MAX_HOLDOUT_ROWS = 5000
_KIND = "loopml.monitoring.reference"


@dataclass(frozen=True)
class ColumnStats:
    """One column's reference statistics (a feature, or the model's output on the holdout).

    ``kind`` is how the column is tested: ``"numeric"`` (KS on ``quantiles``), ``"labels"``
    (chi-square on ``counts``; boolean columns too) or ``"none"`` (datetime, text).
    """

    name: str
    role: str
    kind: str
    rows: int
    missing: int = 0
    invalid: int = 0
    quantiles: np.ndarray = field(default_factory=lambda: np.empty(0))
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    std: float | None = None
    labels: tuple[str, ...] = ()
    counts: np.ndarray = field(default_factory=lambda: np.empty(0))
    other: int = 0  # categorical: rows whose label is not among ``labels``

    @property
    def count(self) -> int:
        """Rows with a valid value (the sample the tests compare against)."""
        return self.rows - self.missing - self.invalid

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "role": self.role,
            "kind": self.kind,
            "rows": self.rows,
            "missing": self.missing,
            "invalid": self.invalid,
        }
        if self.kind == "numeric" or self.role == "boolean":
            out.update(
                quantiles=[float(q) for q in self.quantiles],
                minimum=self.minimum,
                maximum=self.maximum,
                mean=self.mean,
                std=self.std,
            )
        if self.kind == "labels":
            out.update(
                labels=list(self.labels), counts=[int(c) for c in self.counts], other=self.other
            )
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ColumnStats:
        return cls(
            name=str(d["name"]),
            role=str(d["role"]),
            kind=str(d["kind"]),
            rows=int(d["rows"]),
            missing=int(d.get("missing", 0)),
            invalid=int(d.get("invalid", 0)),
            quantiles=np.asarray(d.get("quantiles", []), dtype=float),
            minimum=d.get("minimum"),
            maximum=d.get("maximum"),
            mean=d.get("mean"),
            std=d.get("std"),
            labels=tuple(str(x) for x in d.get("labels", ())),
            counts=np.asarray(d.get("counts", []), dtype=float),
            other=int(d.get("other", 0)),
        )


@dataclass(frozen=True)
class Reference:
    """The reference a window is tested against (read from :func:`build_reference`'s dict).

    ``holdout_probabilities`` has one column per class in ``classes``' order; labels and
    predictions of the holdout are the problem's classes (numbers for regression).
    """

    task: str
    classes: tuple[Any, ...]
    positive_class: Any
    features: tuple[ColumnStats, ...]
    prediction: ColumnStats | None  # predicted values (regression) or labels (classifiers)
    positive_probability: ColumnStats | None  # binary: the positive class's probability
    holdout_rows: int
    holdout_labels: np.ndarray
    holdout_predictions: np.ndarray
    holdout_probabilities: np.ndarray | None

    def feature(self, name: str) -> ColumnStats:
        for col in self.features:
            if col.name == name:
                return col
        raise KeyError(name)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Reference:
        """Read a reference dict; any version up to :data:`REFERENCE_FORMAT`.

        Raises
        ------
        DataError
            The dict is not a monitoring reference, or a newer loopml wrote it.
        """
        version = d.get("format") if isinstance(d, Mapping) else None
        if not isinstance(version, int) or d.get("kind") != _KIND:
            raise DataError(
                "the model's monitoring reference has no format version (or is not one): "
                "the model was trained before loopml stored monitoring statistics. Retrain it "
                "(loopml train) to monitor its traffic."
            )
        if version > REFERENCE_FORMAT:
            raise DataError(
                f"the model's monitoring reference has format {version}, newer than this "
                f"loopml reads (format {REFERENCE_FORMAT}). Upgrade loopml to monitor it."
            )
        pred, prob = d.get("prediction"), d.get("positive_probability")
        holdout = d.get("holdout") or {}
        proba = holdout.get("probabilities")
        return cls(
            task=str(d["task"]),
            classes=tuple(d.get("classes", ())),
            positive_class=d.get("positive_class"),
            features=tuple(ColumnStats.from_dict(c) for c in d["features"]),
            prediction=ColumnStats.from_dict(pred) if pred else None,
            positive_probability=ColumnStats.from_dict(prob) if prob else None,
            holdout_rows=int(holdout.get("rows", 0)),
            holdout_labels=np.asarray(holdout.get("labels", []), dtype=object),
            holdout_predictions=np.asarray(holdout.get("predictions", []), dtype=object),
            holdout_probabilities=None if proba is None else np.asarray(proba, dtype=float),
        )


# --------------------------------------------------------------------------------------------
# building


def numeric_stats(name: str, role: str, x: np.ndarray, missing: int, invalid: int) -> ColumnStats:
    """The sketch of the valid numbers ``x`` (sorted, NaN-free)."""
    rows = len(x) + missing + invalid
    if not len(x):
        return ColumnStats(name, role, "numeric", rows, missing, invalid)
    return ColumnStats(
        name,
        role,
        "numeric",
        rows,
        missing,
        invalid,
        quantiles=sorted_quantiles(x, QUANTILE_POINTS),
        minimum=float(x[0]),
        maximum=float(x[-1]),
        mean=float(x.mean()),
        std=float(x.std()),
    )


def label_stats(name: str, role: str, counts: pd.Series, missing: int) -> ColumnStats:
    """Statistics of the counts per label (missing values not among them)."""
    counts = counts.sort_values(ascending=False, kind="stable")
    kept = counts.iloc[:MAX_LABELS]
    return ColumnStats(
        name,
        role,
        "labels",
        int(counts.sum()) + missing,
        missing,
        labels=tuple(str(k) for k in kept.index),
        counts=kept.to_numpy(dtype=float),
        other=int(counts.iloc[MAX_LABELS:].sum()),
    )


def column_stats(name: str, role: str, values: pd.Series) -> ColumnStats:
    """A feature column's statistics by its schema role."""
    if role == "categorical":
        counts, missing = label_counts(values)
        return label_stats(name, role, counts, missing)
    if role == "numeric":
        return numeric_stats(name, role, *numbers_of(values))
    if role == "boolean":  # tested by chi-square on its two values, kept with its range
        flags, missing, invalid = boolean_counts(values)
        x = np.repeat([0.0, 1.0], flags.to_numpy())
        stats = numeric_stats(name, role, x, missing, invalid)
        return replace(stats, kind="labels", labels=("0", "1"), counts=flags.to_numpy(float))
    missing_count = int(missing_of(values).sum())
    invalid = 0
    if role == "datetime":
        invalid = int((to_datetime(values).isna().to_numpy() & ~missing_of(values)).sum())
    return ColumnStats(name, role, "none", len(values), missing_count, invalid)


def build_reference(
    X: pd.DataFrame,
    schema: Schema,
    problem: Problem,
    *,
    holdout_y: pd.Series | None = None,
    holdout_predictions: pd.Series | np.ndarray | None = None,
    holdout_probabilities: pd.DataFrame | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The monitoring reference of a model, as a JSON-ready dict.

    Parameters
    ----------
    X
        The training part's raw feature rows.
    schema, problem
        The model's schema (roles of the columns) and problem (task and classes).
    holdout_y, holdout_predictions, holdout_probabilities
        The holdout's labels, the model's predictions and class probabilities on it (one
        column per class, in ``problem.classes`` order); any may be None.
    seed
        Seeds the sample of at most :data:`MAX_HOLDOUT_ROWS` holdout rows kept.

    Returns
    -------
    dict
        Read it back with :meth:`Reference.from_dict`.

    Examples
    --------
    >>> from loopml.data import infer_schema, Problem
    >>> X = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    >>> schema = infer_schema(X.assign(y=[0, 1, 0]), "y")
    >>> problem = Problem(task="regression", target="y", metric="rmse", gate=None)
    >>> ref = Reference.from_dict(build_reference(X, schema, problem))
    >>> ref.feature("c").labels, ref.feature("x").count
    (('a', 'b'), 3)
    """
    features = [
        column_stats(col.name, col.role, X[col.name])
        for col in schema.feature_columns
        if col.name in X.columns
    ]
    out: dict[str, Any] = {
        "kind": _KIND,
        "format": REFERENCE_FORMAT,
        "task": problem.task,
        "classes": [_json(c) for c in problem.classes],
        "positive_class": _json(problem.positive_class),
        "features": [f.to_dict() for f in features],
        "prediction": None,
        "positive_probability": None,
        "holdout": {"rows": 0},
    }
    proba = None if holdout_probabilities is None else np.asarray(holdout_probabilities, float)
    if holdout_predictions is not None:
        preds = np.asarray(holdout_predictions, dtype=object)
        out["prediction"] = prediction_stats(problem.task, preds).to_dict()
    if proba is not None and problem.task == "binary" and problem.positive_class is not None:
        p = proba[:, list(problem.classes).index(problem.positive_class)]
        p = np.sort(p[~np.isnan(p)])
        out["positive_probability"] = numeric_stats("probability", "numeric", p, 0, 0).to_dict()
    out["holdout"] = _holdout(problem, holdout_y, holdout_predictions, proba, seed)
    return out


def prediction_stats(task: str, predictions: np.ndarray) -> ColumnStats:
    """Statistics of the model's predictions: a sketch (regression) or label counts."""
    if task == "regression":
        numbers = pd.to_numeric(pd.Series(predictions), errors="coerce").to_numpy(float)
        valid = np.sort(numbers[~np.isnan(numbers)])
        return numeric_stats("prediction", "numeric", valid, len(numbers) - len(valid), 0)
    counts = prediction_counts(pd.Series(predictions, dtype=object))
    return label_stats("prediction", "categorical", counts, len(predictions) - int(counts.sum()))


def prediction_counts(predictions: pd.Series) -> pd.Series:
    """Counts of predicted labels, as text (the log keeps labels as JSON values)."""
    text = predictions.map(_label_text)
    return text.dropna().value_counts()


def _label_text(value: Any) -> str | None:
    """A logged label as text: None and NaN are missing, 1.0 is "1"."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _holdout(
    problem: Problem,
    y: pd.Series | None,
    predictions: pd.Series | np.ndarray | None,
    proba: np.ndarray | None,
    seed: int,
) -> dict[str, Any]:
    """A seeded sample of the holdout's labels, predictions and probabilities."""
    if y is None:
        return {"rows": 0}
    labels = np.asarray(y, dtype=object)
    n = len(labels)
    keep = np.arange(n)
    if n > MAX_HOLDOUT_ROWS:
        keep = np.sort(np.random.default_rng(seed).choice(n, MAX_HOLDOUT_ROWS, replace=False))
    out: dict[str, Any] = {"rows": n, "labels": [_json(v) for v in labels[keep]]}
    if predictions is not None:
        out["predictions"] = [_json(v) for v in np.asarray(predictions, dtype=object)[keep]]
    if proba is not None:
        out["probabilities"] = np.round(proba[keep], 6).tolist()
    return out


def _json(value: Any) -> Any:
    """A plain JSON value (numpy scalars become Python numbers, NaN becomes None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
