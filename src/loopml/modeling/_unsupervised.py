"""Clustering and anomaly detection as models of the lifecycle (``problem.task: clustering``
or ``anomaly``): the search's result wrapped as a classifier of the bundle's pipeline, so
batch scoring, the service and monitoring treat it as they treat any model.

A clustering's classes are its clusters (``-1``: rows HDBSCAN left as noise) and its
probabilities the memberships (a mixture's or the surrogate classifier's; one-hot where the
algorithm assigns hard, as k-means does). An anomaly model's classes are ``False`` and
``True`` (flagged); the probability of ``True`` is the logistic of the robust z-score above
the threshold, so 0.5 is the threshold, and the raw score is ``score_samples``.

The pipeline of a bundle is ``coerce`` (the :class:`~loopml.features.FrameCoercer` the
search fitted, hoisted out of its preprocessing so the service can skip it as for every
model) followed by the model.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from loopml.modeling._anomaly import COMBINED, AnomalyResult, search_anomalies
from loopml.modeling._clustering import MIN_STABILITY, ClusteringResult, search_clusters
from loopml.modeling._search import Leaderboard, TrialResult


class ClusterAssigner(ClassifierMixin, BaseEstimator):
    """A fitted clustering's assignment of new rows, as a classifier of its clusters.

    Parameters
    ----------
    assigner
        The fitted pipeline from rows to clusters (:attr:`ClusteringResult.assigner`).
    clusters
        The clusters of the training rows, in order.
    """

    def __init__(self, assigner: Any = None, clusters: Sequence[int] = ()) -> None:
        self.assigner = assigner
        self.clusters = clusters
        self.classes_ = np.asarray(list(clusters), dtype=int)

    def fit(self, X: Any, y: Any = None) -> ClusterAssigner:
        raise TypeError(
            "a ClusterAssigner is built from a clustering search (search_clusters), not fitted"
        )

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        model = self.assigner[-1]
        rows = self.assigner[:-1].transform(X)
        out = np.zeros((len(X), len(self.classes_)))
        if hasattr(model, "predict_proba"):
            raw = model.predict_proba(rows)
            fitted = getattr(model, "classes_", np.arange(raw.shape[1]))
            for j, c in enumerate(fitted):
                at = int(np.searchsorted(self.classes_, c))
                if at < len(self.classes_) and self.classes_[at] == c:  # a mixture's component
                    out[:, at] = raw[:, j]  # that took no training row is left out
            return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
        labels = np.asarray(model.predict(rows))
        out[np.arange(len(X)), np.searchsorted(self.classes_, labels)] = 1.0
        return out

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])


class AnomalyDetector(ClassifierMixin, BaseEstimator):
    """A fitted anomaly model as a classifier of its flags (module docstring).

    Parameters
    ----------
    model
        The fitted :class:`~loopml.modeling.AnomalyModel`, its threshold chosen.
    """

    def __init__(self, model: Any = None) -> None:
        self.model = model
        self.classes_ = np.asarray([False, True])

    def fit(self, X: Any, y: Any = None) -> AnomalyDetector:
        raise TypeError("an AnomalyDetector is built by search_anomalies, not fitted")

    @property
    def threshold(self) -> float:
        """The robust z-score above which a row is flagged."""
        return float(self.model.threshold_)

    def score_samples(self, X: pd.DataFrame) -> np.ndarray:
        """The anomaly score of each row (higher: more anomalous)."""
        return np.asarray(self.model.score_samples(X), dtype=float)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        from scipy.special import expit

        flagged = expit(self.score_samples(X) - self.threshold)
        return np.column_stack([1 - flagged, flagged])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.score_samples(X) > self.threshold)


@dataclass(frozen=True)
class UnsupervisedFit:
    """The pipeline to register, its leaderboard and label, and the search's own result."""

    pipeline: Any
    leaderboard: Leaderboard
    model: str  # e.g. "kmeans (4 clusters)"
    classes: tuple[Any, ...]
    clustering: ClusteringResult | None = None
    anomaly: AnomalyResult | None = None

    @property
    def reason(self) -> str:
        found = self.clustering or self.anomaly
        return found.reason if found is not None else ""


