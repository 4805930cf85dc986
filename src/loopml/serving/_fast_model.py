"""The model at the end of a compiled pipeline, called on the numeric matrix with one thread.

The model's own ``predict``/``predict_proba`` does the work; for the early-stopping boosters
the booster is called directly (LightGBM's ``Booster.predict``), skipping the input checks the
wrappers repeat on every call, and every library is held to one thread per call (LightGBM
``num_threads=1``, XGBoost ``nthread=1``, CatBoost ``thread_count=1``, scikit-learn's
``n_jobs=1``, BLAS and OpenMP through threadpoolctl).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

#: The compiled model: matrix -> probabilities in its ``classes_`` order, or predictions.
ModelFn = Callable[[np.ndarray], np.ndarray]


def compile_model(model: Any, regression: bool) -> ModelFn:
    """``model``'s prediction on a matrix, pinned to one thread."""
    if hasattr(model, "library_") and hasattr(model, "estimator_"):  # early-stopping booster
        return _booster(model, regression)
    if hasattr(model, "prior_") and hasattr(model, "vote_weight_"):  # SmoothedClassifier
        return _smoothed(model)
    linear = _linear(model, regression)
    if linear is not None:
        return one_thread(linear)
    pinned = _one_thread(model)
    call = pinned.predict if regression else pinned.predict_proba
    return one_thread(call)


def _linear(model: Any, regression: bool) -> ModelFn | None:
    """Logistic and ridge regression as their ``decision_function`` arithmetic, without the
    input checks scikit-learn repeats per call (None for any other model)."""
    from scipy.special import expit
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.utils.extmath import softmax

    kind = type(model)
    if kind not in (LogisticRegression, Ridge, LinearRegression):
        return None
    coef = model.coef_.T if model.coef_.ndim == 2 else model.coef_
    intercept = model.intercept_

    def decision(X: np.ndarray) -> np.ndarray:
        scores = X @ coef + intercept
        if scores.ndim > 1 and scores.shape[1] == 1:
            return scores.reshape(-1)
        return scores

    if regression or kind is not LogisticRegression:
        return decision
    if len(model.classes_) > 2:
        return lambda X: softmax(decision(X), copy=False)

    def binary(X: np.ndarray) -> np.ndarray:
        prob = expit(decision(X))
        return np.stack([1 - prob, prob], axis=1)

    return binary


def _booster(model: Any, regression: bool) -> ModelFn:
    library = model.library_
    inner = model.estimator_
    categorical = tuple(getattr(model, "categorical_", ()) or ())
    if library == "lightgbm":
        booster = inner.booster_
        binary = not regression and len(inner.classes_) == 2

        def lightgbm(X: np.ndarray) -> np.ndarray:
            result = booster.predict(X, num_threads=1)
            if regression:
                return np.asarray(result, dtype=float)
            if binary and result.ndim == 1:
                return np.vstack((1.0 - result, result)).transpose()
            return np.asarray(result, dtype=float)

        return lightgbm
    if library == "catboost":
        native = model._native if categorical else None

        def catboost(X: np.ndarray) -> np.ndarray:
            data = native(X) if native is not None else X
            if regression:
                return np.asarray(inner.predict(data, thread_count=1), dtype=float)
            return np.asarray(inner.predict_proba(data, thread_count=1), dtype=float)

        return catboost
    if library == "xgboost" and inner._can_use_inplace_predict():
        return _xgboost(inner, regression)
    pinned = _one_thread(inner)
    call = pinned.predict if regression else pinned.predict_proba
    return lambda X: np.asarray(call(X), dtype=float)


def _xgboost(inner: Any, regression: bool) -> ModelFn:
    """What ``XGBModel.predict`` does for a dense matrix, on a one-thread booster copy."""
    booster = inner.get_booster().copy()
    booster.set_param({"nthread": 1})
    rounds = inner._get_iteration_range(None)
    missing = inner.missing
    n_classes = 0 if regression else int(inner.n_classes_)

    def xgboost(X: np.ndarray) -> np.ndarray:
        result = booster.inplace_predict(
            X, iteration_range=rounds, predict_type="value", missing=missing
        )
        if regression or (result.ndim == 2 and result.shape[1] == n_classes):
            return np.asarray(result, dtype=float)
        return np.vstack((1.0 - result, result)).transpose()  # as XGBClassifier.predict_proba

    return xgboost


def _smoothed(model: Any) -> ModelFn:
    """``SmoothedClassifier.predict_proba`` without its repeated input checks."""
    inner = _one_thread(model.estimator_)
    n_classes = len(model.classes_)
    codes = inner.classes_.astype(int)
    vote_weight = model.vote_weight_
    prior = model.prior_
    weight = float(model.prior_weight)
    predict = one_thread(inner.predict_proba)

    def smoothed(X: np.ndarray) -> np.ndarray:
        raw = np.zeros((X.shape[0], n_classes))
        raw[:, codes] = predict(X)
        raw *= vote_weight
        total = raw.sum(axis=1, keepdims=True)
        raw = np.divide(raw, total, out=np.tile(prior, (len(raw), 1)), where=total > 0)
        return (1.0 - weight) * raw + weight * prior

    return smoothed


def _one_thread(model: Any) -> Any:
    """A shallow copy of ``model`` set to one job, when it has the parameter."""
    params = model.get_params(deep=False) if hasattr(model, "get_params") else {}
    if "n_jobs" not in params or params["n_jobs"] == 1:
        return model
    # XGBoost's set_params reaches into the fitted booster: copy it too
    pinned = copy.deepcopy(model) if _is_xgboost(model) else copy.copy(model)
    pinned.set_params(n_jobs=1)
    return pinned


def _is_xgboost(model: Any) -> bool:
    return type(model).__module__.startswith("xgboost")


def one_thread(call: Callable[[np.ndarray], Any]) -> ModelFn:
    """``call`` with the BLAS and OpenMP pools at one thread while it runs.

    The libraries are found once, at load; each call sets and restores their thread counts
    directly (about 8 µs, where ``threadpool_limits`` rescans them for about 60 µs).
    """
    from threadpoolctl import ThreadpoolController

    libraries = list(ThreadpoolController().lib_controllers)

    def limited(X: np.ndarray) -> np.ndarray:
        before = [lib.get_num_threads() for lib in libraries]
        for lib in libraries:
            lib.set_num_threads(1)
        try:
            return np.asarray(call(X))
        finally:
            for lib, threads in zip(libraries, before, strict=True):
                lib.set_num_threads(threads)

    return limited
