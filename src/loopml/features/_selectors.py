"""Feature selection as pipeline steps, and the cross-validated check whether it helps.

:class:`FeatureSelector` runs :func:`~loopml.features.select_features` as the last step of the
preprocessing pipeline, so the selection is learned inside each training fold and serving
applies exactly the columns training chose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.feature_selection import SelectorMixin
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from loopml.config import SelectionConfig
from loopml.features._selection import (
    SelectionResult,
    as_matrix,
    correlation_filter,
    select_features,
)
from loopml.types import TaskKind


@dataclass(frozen=True)
class SelectionCheck:
    """Cross-validated score of one estimator with and without a selection step."""

    method: str
    score_all: float
    score_selected: float
    helps: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "score_all": self.score_all,
            "score_selected": self.score_selected,
            "helps": self.helps,
        }


class _MaskSelector(SelectorMixin, BaseEstimator):
    """A selector whose ``fit`` sets ``support_``, the boolean mask of kept features."""

    def transform(self, X: Any) -> Any:
        check_is_fitted(self, "support_")  # before scikit-learn compares feature names
        return super().transform(X)

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_


class FeatureSelector(_MaskSelector):
    """The selection of :func:`select_features` as a pipeline step, learned at fit.

    Parameters
    ----------
    method
        ``auto``, ``correlation``, ``mutual_info``, ``rfe``, ``permutation`` or ``none``.
    correlation_threshold
        Pairs correlated at least this much keep only their first feature.
    max_features
        Keep at most this many features.
    task
        ``binary``, ``multiclass`` or ``regression``; None infers it from the target.
    random_state
        Seeds the models and sampling.
    """

    def __init__(
        self,
        method: str = "auto",
        correlation_threshold: float = 0.95,
        max_features: int | None = None,
        task: TaskKind | None = None,
        random_state: int = 0,
    ):
        self.method = method
        self.correlation_threshold = correlation_threshold
        self.max_features = max_features
        self.task = task
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> FeatureSelector:
        if y is None:
            raise ValueError(
                "FeatureSelector requires y to be passed, but the target y is None; it selects "
                "features by their relation to the target"
            )
        config = SelectionConfig(
            correlation_threshold=self.correlation_threshold, max_features=self.max_features
        )
        matrix, names, _ = as_matrix(X)
        self.n_features_in_ = len(names)
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(names, dtype=object)
        self.result_ = select_features(
            X if isinstance(X, pd.DataFrame) else matrix,
            y,
            self.task,
            config,
            self.random_state,
            method=self.method,
        )
        kept = set(self.result_.kept)
        self.support_ = np.asarray([n in kept for n in names], dtype=bool)
        return self

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        return tags


class CorrelationFilter(_MaskSelector):
    """:func:`correlation_filter` as a pipeline step: of each correlated pair, the first stays.

    Parameters
    ----------
    threshold
        Absolute correlation at which the later feature of a pair is dropped.
    """

    def __init__(self, threshold: float = 0.95):
        self.threshold = threshold

    def fit(self, X: Any, y: Any = None) -> CorrelationFilter:
        _, names, _ = as_matrix(X)
        self.n_features_in_ = len(names)
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(names, dtype=object)
        self.result_ = correlation_filter(X, self.threshold)
        kept = set(self.result_.kept)
        self.support_ = np.asarray([n in kept for n in names], dtype=bool)
        return self

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def selection_result(pipeline: Pipeline) -> SelectionResult | None:
    """The fitted ``select`` step's result, named by the features entering it; None without one.

    Examples
    --------
    >>> selection_result(Pipeline([("model", BaseEstimator())])) is None
    True
    """
    names = [name for name, _ in pipeline.steps]
    if "select" not in names:
        return None
    at = names.index("select")
    selector = pipeline.steps[at][1]
    check_is_fitted(selector, "result_")
    if hasattr(selector, "feature_names_in_") or at == 0:
        return selector.result_
    entering = [str(n) for n in pipeline[:at].get_feature_names_out()]
    return selector.result_.renamed({f"x{i}": n for i, n in enumerate(entering)})


def make_selector(
    config: SelectionConfig,
    *,
    task: TaskKind | None = None,
    method: str | None = None,
    seed: int = 0,
) -> FeatureSelector:
    """A selector as ``config`` declares it; ``method`` overrides ``config.method``, and a
    method of ``"none"`` becomes ``"auto"`` (a check of selection needs a selector)."""
    return FeatureSelector(
        method=method or (config.method if config.method != "none" else "auto"),
        correlation_threshold=config.correlation_threshold,
        max_features=config.max_features,
        task=task,
        random_state=seed,
    )


def selection_helps(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    selector: FeatureSelector,
    cv: Any,
    scoring: Any = None,
    min_gain: float = 0.0,
) -> SelectionCheck:
    """Cross-validate ``estimator`` with and without ``selector`` on the same folds.

    The selector (e.g. from :func:`make_selector`) is fitted inside each training fold. If
    ``estimator`` is a Pipeline it goes just before the last step (after preprocessing),
    otherwise in front of the estimator. ``scoring`` follows scikit-learn (greater is better);
    selection helps when its mean score beats the other's by more than ``min_gain``.
    """
    if isinstance(estimator, Pipeline):
        selected: Any = Pipeline([*estimator.steps[:-1], ("select", selector), estimator.steps[-1]])
    else:
        selected = Pipeline([("select", selector), ("model", estimator)])
    score_all = float(np.mean(cross_val_score(clone(estimator), X, y, cv=cv, scoring=scoring)))
    score_selected = float(np.mean(cross_val_score(clone(selected), X, y, cv=cv, scoring=scoring)))
    helps = score_selected > score_all + min_gain
    return SelectionCheck(selector.method, score_all, score_selected, helps)
