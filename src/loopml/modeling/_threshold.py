"""Decision thresholds for binary tasks: tuned for F1 or for the cost of each error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import FixedThresholdClassifier


@dataclass(frozen=True)
class ThresholdChoice:
    """The threshold on the positive class's probability, and what it optimised."""

    threshold: float
    objective: str  # f1 | cost
    value: float  # F1, or the expected cost per row, on the out-of-fold predictions

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "objective": self.objective, "value": self.value}


def expected_cost(
    y_true: Any, pred: Any, positive_class: Any, false_positive: float, false_negative: float
) -> float:
    """Average cost per row of the errors in ``pred``."""
    y_true, pred = np.asarray(y_true), np.asarray(pred)
    fp = np.sum((pred == positive_class) & (y_true != positive_class))
    fn = np.sum((pred != positive_class) & (y_true == positive_class))
    return float((false_positive * fp + false_negative * fn) / max(len(y_true), 1))


def tune_threshold(
    y_true: Any,
    positive_proba: np.ndarray,
    positive_class: Any,
    *,
    objective: str,
    false_positive: float = 1.0,
    false_negative: float = 1.0,
) -> ThresholdChoice:
    """The threshold that maximises F1 or minimises the expected cost on these rows."""
    is_pos = np.asarray(y_true) == positive_class
    p = np.asarray(positive_proba, dtype=float)
    candidates = np.unique(np.quantile(p, np.linspace(0.0, 1.0, 201)))
    best_t, best_v = 0.5, None
    for t in candidates:
        flagged = p >= t
        tp = np.sum(flagged & is_pos)
        fp = np.sum(flagged & ~is_pos)
        fn = np.sum(~flagged & is_pos)
        if objective == "f1":
            value = 2 * tp / max(2 * tp + fp + fn, 1)
            better = best_v is None or value > best_v
        else:
            value = (false_positive * fp + false_negative * fn) / max(len(p), 1)
            better = best_v is None or value < best_v
        if better:
            best_t, best_v = float(t), float(value)
    return ThresholdChoice(threshold=best_t, objective=objective, value=float(best_v or 0.0))


def with_threshold(estimator: Any, threshold: float, positive_class: Any) -> Any:
    """``estimator`` deciding the positive class at ``threshold`` (unfitted; fit refits it)."""
    return FixedThresholdClassifier(
        estimator, threshold=threshold, pos_label=positive_class, response_method="predict_proba"
    )


def decide(model: Any, proba: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    """Labels from probabilities aligned to ``classes``: the model's threshold if it has one,
    else the most probable class."""
    labels = np.asarray(list(classes))
    if isinstance(model, FixedThresholdClassifier) and len(labels) == 2:
        pos = model.pos_label
        neg = labels[labels != pos][0]
        column = list(classes).index(pos)
        return np.where(proba[:, column] >= model.threshold, pos, neg)
    return labels[np.argmax(proba, axis=1)]
