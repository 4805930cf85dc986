"""Small helpers the diagnostics share: row samples, scores, and JSON-safe values."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loopml.data import Problem
from loopml.modeling import predict_scores


@dataclass(frozen=True)
class DiagnosisSettings:
    """How thoroughly :func:`~loopml.evaluation.diagnose` looks, and its seed.

    Parameters
    ----------
    seed
        Seeds every resampling and sample, so the same inputs give the same diagnostics.
    n_bootstrap
        Bootstrap resamples of the holdout for the intervals.
    budget_seconds
        Wall-clock bound: the learning curve gets what the other parts leave, but at least
        ``LEARNING_SHARE`` of it (so the whole may overrun by that share), and skips the
        points it estimates would not fit, saying so.
    level
        Coverage of the intervals.
    n_explained
        Holdout rows whose contributions are listed (spread over the range of predictions).
    max_rows
        Rows sampled for permutation importance and the train score.
    n_repeats
        Shuffles per column for permutation importance.
    fractions
        Training-set fractions of the learning curve; 1.0 reuses the fitted pipeline.
    """

    seed: int
    n_bootstrap: int = 1000
    budget_seconds: float = 30.0
    level: float = 0.95
    n_explained: int = 5
    max_rows: int = 2000
    n_repeats: int = 5
    fractions: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class TrainAndHoldout:
    """The rows a pipeline was fitted on, and the untouched holdout it is judged on."""

    X_train: pd.DataFrame
    y_train: pd.Series
    X_hold: pd.DataFrame
    y_hold: pd.Series


@dataclass(frozen=True)
class Predictions:
    """True values of some rows, with a model's predictions and class probabilities on them."""

    y: np.ndarray
    pred: np.ndarray
    proba: np.ndarray | None


def jsonable(value: Any) -> Any:
    """``value`` with NumPy scalars made Python ones and NaN or infinity made None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def used_columns(model: Any, X: pd.DataFrame) -> list[str]:
    """The columns of ``X`` the model reads, in ``X``'s order.

    A loopml pipeline starts with a step that selects its feature columns (``roles_``); an
    ensemble reads what its members read. Ids, dropped and personal-data columns are not
    among them. Anything else is assumed to read every column.
    """
    wanted = _read_by(model)
    if wanted is None:
        return [str(c) for c in X.columns]
    return [str(c) for c in X.columns if str(c) in wanted]


def _read_by(model: Any) -> set[str] | None:
    members = getattr(model, "estimators_", None)
    combined = hasattr(model, "weights_") or hasattr(model, "combine")  # an ensemble, a stack
    if isinstance(members, list) and members and combined:
        found = [_read_by(m) for m in members]
        known = [f for f in found if f is not None]
        return set[str]().union(*known) if len(known) == len(found) else None
    steps = getattr(model, "steps", None)
    if steps:
        roles = getattr(steps[0][1], "roles_", None)
        if isinstance(roles, dict):
            return {str(c) for c in roles}
    return None


def scores_of(model: Any, X: pd.DataFrame, problem: Problem) -> tuple[np.ndarray, Any]:
    """Predictions and probabilities aligned to the problem's classes."""
    return predict_scores(model, X, problem.task, list(problem.classes))


def sample_rows(n: int, limit: int, seed: int, salt: int) -> np.ndarray:
    """Sorted positions of at most ``limit`` of ``n`` rows, the same for the same seed."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, salt]).choice(n, size=limit, replace=False))


def fmt(value: float) -> str:
    """A number for a sentence: four significant digits, or ``nan``."""
    return "nan" if value is None or math.isnan(value) else f"{value:.4g}"
