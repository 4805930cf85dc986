"""The AutoML benchmark's scorer, normaliser, ranks and goal checks (pure functions).

The rules come from ``shared/bench/README.md`` (Protocol, points 5 and 7):

* binary: ROC AUC of the positive class; log loss and accuracy as secondary metrics;
* multiclass: log loss over *all* classes. A class the model never saw gets probability 0,
  then every probability is clipped at 1e-15 and each row renormalised to sum to 1.
  Accuracy and balanced accuracy as secondary metrics;
* regression: RMSE; R² and MAE as secondary metrics.

Normalised score per dataset: 0 is the baseline, 1 the best peer. If the baseline beats every
peer the scale becomes baseline-to-worst, so the peers land in [-1, 0]. Clipped to [-1, 1].

Everything here is a pure function of numbers and labels, so that it can be unit-tested on
hand-made inputs (``tests/unit/test_bench_scoring.py``). Only numpy and scikit-learn's metric
functions are used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

EPS = 1e-15

#: The primary metric per task, and whether larger is better.
PRIMARY_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
HIGHER_IS_BETTER = {
    "roc_auc": True,
    "log_loss": False,
    "rmse": False,
    "accuracy": True,
    "balanced_accuracy": True,
    "r2": True,
    "mae": False,
}


def label_key(value: Any) -> str:
    """A class label as a string, so that 1, 1.0, np.int64(1) and "1" all match.

    ``pandas.read_csv`` gives integer labels in one environment and the same labels may come
    back from a system as floats or strings; the scorer compares labels through this key.
    """
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isfinite(f) and f == int(f):
            return str(int(f))
        return repr(f)
    text = str(value)
    try:  # "1.0" -> "1", so a label that went through a float in text form still matches
        f = float(text)
    except ValueError:
        return text
    if math.isfinite(f) and f == int(f) and text.strip().lstrip("+-").replace(".", "", 1).isdigit():
        return str(int(f))
    return text


def probability_matrix(
    proba: Any, model_classes: Sequence[Any], all_classes: Sequence[Any]
) -> np.ndarray:
    """Probabilities over ``all_classes`` (columns in that order), clipped and renormalised.

    ``proba`` has one column per entry of ``model_classes``. A class in ``all_classes`` that
    the model never saw gets probability 0 before clipping; a model class outside
    ``all_classes`` is dropped. Missing values count as 0. Then every entry is clipped to
    [1e-15, 1] and each row divided by its sum.
    """
    p = np.asarray(proba, dtype=float)
    if p.ndim == 1:
        p = p.reshape(-1, 1)
    if p.shape[1] != len(model_classes):
        raise ValueError(
            f"proba has {p.shape[1]} columns but the model reports {len(model_classes)} classes"
        )
    index = {label_key(c): j for j, c in enumerate(all_classes)}
    if len(index) != len(all_classes):
        raise ValueError(f"duplicate classes in {list(all_classes)!r}")
    out = np.zeros((p.shape[0], len(all_classes)))
    for j, c in enumerate(model_classes):
        k = index.get(label_key(c))
        if k is not None:
            out[:, k] += np.nan_to_num(p[:, j], nan=0.0, posinf=1.0, neginf=0.0)
    out = np.clip(out, EPS, 1.0)
    return out / out.sum(axis=1, keepdims=True)


def log_loss(y_true: Sequence[Any], proba: np.ndarray, classes: Sequence[Any]) -> float:
    """Mean negative log-likelihood; ``proba`` columns follow ``classes`` (already clipped)."""
    index = {label_key(c): k for k, c in enumerate(classes)}
    cols = np.array([index[label_key(y)] for y in y_true])
    picked = proba[np.arange(len(cols)), cols]
    return float(-np.mean(np.log(picked)))


def score_classification(
    y_true: Sequence[Any],
    proba: Any,
    model_classes: Sequence[Any],
    *,
    task: str,
    all_classes: Sequence[Any] | None = None,
    positive_class: Any = None,
) -> dict[str, float]:
    """The primary and secondary metrics for a binary or multiclass prediction.

    ``all_classes`` defaults to the union of the test labels and the model's classes. For a
    binary task the positive class defaults to the last of ``all_classes``.
    """
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    y_keys = [label_key(y) for y in y_true]
    if all_classes is None:
        universe = sorted({*y_keys, *(label_key(c) for c in model_classes)})
    else:
        universe = [label_key(c) for c in all_classes]
        missing = sorted(set(y_keys) - set(universe))
        universe = universe + missing  # a test label nobody declared still counts
    p = probability_matrix(proba, model_classes, universe)
    predicted = [universe[k] for k in np.argmax(p, axis=1)]
    accuracy = float(np.mean([a == b for a, b in zip(predicted, y_keys, strict=True)]))
    out: dict[str, float] = {}
    if task == "binary":
        pos = label_key(positive_class) if positive_class is not None else universe[-1]
        if pos not in universe:
            raise ValueError(f"positive class {pos!r} is not among {universe!r}")
        k = universe.index(pos)
        is_pos = np.array([y == pos for y in y_keys])
        if is_pos.all() or not is_pos.any():
            out["roc_auc"] = float("nan")
        else:
            out["roc_auc"] = float(roc_auc_score(is_pos, p[:, k]))
        out["log_loss"] = log_loss(y_keys, p, universe)
        out["accuracy"] = accuracy
    elif task == "multiclass":
        out["log_loss"] = log_loss(y_keys, p, universe)
        out["accuracy"] = accuracy
        out["balanced_accuracy"] = float(balanced_accuracy_score(y_keys, predicted))
    else:
        raise ValueError(f"not a classification task: {task!r}")
    return out


def score_regression(y_true: Sequence[float], y_pred: Sequence[float]) -> dict[str, float]:
    """RMSE, R² and MAE. Non-finite predictions make every metric NaN (the pair then fails)."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float).ravel()
    if p.shape != y.shape:
        raise ValueError(f"{p.shape[0]} predictions for {y.shape[0]} rows")
    if not np.all(np.isfinite(p)):
        return {"rmse": float("nan"), "r2": float("nan"), "mae": float("nan")}
    err = p - y
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "r2": float(1.0 - np.sum(err**2) / ss_tot) if ss_tot > 0 else float("nan"),
        "mae": float(np.mean(np.abs(err))),
    }