def fit_clustering(
    X: pd.DataFrame, roles: dict[str, str], *, budget_seconds: float, max_clusters: int, seed: int
) -> UnsupervisedFit:
    """Search the clusterings of ``X`` (:func:`search_clusters`) and wrap the chosen one."""
    started = time.perf_counter()
    found = search_clusters(
        X, roles, budget_seconds=budget_seconds, max_clusters=max_clusters, seed=seed
    )
    clusters = np.unique(found.labels).astype(int).tolist()
    pipeline = _hoisted(found.assigner[0], ClusterAssigner(found.assigner, clusters))
    stable = any(c.stability >= MIN_STABILITY for c in found.candidates)
    trials = []
    for number, c in enumerate(sorted(found.candidates, key=lambda c: c != found.best)):
        excluded = stable and not c.stability >= MIN_STABILITY
        trials.append(
            TrialResult(
                number=number,
                family=f"{c.algorithm} ({c.n_clusters} clusters)",
                params={"n_clusters": c.n_clusters, "stability": round(c.stability, 4)},
                fold_scores=(c.silhouette,),
                seconds=c.seconds,
                status="excluded" if excluded else "ok",
                error=f"stability {c.stability:.2f} below {MIN_STABILITY:g}" if excluded else "",
            )
        )
    board = _board("silhouette", True, trials, budget_seconds, started)
    best = found.best
    label = f"{best.algorithm} ({best.n_clusters} clusters)"
    return UnsupervisedFit(pipeline, board, label, tuple(clusters), clustering=found)


def fit_anomaly(
    X: pd.DataFrame,
    roles: dict[str, str],
    *,
    labels: pd.Series | None,
    contamination: float | None,
    seed: int,
) -> UnsupervisedFit:
    """Fit the anomaly detector of ``X`` (:func:`search_anomalies`; ``labels``: True marks a
    known anomaly) and wrap it."""
    started = time.perf_counter()
    found = search_anomalies(
        X, roles, labels=labels, positive=True, contamination=contamination, seed=seed
    )
    pipeline = _hoisted(found.model.prep_, AnomalyDetector(found.model))
    if found.evaluation:
        trials = [
            TrialResult(n, name, dict(scores), (scores["pr_auc"],), 0.0, "ok")
            for n, (name, scores) in enumerate(
                sorted(found.evaluation.items(), key=lambda kv: kv[0] != found.detector)
            )
        ]
        board = _board("pr_auc", True, trials, 0.0, started)
    else:
        rate = float(np.mean(found.flags))
        trial = TrialResult(0, COMBINED, {"threshold": found.threshold}, (rate,), 0.0, "ok")
        board = _board("anomaly_rate", False, [trial], 0.0, started)
    label = f"{found.detector.replace('_', ' ')} ({found.threshold_rule})"
    return UnsupervisedFit(pipeline, board, label, (False, True), anomaly=found)


def _board(
    metric: str, larger: bool, trials: list[TrialResult], budget: float, started: float
) -> Leaderboard:
    elapsed = time.perf_counter() - started
    # no folds: candidates are scored on the training rows (a clustering's indices on a
    # sample of them) or, with anomaly labels, on a held-out part of them
    return Leaderboard(metric, larger, tuple(trials), budget or elapsed, elapsed, n_folds=0)


def _hoisted(prep: Any, head: Any) -> Any:
    """``coerce`` (taken out of ``prep``'s preprocessing, which then passes its rows on)
    followed by ``head``."""
    from sklearn.pipeline import Pipeline

    base = prep.base_
    name, coercer = base.steps[0]
    base.steps[0] = (name, "passthrough")
    return Pipeline([("coerce", coercer), ("model", head)])
