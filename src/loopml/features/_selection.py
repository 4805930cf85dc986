"""Feature selection: correlation filter, mutual information, RFE with CV, permutation importance.

:func:`select_features` ranks and selects on a table and returns a :class:`SelectionResult`
(what was kept, what was dropped and why, the scores) for the report. ``FeatureSelector``
(in ``_selectors``) does the same as the last step of the preprocessing pipeline, so the
selection is learned inside each training fold and serving applies exactly the columns
training chose.

Whether selection helps is a cross-validation question. The search answers it by trying
:func:`~loopml.features.selection_options` like any other pipeline option, with and without
the selector, on its own folds and metric; :func:`selection_helps` answers it for one
estimator outside the search. Either way the ranking is reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.feature_selection import (
    RFE,
    RFECV,
    mutual_info_classif,
    mutual_info_regression,
)
from sklearn.inspection import permutation_importance
from sklearn.metrics import log_loss, make_scorer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_array
from threadpoolctl import threadpool_limits

from loopml.config import SelectionConfig
from loopml.types import TaskKind

#: Rows used to rank features; more rarely changes a ranking and costs time in every fold.
MAX_ROWS = 10_000
#: A feature scoring below this share of the best feature's mutual information is dropped.
WEAK_SHARE = 0.05

_PLACEHOLDER = re.compile(r"\bx\d+\b")  # names of array columns: x0, x1, ...
_SCORE_NAMES = {
    "none": "",
    "correlation": "max_abs_correlation",
    "mutual_info": "mutual_information",
    "auto": "mutual_information",
    "rfe": "rfe_rank",
    "permutation": "permutation_importance",
}


@dataclass(frozen=True)
class SelectionResult:
    """What a selection kept, what it dropped and why, and the score of every feature.

    ``score_name`` says what ``scores`` hold: ``max_abs_correlation`` (with any other
    feature), ``mutual_information``, ``rfe_rank`` (1 = kept) or ``permutation_importance``
    (loss in the validation score when the feature is shuffled).
    """

    method: str
    kept: tuple[str, ...]
    dropped: dict[str, str]  # feature -> reason
    scores: dict[str, float]
    score_name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "score_name": self.score_name,
            "n_kept": len(self.kept),
            "n_dropped": len(self.dropped),
            "kept": list(self.kept),
            "dropped": [{"feature": f, "reason": r} for f, r in self.dropped.items()],
            "scores": {f: float(s) for f, s in self.scores.items()},
        }

    def renamed(self, names: dict[str, str]) -> SelectionResult:
        """The same result with placeholder names replaced (``x3`` -> ``income``), reasons too."""

        def new(name: str) -> str:
            return names.get(name, name)

        def reword(reason: str) -> str:
            return _PLACEHOLDER.sub(lambda m: new(m.group(0)), reason)

        return SelectionResult(
            method=self.method,
            kept=tuple(new(f) for f in self.kept),
            dropped={new(f): reword(r) for f, r in self.dropped.items()},
            scores={new(f): s for f, s in self.scores.items()},
            score_name=self.score_name,
        )


# --------------------------------------------------------------------------------------------
# input handling


def as_matrix(X: Any, feature_names: Any = None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Float matrix, feature names and which columns are discrete (codes of labels).

    A frame's label columns become their sorted codes and datetimes seconds; an array is
    checked (2-d, numbers, at least two rows) and named by ``feature_names`` or ``x0, x1...``.
    """
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
        columns = []
        discrete = []
        for name in X.columns:
            values = X[name]
            if pd.api.types.is_bool_dtype(values):
                columns.append(values.astype(float).to_numpy())
                discrete.append(True)
            elif pd.api.types.is_numeric_dtype(values):
                columns.append(values.to_numpy(dtype=float, na_value=np.nan))
                discrete.append(False)
            elif pd.api.types.is_datetime64_any_dtype(values):
                seconds = values.astype("datetime64[s]").astype("int64").astype(float)
                columns.append(seconds.where(values.notna()).to_numpy())
                discrete.append(False)
            else:  # labels: their codes, missing stays missing
                codes, _ = pd.factorize(values, sort=True)
                columns.append(np.where(codes < 0, np.nan, codes).astype(float))
                discrete.append(True)
        matrix = np.column_stack(columns) if columns else np.empty((len(X), 0))
        if len(matrix) < 2:
            raise ValueError(
                f"Found array with {len(matrix)} sample(s); a minimum of 2 is required"
            )
        return matrix, names, np.asarray(discrete, dtype=bool)
    matrix = check_array(X, dtype=float, ensure_all_finite="allow-nan", ensure_min_samples=2)
    names = (
        [str(n) for n in feature_names]
        if feature_names is not None
        else [f"x{i}" for i in range(matrix.shape[1])]
    )
    if len(names) != matrix.shape[1]:
        raise ValueError(f"{len(names)} feature names for {matrix.shape[1]} columns")
    return matrix, names, np.zeros(matrix.shape[1], dtype=bool)


