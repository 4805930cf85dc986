"""``AutoClassifier`` and ``AutoRegressor``: the search as scikit-learn estimators."""

from __future__ import annotations

import difflib
import numbers
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from loopml.config import CLASSIFICATION_METRICS, REGRESSION_METRICS, FeaturesConfig
from loopml.data import infer_schema
from loopml.errors import ConfigError, DataError
from loopml.metrics import default_metric
from loopml.modeling._families import default_registry
from loopml.modeling._leaderboard import Leaderboard
from loopml.modeling._training import TrainingData, TrainingSpec, train_model
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


#: Names users bring from scikit-learn's scorers and other tools, and loopml's name for each.
METRIC_ALIASES = {
    "auc": "roc_auc",
    "roc": "roc_auc",
    "auroc": "roc_auc",
    "roc_auc_ovr": "roc_auc",
    "average_precision": "pr_auc",
    "neg_log_loss": "log_loss",
    "logloss": "log_loss",
    "cross_entropy": "log_loss",
    "f1_macro": "f1",
    "acc": "accuracy",
    "mse": "rmse",
    "neg_mean_squared_error": "rmse",
    "neg_root_mean_squared_error": "rmse",
    "neg_mean_absolute_error": "mae",
    "neg_mean_absolute_percentage_error": "mape",
}


