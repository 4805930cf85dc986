"""Evaluation of clustering and anomaly models on the holdout, and what their training
report explains (issue 14).

A clustering is judged by the internal indices of the clusters it assigns to holdout rows
(silhouette, Calinski-Harabasz, Davies-Bouldin, on its own scaled features), and by the
search's bootstrap stability and the assigner's agreement. An anomaly model is judged by the
share of rows it flags and, with a label column, by the PR-AUC and ROC-AUC of its scores and
the precision, recall and F1 of its flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from loopml.evaluation._clusters import ClusterProfile, cluster_profiles
from loopml.evaluation._evaluate import Evaluation, check_gate

if TYPE_CHECKING:
    from loopml.data import Problem
    from loopml.modeling import AnomalyResult, ClusteringResult

SAMPLE_ROWS = 3_000  # holdout rows the silhouette is computed on
SHOWN_ROWS = 20  # most anomalous holdout rows in the report


@dataclass(frozen=True)
class UnsupervisedFindings:
    """What the training report of a clustering or anomaly model explains.

    ``clustering``/``profiles`` for clustering (profiles of the training rows' clusters);
    ``anomaly``, ``holdout_scores`` and ``most_anomalous`` for anomaly detection: the scores
    of the holdout rows, and its highest-scoring rows (the privacy policy already applied:
    dropped columns are absent, hashed ones hashed) with their ``anomaly_score``.
    """

    task: str
    model: str
    reason: str
    clustering: ClusteringResult | None = None
    profiles: tuple[ClusterProfile, ...] = ()
    anomaly: AnomalyResult | None = None
    holdout_scores: tuple[float, ...] = ()
    threshold: float | None = None
    most_anomalous: pd.DataFrame | None = None


def evaluate_unsupervised(
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    problem: Problem,
    search: dict[str, float] | None = None,
) -> Evaluation:
    """The holdout evaluation of a clustering or anomaly ``pipeline`` (a bundle's), with the
    search's own measures (``stability``, ``agreement``) added from ``search``; the gate
    is checked on both."""
    if problem.task == "clustering":
        metrics = clustering_metrics(pipeline, X)
    else:
        metrics = anomaly_metrics(pipeline, X, y if problem.has_labels else None)
    metrics.update(search or {})
    primary = metrics.get(problem.metric, float("nan"))
    return Evaluation(
        task=problem.task,
        metric=problem.metric,
        primary=float(primary),
        metrics=metrics,
        gate=check_gate(problem.gate, metrics),
        n_rows=len(X),
    )


def clustering_metrics(pipeline: Any, X: pd.DataFrame, seed: int = 0) -> dict[str, float]:
    """Internal indices of the clusters ``pipeline`` assigns to ``X``'s rows (NaN when
    they fall in fewer than two clusters), their number and the noise share."""
    from sklearn import metrics as skm

    head, typed = pipeline[-1], pipeline[:-1].transform(X)
    rows = head.assigner[:-1].transform(typed)
    labels = np.asarray(head.predict(typed))
    clustered = labels >= 0
    out = {
        "n_clusters": float(len(set(labels[clustered].tolist()))),
        "noise_share": float(1 - clustered.mean()) if len(labels) else 0.0,
    }
    points, assigned = rows[clustered], labels[clustered]
    if len(set(assigned.tolist())) < 2 or len(assigned) < 3:
        nan = float("nan")
        return {**out, "silhouette": nan, "calinski_harabasz": nan, "davies_bouldin": nan}
    sample = min(len(points), SAMPLE_ROWS)
    out["silhouette"] = float(
        skm.silhouette_score(points, assigned, sample_size=sample, random_state=seed)
    )
    out["calinski_harabasz"] = float(skm.calinski_harabasz_score(points, assigned))
    out["davies_bouldin"] = float(skm.davies_bouldin_score(points, assigned))
    return out


def anomaly_metrics(pipeline: Any, X: pd.DataFrame, truth: pd.Series | None) -> dict[str, float]:
    """The flagged share of ``X``'s rows and, with ``truth`` (True: a known anomaly), the
    scores' PR-AUC and ROC-AUC and the flags' precision, recall and F1."""
    from sklearn import metrics as skm

    scores = anomaly_scores(pipeline, X)
    flags = np.asarray(pipeline.predict(X), dtype=bool)
    out = {"anomaly_rate": float(flags.mean()) if len(flags) else 0.0}
    if truth is None:
        return out
    known = np.asarray(truth, dtype=bool)
    both = known.any() and not known.all()
    out["pr_auc"] = float(skm.average_precision_score(known, scores)) if both else float("nan")
    out["roc_auc"] = float(skm.roc_auc_score(known, scores)) if both else float("nan")
    out["precision"] = float(skm.precision_score(known, flags, zero_division=0))
    out["recall"] = float(skm.recall_score(known, flags, zero_division=0))
    out["f1"] = float(skm.f1_score(known, flags, zero_division=0))
    return out


def anomaly_scores(pipeline: Any, X: pd.DataFrame) -> np.ndarray:
    """The anomaly score (robust z-score; higher: more anomalous) of each row of ``X``."""
    return np.asarray(pipeline[-1].score_samples(pipeline[:-1].transform(X)), dtype=float)


def unsupervised_findings(
    pipeline: Any,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    roles: dict[str, str],
    *,
    model: str,
    clustering: ClusteringResult | None = None,
    anomaly: AnomalyResult | None = None,
) -> UnsupervisedFindings:
    """What the report explains: cluster profiles of the training rows, or the holdout's
    anomaly scores and its most anomalous rows."""
    if clustering is not None:
        profiles = cluster_profiles(train, roles, np.asarray(clustering.labels))
        return UnsupervisedFindings(
            "clustering", model, clustering.reason, clustering=clustering, profiles=tuple(profiles)
        )
    assert anomaly is not None
    scores = anomaly_scores(pipeline, holdout)
    top = np.argsort(-scores, kind="stable")[:SHOWN_ROWS]
    shown = holdout.iloc[top].assign(anomaly_score=scores[top].round(3))
    return UnsupervisedFindings(
        "anomaly",
        model,
        anomaly.reason,
        anomaly=anomaly,
        holdout_scores=tuple(float(s) for s in scores),
        threshold=float(anomaly.threshold),
        most_anomalous=shown.reset_index(drop=True),
    )