def _impute(matrix: np.ndarray) -> np.ndarray:
    """Missing values replaced by the column median (0 for a column without any value)."""
    filled = np.array(matrix, dtype=float, copy=True)
    missing = ~np.isfinite(filled)
    if missing.any():
        with np.errstate(all="ignore"):
            medians = np.nanmedian(np.where(missing, np.nan, filled), axis=0)
        medians = np.where(np.isfinite(medians), medians, 0.0)
        filled[missing] = np.take(medians, np.nonzero(missing)[1])
    return filled


def _sample(matrix: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if len(matrix) <= MAX_ROWS:
        return matrix, y
    rows = np.sort(np.random.RandomState(seed).choice(len(matrix), MAX_ROWS, replace=False))
    return matrix[rows], y[rows]


def _infer_task(y: np.ndarray) -> TaskKind:
    kind = type_of_target(y)
    if kind == "binary":
        return "binary"
    if kind in ("continuous", "continuous-multioutput"):
        return "regression"
    return "multiclass"


def _folds(task: TaskKind, y: np.ndarray, cv: int, seed: int) -> KFold | StratifiedKFold:
    if task != "regression":
        _, counts = np.unique(y, return_counts=True)
        if counts.min() >= cv:
            return StratifiedKFold(cv, shuffle=True, random_state=seed)
    return KFold(cv, shuffle=True, random_state=seed)


# --------------------------------------------------------------------------------------------
# the four methods


def correlation_filter(
    X: Any, threshold: float = 0.95, *, feature_names: Any = None
) -> SelectionResult:
    """Drop one feature of every pair whose absolute correlation reaches ``threshold``.

    Features are visited in order; each is kept unless it correlates at least ``threshold``
    with a feature already kept, so of a pair the first stays. Missing values count as the
    column median; constant columns correlate with nothing.

    Examples
    --------
    >>> frame = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [2.0, 4, 6, 9], "c": [1.0, 0, 1, 0]})
    >>> correlation_filter(frame, 0.95).dropped
    {'b': 'correlation 0.994 with a reaches the threshold 0.95'}
    """
    matrix, names, _ = as_matrix(X, feature_names)
    corr = _abs_correlation(_impute(matrix))
    kept: list[int] = []
    dropped: dict[str, str] = {}
    for j in range(len(names)):
        partners = [i for i in kept if corr[i, j] >= threshold - 1e-9]  # 1.0: duplicates
        if partners:
            i = max(partners, key=lambda k: corr[k, j])
            dropped[names[j]] = (
                f"correlation {corr[i, j]:.3f} with {names[i]} reaches the threshold {threshold:g}"
            )
        else:
            kept.append(j)
    off_diagonal = corr - np.eye(len(names))
    scores = {n: float(off_diagonal[:, j].max(initial=0.0)) for j, n in enumerate(names)}
    return SelectionResult(
        "correlation", tuple(names[j] for j in kept), dropped, scores, _SCORE_NAMES["correlation"]
    )


def _abs_correlation(matrix: np.ndarray) -> np.ndarray:
    rows = matrix
    if len(rows) > 5 * MAX_ROWS:  # correlations settle long before this many rows
        rows = rows[np.sort(np.random.RandomState(0).choice(len(rows), 5 * MAX_ROWS, False))]
    centred = rows - rows.mean(axis=0)
    spread = np.sqrt((centred**2).sum(axis=0))
    scaled = np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 0)
    return np.clip(np.abs(scaled.T @ scaled), 0.0, 1.0)


def mutual_info_ranking(
    X: Any, y: Any, task: TaskKind, seed: int = 0, *, feature_names: Any = None
) -> dict[str, float]:
    """Mutual information of each feature with the target (nats, 0 = independent).

    Label columns of a raw frame count as discrete; at most :data:`MAX_ROWS` rows are used.
    """
    matrix, names, discrete = as_matrix(X, feature_names)
    if not names:
        return {}
    values, target = _sample(_impute(matrix), np.asarray(y), seed)
    if task == "regression":
        scores = mutual_info_regression(
            values, target.astype(float), discrete_features=discrete, random_state=seed
        )
    else:
        scores = mutual_info_classif(values, target, discrete_features=discrete, random_state=seed)
    return {n: float(s) for n, s in zip(names, scores, strict=True)}