def _did_you_mean(value: Any, options: Sequence[str]) -> str:
    alias = METRIC_ALIASES.get(str(value).strip().lower())
    close = [alias] if alias in options else difflib.get_close_matches(str(value), options, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _rows_shown(mask: np.ndarray, limit: int = 5) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return shown + (", ..." if len(rows) > limit else "")


def _check_labels_present(y: np.ndarray, estimator: str) -> None:
    """Refuse missing labels (NaN, None, pd.NA) at once, naming the rows."""
    missing = np.asarray(pd.isna(y))
    if missing.ndim > 1:  # a 2-d y: a row misses its label when any column does
        missing = np.asarray(missing.any(axis=tuple(range(1, missing.ndim))))
    if missing.any():
        raise DataError(
            f"y has {int(missing.sum())} missing label(s) of {len(y)} (rows "
            f"{_rows_shown(missing)}); {estimator} needs a label on every row. Drop those rows "
            "from X and y (keep = y.notna(); fit(X[keep], y[keep])) or fill them in."
        )


class _AutoBase(BaseEstimator):
    _task_kind = "regression"
    _metrics: dict[str, bool] = REGRESSION_METRICS
    _other: tuple[str, str] = ("classification", "AutoClassifier")

    def __init__(
        self,
        time_budget: float = 60.0,
        metric: str | None = None,
        n_jobs: int = -1,
        random_state: int | None = None,
        cv_folds: int | None = None,
        max_trials: int | None = None,
        models: Sequence[str] | None = None,
        bagging: bool | str = False,
    ):
        self.time_budget = time_budget
        self.metric = metric
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.cv_folds = cv_folds
        self.max_trials = max_trials
        self.models = models
        self.bagging = bagging

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

    def _check_params(self) -> None:
        """Refuse a bad parameter before looking at the data: one error, naming it."""
        name = type(self).__name__
        budget = self.time_budget
        if isinstance(budget, bool) or not isinstance(budget, numbers.Real) or not budget > 0:
            raise ConfigError(
                f"time_budget must be a positive number of seconds, got {budget!r}; "
                f"e.g. {name}(time_budget=60)."
            )
        if self.metric is not None and self.metric not in self._metrics:
            accepted = ", ".join(self._metrics)
            other, estimator = self._other
            if self.metric in {**CLASSIFICATION_METRICS, **REGRESSION_METRICS}:
                raise ConfigError(
                    f"metric {self.metric!r} is a {other} metric; {name} accepts {accepted} "
                    f"(or use {estimator} for a {other} target)."
                )
            hint = _did_you_mean(self.metric, list(self._metrics))
            raise ConfigError(f"unknown metric {self.metric!r}.{hint} {name} accepts {accepted}.")
        known = default_registry().names
        families = tuple(self.models) if self.models else known
        unknown = sorted(set(families) - set(known))
        if unknown:
            hint = _did_you_mean(unknown[0], list(known))
            raise ConfigError(f"unknown model families {unknown}.{hint} Known: {', '.join(known)}.")
        for key, low, meaning in (
            ("max_trials", 1, "None (the budget decides) or an integer >= 1"),
            ("cv_folds", 1, "None (automatic) or an integer >= 1"),
        ):
            value = getattr(self, key)
            ok = value is None or (
                isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= low
            )
            if not ok:
                raise ConfigError(f"{key} must be {meaning}, got {value!r}")
        if not (isinstance(self.bagging, bool) or self.bagging == "auto"):
            raise ConfigError(
                f"bagging must be 'auto', True or False, got {self.bagging!r}; e.g. "
                f"{name}(bagging=True) bags the fold models at any budget."
            )
        jobs = self.n_jobs
        if jobs is not None and (
            isinstance(jobs, bool) or not isinstance(jobs, int | np.integer) or jobs == 0
        ):
            raise ConfigError(
                f"n_jobs must be a positive number of CPUs, or -1 for all this process may "
                f"use, got {jobs!r}"
            )

    def _fit(self, X: Any, y: Any, task: TaskKind, classes: Sequence[Any], started: float) -> None:
        frame = self._frame(X, reset=True)
        target = pd.Series(np.asarray(y), name="__target__")
        if len(target) != len(frame):
            raise ValueError(
                f"X has {len(frame)} rows but y has {len(target)}; they must have the same length."
            )
        families = tuple(self.models) if self.models else None  # None: every family
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
        data = TrainingData(X=frame, y=target, roles=roles)  # strategy None: time order or not
        spec = TrainingSpec(
            task=task,
            metric=metric,
            budget_seconds=float(self.time_budget),
            classes=tuple(classes),
            positive_class=classes[-1] if task == "binary" else None,
            max_trials=self.max_trials,
            cv_folds="auto" if self.cv_folds is None else int(self.cv_folds),
            families=families,
            features=FeaturesConfig(),
            seed=seed,
            n_jobs=self.n_jobs,
            bagging="auto" if self.bagging == "auto" else bool(self.bagging),
        )
        # time_budget is the whole fit's, preparation included
        result = train_model(data, spec, started=started)
        self.time_column_ = result.time_column
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

    _metrics = CLASSIFICATION_METRICS
    _other = ("regression", "AutoRegressor")

    def fit(self, X: Any, y: Any) -> AutoClassifier:
        """Search pipelines for ``y`` from ``X`` within ``time_budget`` seconds.

        Raises
        ------
        ConfigError
            A parameter is invalid (e.g. a regression metric), before any work.
        DataError
            ``y`` has missing labels, one class, or a class with a single row, before any work.
        """
        started = time.monotonic()
        self._check_params()
        y_arr = _ravel_y(y, type(self).__name__)
        if len(y_arr) == 0:
            raise ValueError("Found array with 0 sample(s) (shape=(0,)); at least one is required.")
        _check_labels_present(y_arr, type(self).__name__)
        check_classification_targets(y_arr)
        classes, counts = np.unique(y_arr, return_counts=True)
        if len(classes) < 2:
            raise DataError(
                f"y has one class ({classes[0].item()!r}) in {len(y_arr)} rows; a classifier "
                "needs at least two classes. Check how y was built, or add rows of another class."
            )
        single = classes[counts < 2]
        if len(single):
            shown = ", ".join(repr(c.item() if hasattr(c, "item") else c) for c in single[:5])
            raise DataError(
                f"class(es) {shown} of y have a single row; a class needs at least 2 rows, one "
                "to train on and one to validate it in cross-validation. Drop or merge the rare "
                "class(es), or add rows."
            )
        self.classes_ = classes
        task: TaskKind = "binary" if len(classes) == 2 else "multiclass"
        self._fit(X, y_arr, task, list(classes), started)
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
        """Search pipelines for ``y`` from ``X`` within ``time_budget`` seconds.

        Raises
        ------
        ConfigError
            A parameter is invalid (e.g. a classification metric), before any work.
        DataError
            ``y`` has missing values or is not numeric, before any work.
        """
        started = time.monotonic()
        self._check_params()
        y_arr = _ravel_y(y, type(self).__name__)
        _check_labels_present(y_arr, type(self).__name__)
        y_arr = check_array(y_arr, ensure_2d=False, dtype="numeric", ensure_all_finite=True)
        self._fit(X, y_arr.astype(float), "regression", [], started)
        return self
