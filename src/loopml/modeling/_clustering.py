"""Clustering: choose the algorithm and the number of clusters, within a time budget, and say
why (issue 14). The lifecycle wiring (``problem.task: clustering``) is still to come; this is
the search it will call.

Rows are prepared by the same preprocessing as the supervised linear models (imputation,
scaled numbers, one-hot categories); one-hot columns are scaled by
``1 / sqrt(2)`` so that two rows differing in one category are as far apart as rows one
standard deviation apart on one number (the Gower-style balance of mixed columns).

Candidates: k-means for each k (mini-batch past :data:`MINIBATCH_ROWS` rows), Gaussian
mixtures, agglomerative (Ward) on a sample, and HDBSCAN, which finds its own number of
clusters and may leave rows as noise. Each is scored on a sample by internal indices
(silhouette, Calinski-Harabasz, Davies-Bouldin) and by bootstrap stability: the adjusted
Rand index between fits on two resamples, on the rows they share. The choice: the highest
silhouette among candidates whose stability is at least :data:`MIN_STABILITY` (all of them
when none is), ties to fewer clusters. Data without structure shows as low stability and
silhouette; the result says so.

New rows are assigned for every algorithm: by the algorithm's own ``predict`` where it has
one (k-means, mixtures), otherwise by a surrogate classifier trained on the cluster labels,
whose cross-validated agreement with them is reported.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

MINIBATCH_ROWS = 50_000
SAMPLE_ROWS = 3_000  # rows the indices, the stability and agglomerative clustering see
MIN_STABILITY = 0.8
MIN_GAP = 0.05  # silhouette above the shuffled rows' for the clusters to count as structure
ONE_HOT_WEIGHT = 1 / math.sqrt(2)


@dataclass(frozen=True)
class ClusterCandidate:
    """One algorithm at one setting, scored."""

    algorithm: str  # kmeans | gmm | agglomerative | hdbscan
    n_clusters: int
    silhouette: float
    calinski_harabasz: float
    davies_bouldin: float
    stability: float  # mean adjusted Rand index between resampled fits
    noise_share: float = 0.0  # HDBSCAN: rows left out of every cluster
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusteringResult:
    """The chosen clustering, every candidate scored, and what assigns new rows."""

    best: ClusterCandidate
    candidates: tuple[ClusterCandidate, ...]
    labels: np.ndarray  # of the training rows; -1: noise
    assigner: Any  # fitted pipeline: raw rows -> cluster labels
    agreement: float  # how often the assigner gives a training row its own cluster (CV)
    reason: str
    structure: bool  # stable, and clearly better than the same rows with columns shuffled
    projection: dict[str, list[Any]] = field(default_factory=dict)  # PCA x, y, cluster

    def to_dict(self) -> dict[str, Any]:
        return {
            "best": _plain(self.best),
            "candidates": [_plain(c) for c in self.candidates],
            "agreement": self.agreement,
            "reason": self.reason,
            "structure": self.structure,
            "sizes": {
                str(k): int(v)
                for k, v in zip(*np.unique(self.labels, return_counts=True), strict=True)
            },
        }


def _plain(candidate: ClusterCandidate) -> dict[str, Any]:
    """A candidate as JSON-ready values (NaN, an index not computed, as None)."""
    values = dataclasses.asdict(candidate)
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in values.items()
    }


def search_clusters(
    frame: pd.DataFrame,
    roles: dict[str, str],
    *,
    budget_seconds: float = 60.0,
    max_clusters: int = 10,
    algorithms: Sequence[str] = ("kmeans", "gmm", "agglomerative", "hdbscan"),
    seed: int = 0,
) -> ClusteringResult:
    """Cluster ``frame`` (module docstring).

    Parameters
    ----------
    frame
        The rows, with the columns ``roles`` names (others are ignored).
    roles
        Column -> role. Numeric, boolean and categorical columns are clustered; datetime and
        text columns are left out (the parts of a date would add dimensions of noise).
    budget_seconds
        Wall-clock budget of the search; candidates are tried cheapest first and the search
        stops when the next would not fit. The surrogate's fit comes after it.
    max_clusters
        The largest number of clusters tried (2 is the smallest).
    algorithms
        Which families to try.
    seed
        Seeds the samples, resamples and algorithms.

    Raises
    ------
    ValueError
        Fewer than 10 rows, or an unknown algorithm.
    """
    unknown = set(algorithms) - set(_FITS)
    if unknown:
        raise ValueError(f"unknown clustering algorithm(s) {sorted(unknown)}; known: {list(_FITS)}")
    if len(frame) < 10:
        raise ValueError(f"clustering needs at least 10 rows, got {len(frame)}")
    started = time.perf_counter()
    prep = _preprocessor(roles, seed)
    X = np.asarray(prep.fit_transform(frame), dtype=float)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(len(X), size=min(len(X), SAMPLE_ROWS), replace=False))
    ks = range(2, max(2, min(max_clusters, len(sample) // 5)) + 1)
    # every family at each k before the next k, so a short budget still compares them;
    # HDBSCAN (which finds its own number) after the first round
    plan = [(a, k) for k in ks for a in algorithms if a != "hdbscan"]
    if "hdbscan" in algorithms:
        plan.insert(len([a for a in algorithms if a != "hdbscan"]), ("hdbscan", 0))
    candidates: list[ClusterCandidate] = []
    for algorithm, k in plan:
        spent = time.perf_counter() - started
        # a share of the budget is kept for the final fit on every row and the assigner
        if candidates and spent + _expected(candidates, algorithm) > 0.8 * budget_seconds:
            continue
        found = _candidate(X, sample, algorithm, k, seed)
        # HDBSCAN finds its own number, which may pass the most the user allows
        if found is not None and found.n_clusters <= max(2, max_clusters):
            candidates.append(found)
    if not candidates:
        raise ValueError("no clustering candidate found clusters: the rows may be all alike")
    best = _choose(candidates)
    reason, structure = _verdict(candidates, best, _null_silhouette(X, sample, best, seed))
    labels, model = _fit_all(X, best, seed)
    assigner, agreement = _assigner(prep, X, labels, model, seed)
    return ClusteringResult(
        best=best,
        candidates=tuple(candidates),
        labels=labels,
        assigner=assigner,
        agreement=agreement,
        reason=reason,
        structure=structure,
        projection=_projection(X, labels, seed),
    )


# --------------------------------------------------------------------------------------------
# preparing the rows


def _preprocessor(roles: dict[str, str], seed: int) -> Any:
    usable = {c: r for c, r in roles.items() if r in ("numeric", "boolean", "categorical")}
    if not usable:
        raise ValueError("clustering needs numeric, boolean or categorical columns")
    return ClusterFeatures(usable, seed)


class ClusterFeatures(TransformerMixin, BaseEstimator):
    """The linear models' preprocessing as a dense matrix, its one-hot columns scaled by
    :data:`ONE_HOT_WEIGHT`."""

    def __init__(self, roles: dict[str, str], seed: int = 0) -> None:
        self.roles = roles
        self.seed = seed

    def fit(self, X: Any, y: Any = None) -> ClusterFeatures:
        from loopml.features import build_preprocessor

        self.base_ = build_preprocessor(self.roles, "onehot", seed=self.seed).fit(X)
        width = _dense(self.base_.transform(X.iloc[:1])).shape[1]
        self.scale_ = np.ones(width)
        columns = self.base_.named_steps["columns"]
        one_hot = columns.output_indices_.get("cat")
        if one_hot is not None:
            self.scale_[one_hot] = ONE_HOT_WEIGHT
        return self

    def transform(self, X: Any) -> np.ndarray:
        return _dense(self.base_.transform(X)) * self.scale_


def _dense(values: Any) -> np.ndarray:
    dense = values.toarray() if hasattr(values, "toarray") else values
    return np.asarray(dense, dtype=float)


# --------------------------------------------------------------------------------------------
# candidates


def _kmeans(X: np.ndarray, k: int, seed: int) -> Any:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if len(X) > MINIBATCH_ROWS:
        return MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3).fit(X)
    return KMeans(n_clusters=k, random_state=seed, n_init=4).fit(X)


def _gmm(X: np.ndarray, k: int, seed: int) -> Any:
    from sklearn.mixture import GaussianMixture

    return GaussianMixture(n_components=k, covariance_type="diag", random_state=seed).fit(X)


def _agglomerative(X: np.ndarray, k: int, seed: int) -> Any:
    from sklearn.cluster import AgglomerativeClustering

    return AgglomerativeClustering(n_clusters=k, linkage="ward").fit(X)


def _hdbscan(X: np.ndarray, k: int, seed: int) -> Any:
    from sklearn.cluster import HDBSCAN

    return HDBSCAN(min_cluster_size=max(5, len(X) // 50), copy=True).fit(X)


_FITS: dict[str, Callable[[np.ndarray, int, int], Any]] = {
    "kmeans": _kmeans,
    "gmm": _gmm,
    "agglomerative": _agglomerative,
    "hdbscan": _hdbscan,
}


def _labels_of(model: Any, X: np.ndarray) -> np.ndarray:
    labels = getattr(model, "labels_", None)
    return np.asarray(labels if labels is not None else model.predict(X))


def _candidate(
    X: np.ndarray, sample: np.ndarray, algorithm: str, k: int, seed: int, pairs: int = 2
) -> ClusterCandidate | None:
    from sklearn import metrics as skm

    started = time.perf_counter()
    fit = _FITS[algorithm]
    rows = X[sample]
    labels = _labels_of(fit(rows, k, seed), rows)
    clustered = labels >= 0
    found = len(set(labels[clustered].tolist()))
    if found < 2 or clustered.sum() < 3 * found:
        return None
    points, assigned = rows[clustered], labels[clustered]
    return ClusterCandidate(
        algorithm=algorithm,
        n_clusters=found,
        silhouette=float(skm.silhouette_score(points, assigned, random_state=seed)),
        calinski_harabasz=float(skm.calinski_harabasz_score(points, assigned)),
        davies_bouldin=float(skm.davies_bouldin_score(points, assigned)),
        stability=_stability(rows, algorithm, k, seed, pairs) if pairs else float("nan"),
        noise_share=float(1 - clustered.mean()),
        seconds=time.perf_counter() - started,
        params={"n_clusters": k} if algorithm != "hdbscan" else {},
    )


def _stability(rows: np.ndarray, algorithm: str, k: int, seed: int, pairs: int = 2) -> float:
    """Mean adjusted Rand index between fits on two 80% resamples, on the rows both hold."""
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(seed + 1)
    fit = _FITS[algorithm]
    scores = []
    for _ in range(pairs):
        a = np.sort(rng.choice(len(rows), size=int(0.8 * len(rows)), replace=False))
        b = np.sort(rng.choice(len(rows), size=int(0.8 * len(rows)), replace=False))
        both = np.intersect1d(a, b)
        la = _labels_of(fit(rows[a], k, seed), rows[a])
        lb = _labels_of(fit(rows[b], k, seed + 7), rows[b])
        la_both = la[np.searchsorted(a, both)]
        lb_both = lb[np.searchsorted(b, both)]
        scores.append(adjusted_rand_score(la_both, lb_both))
    return float(np.mean(scores))


def _expected(done: list[ClusterCandidate], algorithm: str) -> float:
    """The next candidate's cost: the last of its family's, else the slowest so far."""
    same = [c.seconds for c in done if c.algorithm == algorithm]
    return same[-1] if same else max(c.seconds for c in done)


def _choose(candidates: list[ClusterCandidate]) -> ClusterCandidate:
    """The highest silhouette among the stable candidates (all when none is), ties to fewer
    clusters, then to an algorithm that assigns new rows itself (k-means, mixtures: no
    surrogate needed), then to the cheaper."""
    stable = [c for c in candidates if c.stability >= MIN_STABILITY]
    return max(
        stable or candidates,
        key=lambda c: (
            round(c.silhouette, 3),
            -c.n_clusters,
            c.algorithm in ("kmeans", "gmm"),
            -c.seconds,
        ),
    )


def _verdict(
    candidates: list[ClusterCandidate], best: ClusterCandidate, null: float
) -> tuple[str, bool]:
    """Why ``best``, and whether it is structure: stable, and a silhouette clearly above the
    same algorithm's on the rows with each column shuffled on its own (``null``: no joint
    structure left, the same spread)."""
    tried = f"{len(candidates)} candidates ({', '.join(sorted({c.algorithm for c in candidates}))})"
    gap = best.silhouette - null
    stable = best.stability >= MIN_STABILITY
    why = (
        f"{best.algorithm} with {best.n_clusters} clusters: the highest silhouette "
        f"({best.silhouette:.3f}) among the {'stable ' if stable else ''}candidates of {tried}; "
        f"stability {best.stability:.2f} (adjusted Rand index between resampled fits), "
        f"{gap:+.3f} silhouette against the rows with their columns shuffled"
    )
    if not stable:
        return why + f". No candidate reaches stability {MIN_STABILITY}: no clear structure", False
    if gap < MIN_GAP:
        return (
            why + f". Shuffled rows cluster as well (gap under {MIN_GAP}): no clear structure",
            False,
        )
    return why, True


def _null_silhouette(X: np.ndarray, sample: np.ndarray, best: ClusterCandidate, seed: int) -> float:
    """The best candidate's silhouette on the sample with each column permuted apart."""
    rng = np.random.default_rng(seed + 2)
    rows = X[sample].copy()
    for j in range(rows.shape[1]):
        rows[:, j] = rng.permutation(rows[:, j])
    found = _candidate(rows, np.arange(len(rows)), best.algorithm, best.n_clusters, seed, pairs=0)
    return found.silhouette if found is not None else 0.0