def score(
    task: str,
    y_true: Sequence[Any],
    prediction: Any,
    *,
    model_classes: Sequence[Any] | None = None,
    all_classes: Sequence[Any] | None = None,
    positive_class: Any = None,
) -> dict[str, float]:
    """All metrics for one prediction; ``prediction`` is probabilities or values."""
    if task == "regression":
        return score_regression(y_true, prediction)
    if model_classes is None:
        raise ValueError("classification needs the model's classes (the proba column order)")
    return score_classification(
        y_true,
        prediction,
        model_classes,
        task=task,
        all_classes=all_classes,
        positive_class=positive_class,
    )


def _valid(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def normalised_scores(
    scores: Mapping[str, float | None], baseline: str, higher_is_better: bool
) -> dict[str, float | None]:
    """Normalised score per system on one dataset (Protocol, point 7).

    0 is the baseline and 1 the best peer (every system but the baseline). If the baseline is
    at least as good as every peer, the scale is baseline-to-worst: the peers land in [-1, 0].
    Values are clipped to [-1, 1]. A peer without a valid score (failed, timed out) gets -1
    and takes no part in fixing the scale. Without a valid baseline every value is None.
    """
    base = scores.get(baseline)
    if not _valid(base):
        return dict.fromkeys(scores)
    sign = 1.0 if higher_is_better else -1.0
    b = sign * float(base)  # type: ignore[arg-type]
    good = {s: sign * float(v) for s, v in scores.items() if s != baseline and _valid(v)}
    out: dict[str, float | None] = {}
    if good and max(good.values()) > b:
        scale = max(good.values()) - b
    elif good and min(good.values()) < b:
        scale = b - min(good.values())
    else:  # no peer, or every peer ties with the baseline
        scale = math.inf
    for s in scores:
        if s == baseline:
            out[s] = 0.0
        elif s in good:
            out[s] = float(np.clip((good[s] - b) / scale, -1.0, 1.0))
        else:
            out[s] = -1.0
    return out


def ranks(scores: Mapping[str, float | None], higher_is_better: bool) -> dict[str, float]:
    """Rank per system on one dataset: 1 is the best, ties share the mean of their ranks.

    Systems without a valid score share the last places.
    """
    sign = -1.0 if higher_is_better else 1.0
    keyed = {s: (sign * float(v) if _valid(v) else math.inf) for s, v in scores.items()}
    ordered = sorted(keyed.values())
    out: dict[str, float] = {}
    for s, k in keyed.items():
        first = ordered.index(k) + 1
        last = len(ordered) - ordered[::-1].index(k)
        out[s] = (first + last) / 2.0
    return out


def mean(values: Sequence[float | None]) -> float | None:
    """Mean of the valid values, None if there is none."""
    ok = [float(v) for v in values if _valid(v)]
    return sum(ok) / len(ok) if ok else None


def baseline_gap_ok(
    metric: str,
    system_score: float | None,
    baseline_score: float | None,
    *,
    auc_tolerance: float = 0.005,
    relative_tolerance: float = 0.005,
) -> bool | None:
    """Whether a system is no worse than the baseline by more than the goal's tolerance.

    ROC AUC: at most ``auc_tolerance`` (absolute) below the baseline. Loss metrics (RMSE, log
    loss): at most ``relative_tolerance`` (relative) above it. None when the baseline has no
    score; False when the system has none.
    """
    if not _valid(baseline_score):
        return None
    if not _valid(system_score):
        return False
    s, b = float(system_score), float(baseline_score)  # type: ignore[arg-type]
    if HIGHER_IS_BETTER[metric]:
        return s >= b - auc_tolerance
    return s <= b * (1.0 + relative_tolerance)


def fit_time_ok(fit_seconds: float | None, budget: float, tolerance: float = 0.10) -> bool:
    """Whether the fit kept to the budget plus ``tolerance`` (10%)."""
    return _valid(fit_seconds) and float(fit_seconds) <= budget * (1.0 + tolerance)  # type: ignore[arg-type]