def permutation_ranking(
    X: Any, y: Any, task: TaskKind, seed: int = 0, *, cv: int = 3, feature_names: Any = None
) -> dict[str, float]:
    """Mean loss in held-out score when each feature is shuffled, over ``cv`` folds.

    A HistGradientBoosting model (missing values allowed) is fitted on each fold's training
    part; the score is log loss for classification and RMSE for regression, so importances
    are in those units. At most :data:`MAX_ROWS` rows are used.
    """
    matrix, names, _ = as_matrix(X, feature_names)
    if not names:
        return {}
    values, target = _sample(matrix, np.asarray(y), seed)
    if task == "regression":
        model: Any = HistGradientBoostingRegressor(max_iter=100, random_state=seed)
        scoring: Any = "neg_root_mean_squared_error"
    else:
        model = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
        scoring = make_scorer(
            log_loss,
            response_method="predict_proba",
            greater_is_better=False,
            labels=np.unique(target),
        )
    splits = list(_folds(task, target, cv, seed).split(values, target))
    totals = np.zeros(len(names))
    # one thread, like every selection model: OpenMP spin-waits on a busy machine cost more
    # than they give on the small samples used here, and the search runs trials in parallel
    with threadpool_limits(limits=1, user_api="openmp"):
        for train, test in splits:
            fitted = clone(model).fit(values[train], target[train])
            result = permutation_importance(
                fitted,
                values[test],
                target[test],
                scoring=scoring,
                n_repeats=5,
                random_state=seed,
                n_jobs=1,
            )
            totals += result.importances_mean
    return {n: float(t / len(splits)) for n, t in zip(names, totals, strict=True)}


def rfe_selection(
    X: Any,
    y: Any,
    task: TaskKind,
    seed: int = 0,
    *,
    cv: int = 3,
    max_features: int | None = None,
    feature_names: Any = None,
) -> SelectionResult:
    """Recursive feature elimination with cross-validation on a small extra-trees model.

    RFECV removes the least important features (a tenth of them per round once there are more
    than 20) and keeps the count with the best cross-validated score (accuracy or R²); with
    ``max_features`` below that count, plain RFE cuts to ``max_features``.
    """
    matrix, names, _ = as_matrix(X, feature_names)
    values, target = _sample(_impute(matrix), np.asarray(y), seed)
    trees: Any = ExtraTreesRegressor if task == "regression" else ExtraTreesClassifier
    model = trees(n_estimators=50, min_samples_leaf=2, random_state=seed, n_jobs=1)
    step: float = 0.1 if len(names) > 20 else 1
    search = RFECV(model, step=step, cv=_folds(task, target, cv, seed), n_jobs=1)
    search.fit(values, target)
    support, ranking = search.support_, search.ranking_
    how = f"RFECV: {search.n_features_} features scored best in {cv}-fold CV"
    if max_features is not None and search.n_features_ > max_features:
        cut = RFE(model, n_features_to_select=max_features, step=step).fit(values, target)
        support, ranking = cut.support_, cut.ranking_
        how = f"RFE to max_features={max_features}"
    dropped = {
        n: f"eliminated at rank {int(r)} ({how})"
        for n, r, s in zip(names, ranking, support, strict=True)
        if not s
    }
    scores = {n: float(r) for n, r in zip(names, ranking, strict=True)}
    kept = tuple(n for n, s in zip(names, support, strict=True) if s)
    return SelectionResult("rfe", kept, dropped, scores, _SCORE_NAMES["rfe"])


# --------------------------------------------------------------------------------------------
# one entry point


