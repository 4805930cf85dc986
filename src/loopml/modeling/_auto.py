"""``AutoClassifier`` and ``AutoRegressor``: the search as scikit-learn estimators."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from loopml.config import FeaturesConfig
from loopml.data import infer_schema
from loopml.metrics import default_metric
from loopml.modeling._candidates import PORTFOLIO_ORDER
from loopml.modeling._search import Leaderboard, search
from loopml.modeling._split import auto_fold_count, cv_folds, time_ordered_column
from loopml.types import TaskKind


def _ravel_y(y: Any, estimator: str) -> np.ndarray:
    """y as a 1-d array; a column vector is raveled with scikit-learn's usual warning."""
    if y is None:
        raise ValueError(f"{estimator} requires y to be passed, but the target y is None.")
    y_arr = np.asarray(y)
    if y_arr.ndim == 2 and y_arr.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected; it was raveled.",
            DataConversionWarning,
            stacklevel=3,
        )
        y_arr = y_arr.ravel()
    return y_arr


class _AutoBase(BaseEstimator):
    _task_kind = "regression"

    def __init__(
        self,
        time_budget: float = 60.0,
        metric: str | None = None,
        n_jobs: int = -1,
        random_state: int | None = None,
        cv_folds: int | None = None,
        max_trials: int | None = None,
        models: Sequence[str] | None = None,
    ):
        self.time_budget = time_budget
        self.metric = metric
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.cv_folds = cv_folds
        self.max_trials = max_trials
        self.models = models

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.non_deterministic = self.max_trials is None  # the budget decides how far it gets
        return tags

    def _frame(self, X: Any, *, reset: bool) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, skip_check_array=True)
            frame = X.copy()
            frame.columns = [str(c) for c in frame.columns]
        else:
            array = check_array(X, dtype=None, ensure_all_finite="allow-nan", ensure_min_samples=1)
            validate_data(self, array, reset=reset, skip_check_array=True)
            if array.dtype.kind in "OUS":
                frame = pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
            else:
                frame = pd.DataFrame(
                    array.astype(float), columns=[f"x{i}" for i in range(array.shape[1])]
                )
        if len(frame) == 0:
            raise ValueError("Found array with 0 sample(s); at least one is required.")
        return frame

    def _fit(self, X: Any, y: Any, task: TaskKind, classes: Sequence[Any]) -> None:
        frame = self._frame(X, reset=True)
        target = pd.Series(np.asarray(y), name="__target__")
        if len(target) != len(frame):
            raise ValueError(
                f"X has {len(frame)} rows but y has {len(target)}; they must have the same length."
            )
        if self.time_budget is None or self.time_budget <= 0:
            raise ValueError(
                f"time_budget must be a positive number of seconds, got {self.time_budget!r}"
            )
        families = tuple(self.models) if self.models else PORTFOLIO_ORDER
        unknown = sorted(set(families) - set(PORTFOLIO_ORDER))
        if unknown:
            raise ValueError(
                f"unknown model families {unknown}; known: {', '.join(PORTFOLIO_ORDER)}"
            )
        metric = self.metric or default_metric(task)
        schema = infer_schema(frame, target="__target__")
        roles = schema.roles()
        if not roles:  # nothing usable: fall back to every column as it is
            roles = {
                c: "numeric" if pd.api.types.is_numeric_dtype(frame[c]) else "categorical"
                for c in frame.columns
            }
        seed = 0 if self.random_state is None else int(self.random_state)
        if len(frame) < 4:
            raise ValueError(
                f"n_samples={len(frame)} is too few to cross-validate; need at least 4."
            )
        folds_ok = self.cv_folds is None or (
            isinstance(self.cv_folds, int | np.integer)
            and not isinstance(self.cv_folds, bool)
            and self.cv_folds >= 1
        )
        if not folds_ok:
            raise ValueError(
                f"cv_folds must be None (automatic) or an integer >= 1, got {self.cv_folds!r}"
            )
        n_folds = auto_fold_count(len(frame)) if self.cv_folds is None else int(self.cv_folds)
        time_column = time_ordered_column(frame, roles)
        if n_folds > 1:
            smallest = len(frame) if task == "regression" else int(target.value_counts().min())
            n_folds = max(2, min(n_folds, smallest, len(frame) // 2))
        folds: list[Any] = []
        if time_column is not None:
            # the rows are in time order already: later rows validate (rows without a time
            # stay where they are), and a fold whose training part misses a class is dropped
            folds = cv_folds(target, strategy="time", n_folds=n_folds, seed=seed)
            if task != "regression":
                labels = target.to_numpy()
                folds = [f for f in folds if len(np.unique(labels[f[0]])) == len(classes)]
            if not folds:
                time_column = None  # no time-ordered fold sees every class: stratify instead
        if not folds:
            strategy = "random" if task == "regression" else "stratified"
            folds = cv_folds(target, strategy=strategy, n_folds=n_folds, seed=seed)
        self.time_column_ = time_column
        positive = classes[-1] if task == "binary" else None
        result = search(
            frame,
            target,
            task=task,
            metric=metric,
            roles=roles,
            folds=folds,
            budget_seconds=float(self.time_budget),
            classes=classes,
            positive_class=positive,
            families=families,
            max_trials=self.max_trials,
            features=FeaturesConfig(),
            seed=seed,
            n_jobs=self.n_jobs,
        )
        self.best_estimator_ = result.pipeline
        self.leaderboard_: Leaderboard = result.leaderboard
        self.metric_ = metric

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "best_estimator_")
        return np.asarray(self.best_estimator_.predict(self._frame(X, reset=False)))


class AutoClassifier(ClassifierMixin, _AutoBase):
    """Automatic classification: searches candidate pipelines under ``time_budget`` seconds.

    Accepts a raw pandas frame as ``pandas.read_csv`` returns it (text, missing values, dates)
    or a numeric array. After ``fit``: ``best_estimator_`` (the fitted pipeline),
    ``leaderboard_`` and ``classes_``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True, as_frame=True)
    >>> clf = AutoClassifier(time_budget=5, max_trials=1, random_state=0).fit(X, y)
    >>> float(clf.score(X, y)) > 0.9
    True
    """

    def fit(self, X: Any, y: Any) -> AutoClassifier:
        y_arr = _ravel_y(y, type(self).__name__)
        if len(y_arr) == 0:
            raise ValueError("Found array with 0 sample(s) (shape=(0,)); at least one is required.")
        check_classification_targets(y_arr)
        classes = np.unique(y_arr)
        if len(classes) < 2:
            raise ValueError(
                f"y has one class ({classes[0].item()!r}); a classifier needs at least two classes."
            )
        self.classes_ = classes
        task: TaskKind = "binary" if len(classes) == 2 else "multiclass"
        self._fit(X, y_arr, task, list(classes))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "best_estimator_")
        raw = self.best_estimator_.predict_proba(self._frame(X, reset=False))
        fitted = list(self.best_estimator_.classes_)
        proba = np.zeros((raw.shape[0], len(self.classes_)))
        for j, c in enumerate(fitted):
            proba[:, list(self.classes_).index(c)] = raw[:, j]
        return proba

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class AutoRegressor(RegressorMixin, _AutoBase):
    """Automatic regression: searches candidate pipelines under ``time_budget`` seconds.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True, as_frame=True)
    >>> reg = AutoRegressor(time_budget=5, max_trials=1, random_state=0).fit(X, y)
    >>> reg.leaderboard_.metric
    'rmse'
    """

    def fit(self, X: Any, y: Any) -> AutoRegressor:
        y_arr = _ravel_y(y, type(self).__name__)
        y_arr = check_array(y_arr, ensure_2d=False, dtype="numeric", ensure_all_finite=True)
        self._fit(X, y_arr.astype(float), "regression", [])
        return self