def _fit_all(X: np.ndarray, best: ClusterCandidate, seed: int) -> tuple[np.ndarray, Any]:
    """The chosen candidate's labels of every row, and its model when it assigns new rows
    itself (k-means, mixtures: fitted on every row). Others are fitted on a sample past
    :data:`SAMPLE_ROWS` rows and extended to the rest by the nearest cluster mean."""
    from sklearn.metrics import pairwise_distances_argmin

    fit = _FITS[best.algorithm]
    if best.algorithm in ("kmeans", "gmm"):
        model = fit(X, best.n_clusters, seed)
        return _labels_of(model, X), model
    if len(X) <= SAMPLE_ROWS:
        return _labels_of(fit(X, best.n_clusters, seed), X), None
    rng = np.random.default_rng(seed)
    rows = X[np.sort(rng.choice(len(X), size=SAMPLE_ROWS, replace=False))]
    labels = _labels_of(fit(rows, best.n_clusters, seed), rows)
    names = np.unique(labels[labels >= 0])
    centres = np.stack([rows[labels == c].mean(axis=0) for c in names])
    return np.asarray(names[pairwise_distances_argmin(X, centres)]), None


def _assigner(
    prep: Any, X: np.ndarray, labels: np.ndarray, model: Any, seed: int
) -> tuple[Any, float]:
    """A pipeline from raw rows to clusters, and how often it gives a training row its own
    cluster: the model itself where it predicts (1.0), else a surrogate classifier
    (cross-validated agreement)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import Pipeline

    if model is not None:
        return Pipeline([("prep", prep), ("assign", model)]), 1.0
    surrogate = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    smallest = int(np.unique(labels, return_counts=True)[1].min())
    folds = min(3, smallest)
    agreement = float(cross_val_score(surrogate, X, labels, cv=folds).mean()) if folds >= 2 else 1.0
    return Pipeline([("prep", prep), ("assign", surrogate.fit(X, labels))]), agreement


def _projection(
    X: np.ndarray, labels: np.ndarray, seed: int, points: int = 2_000
) -> dict[str, list[Any]]:
    """2-D principal-component coordinates of up to ``points`` rows, with their cluster."""
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    shown = np.sort(rng.choice(len(X), size=min(points, len(X)), replace=False))
    dims = min(2, X.shape[1])
    xy = PCA(n_components=dims, random_state=seed).fit(X).transform(X[shown])
    y = xy[:, 1] if dims > 1 else np.zeros(len(shown))
    return {
        "x": xy[:, 0].round(4).tolist(),
        "y": np.asarray(y).round(4).tolist(),
        "cluster": labels[shown].astype(int).tolist(),
    }