def select_features(
    X: Any,
    y: Any,
    task: TaskKind | None,
    config: SelectionConfig,
    seed: int = 0,
    *,
    method: str | None = None,
    cv: int = 3,
    feature_names: Any = None,
) -> SelectionResult:
    """Rank the features of ``X`` and choose which to keep, by ``config.method``.

    - ``correlation``: :func:`correlation_filter` at ``config.correlation_threshold``.
    - ``mutual_info``: drop features below 5% of the best one's mutual information.
    - ``rfe``: :func:`rfe_selection`.
    - ``permutation``: drop features whose shuffling does not worsen the held-out score.
    - ``auto``: the correlation filter, then the ``mutual_info`` rule on what is left.
    - ``none``: keep everything (no scores).

    ``config.max_features`` then keeps the best ones by score (for ``correlation`` by mutual
    information). At least one feature is always kept.

    Parameters
    ----------
    X
        Preprocessed features (array or frame) or a raw frame (labels count as discrete codes).
        Give the output of the preprocessor's ``fit_transform``: target encodings are then
        cross-fitted and rank fairly.
    y
        The target.
    task
        None infers it from ``y`` (an integer regression target then looks like classes).
    config
        ``features.selection``.
    seed
        Seeds the models, row sampling and mutual information's noise.
    method
        Overrides ``config.method``.
    cv
        Folds for RFE and permutation importance.
    feature_names
        Names for the columns of an array.

    Examples
    --------
    >>> X = pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 6], "a2": [2.0, 4, 6, 8, 10, 12]})
    >>> result = select_features(X, [0, 0, 0, 1, 1, 1], "binary", SelectionConfig(), 0,
    ...                          method="correlation")
    >>> result.kept, result.dropped
    (('a',), {'a2': 'correlation 1.000 with a reaches the threshold 0.95'})
    """
    chosen = method or config.method
    if chosen not in _SCORE_NAMES:
        raise ValueError(f"unknown selection method {chosen!r}; known: {', '.join(_SCORE_NAMES)}")
    target = np.asarray(y)
    kind: TaskKind = task or _infer_task(target)
    matrix, names, _ = as_matrix(X, feature_names)
    if isinstance(X, pd.DataFrame):
        frame = X.set_axis(names, axis=1)  # label columns stay labels (discrete)
    else:
        frame = pd.DataFrame(matrix, columns=names)
    if chosen == "none" or not names:
        return SelectionResult(chosen, tuple(names), {}, {}, "")
    if chosen == "rfe":
        result = rfe_selection(frame, target, kind, seed, cv=cv, max_features=config.max_features)
        return _at_least_one(result, names, best_low=True)
    dropped: dict[str, str] = {}
    candidates = names
    scores: dict[str, float] = {}
    ranking: dict[str, float] = {}  # higher is better; decides max_features
    if chosen in ("correlation", "auto"):
        filtered = correlation_filter(frame, config.correlation_threshold)
        dropped.update(filtered.dropped)
        candidates = list(filtered.kept)
        scores = filtered.scores
    if chosen in ("mutual_info", "auto"):
        scores = ranking = mutual_info_ranking(frame[candidates], target, kind, seed)
        dropped.update(_weak(ranking, "mutual information"))
    elif chosen == "permutation":
        scores = ranking = permutation_ranking(frame, target, kind, seed, cv=cv)
        dropped.update(_weak(ranking, "permutation importance"))
    kept = [n for n in candidates if n not in dropped]
    if config.max_features is not None and len(kept) > config.max_features:
        if not ranking:  # the correlation filter ranks nothing: rank by mutual information
            ranking = mutual_info_ranking(frame[kept], target, kind, seed)
        order = sorted(kept, key=lambda n: (-ranking[n], names.index(n)))
        for name in order[config.max_features :]:
            dropped[name] = (
                f"not among the best max_features={config.max_features} ({ranking[name]:.4f})"
            )
        kept = [n for n in kept if n not in dropped]
    result = SelectionResult(chosen, tuple(kept), dropped, scores, _SCORE_NAMES[chosen])
    return _at_least_one(result, names, best_low=False)


def _weak(ranking: dict[str, float], what: str) -> dict[str, str]:
    """Features scoring at most zero or below :data:`WEAK_SHARE` of the best, with reasons."""
    best = max(ranking.values(), default=0.0)
    weak = {}
    for name, value in ranking.items():
        if value <= 0:
            weak[name] = f"{what} {value:.4f} shows no relation to the target"
        elif value < WEAK_SHARE * best:
            weak[name] = (
                f"{what} {value:.4f} is below {WEAK_SHARE:.0%} of the best feature's ({best:.4f})"
            )
    return weak


def _at_least_one(result: SelectionResult, names: list[str], best_low: bool) -> SelectionResult:
    if result.kept or not names:
        return result
    sign = 1 if best_low else -1
    best = min(names, key=lambda n: (sign * result.scores.get(n, 0.0), names.index(n)))
    dropped = {n: r for n, r in result.dropped.items() if n != best}
    return SelectionResult(result.method, (best,), dropped, result.scores, result.score_name)
