"""Anomaly detection: detectors, their combination, and the threshold that flags a row
(issue 14). The lifecycle wiring (``problem.task: anomaly``) is still to come; this is the
search it will call.

Rows are prepared as for clustering (:class:`~loopml.modeling._clustering.ClusterFeatures`).
Three detectors: an isolation forest, the local outlier factor (fitted for new rows:
``novelty=True``) and a robust Mahalanobis distance (minimum covariance determinant). Each
detector's raw scores are put on one scale, the robust z-score ``(s - median) / (1.4826 MAD)``
of the training rows (the MAD of the upper half: scores are skewed towards the anomalies), so
they can be averaged.

Without labels the combined score (the mean of the three z-scores) is used: no single
detector is best on every kind of anomaly, and their average is the robust choice. With a
label column (``labels``; the rows flagged ``positive`` are the known anomalies), each
detector and the combination are fitted on the rows of a training part and ranked by PR-AUC
on the rest; the best is refitted on every row.

The threshold: with ``contamination`` (a share of rows), the training scores' quantile that
flags that share; with labels, the score that maximises F1 on the held-out rows; otherwise a
combined z-score of 3.5 (Iglewicz and Hoaglin's cut-off for the modified z-score).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

DETECTORS = ("isolation_forest", "local_outlier_factor", "robust_distance")
COMBINED = "combined"
AUTO_Z = 3.5
MAD_SCALE = 1.4826  # MAD to standard deviation for normal data
MAX_FIT_ROWS = 20_000  # LOF and the covariance are fitted on a sample past this


class AnomalyModel(BaseEstimator):
    """Raw rows -> anomaly scores (higher: more anomalous) and flags.

    Parameters
    ----------
    roles
        Column -> role (numeric, boolean, categorical are used).
    detectors
        Which detectors score; several are averaged on the robust z scale.
    seed
        Seeds the forest and the samples.
    """

    def __init__(
        self, roles: dict[str, str], detectors: Sequence[str] = DETECTORS, seed: int = 0
    ) -> None:
        self.roles = roles
        self.detectors = detectors
        self.seed = seed

    def fit(self, X: pd.DataFrame, y: Any = None) -> AnomalyModel:
        from loopml.modeling._clustering import ClusterFeatures

        self.prep_ = ClusterFeatures(
            {c: r for c, r in self.roles.items() if r in ("numeric", "boolean", "categorical")},
            self.seed,
        ).fit(X)
        rows = self.prep_.transform(X)
        rng = np.random.default_rng(self.seed)
        fit_rows = rows
        if len(rows) > MAX_FIT_ROWS:
            fit_rows = rows[np.sort(rng.choice(len(rows), MAX_FIT_ROWS, replace=False))]
        # the robust distance reads the numbers only: one-hot columns make its covariance
        # singular
        self.numeric_ = np.asarray(self.prep_.scale_ == 1.0)
        names = [n for n in self.detectors if n != "robust_distance" or self.numeric_.sum() > 1]
        self.models_ = {n: _DETECTORS[n](self._columns(n, fit_rows), self.seed) for n in names}
        raw = self._raw(rows)
        self.centre_ = {n: float(np.median(s)) for n, s in raw.items()}
        self.spread_ = {n: _mad(s) for n, s in raw.items()}
        self.threshold_ = AUTO_Z
        return self

    def _columns(self, name: str, rows: np.ndarray) -> np.ndarray:
        return rows[:, self.numeric_] if name == "robust_distance" else rows

    def _raw(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        for name, model in self.models_.items():
            if name == "robust_distance":
                out[name] = np.sqrt(model.mahalanobis(self._columns(name, rows)))
            else:
                out[name] = -model.score_samples(rows)  # scikit-learn: lower is more abnormal
        return out

    def score_samples(self, X: pd.DataFrame) -> np.ndarray:
        """The anomaly score of each row: the mean robust z-score of the detectors."""
        raw = self._raw(self.prep_.transform(X))
        z = [(raw[n] - self.centre_[n]) / self.spread_[n] for n in self.models_]
        return np.asarray(np.mean(z, axis=0), dtype=float)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 for the rows flagged as anomalies (score above the threshold), else 0."""
        return (self.score_samples(X) > self.threshold_).astype(int)


def _mad(scores: np.ndarray) -> float:
    """The spread of the upper half (double MAD): detectors' scores are skewed to the right,
    where anomalies are, and the lower half's spread would understate it."""
    centre = np.median(scores)
    upper = scores[scores >= centre] - centre
    spread = MAD_SCALE * float(np.median(upper)) if len(upper) else 0.0
    return spread if spread > 0 else float(np.std(scores)) or 1.0


def _forest(rows: np.ndarray, seed: int) -> Any:
    from sklearn.ensemble import IsolationForest

    return IsolationForest(n_estimators=200, random_state=seed).fit(rows)


def _lof(rows: np.ndarray, seed: int) -> Any:
    from sklearn.neighbors import LocalOutlierFactor

    return LocalOutlierFactor(n_neighbors=min(35, len(rows) - 1), novelty=True).fit(rows)


def _robust(rows: np.ndarray, seed: int) -> Any:
    import warnings

    from sklearn.covariance import MinCovDet

    with warnings.catch_warnings():
        # "Determinant has increased": C-steps on columns with few distinct values (counts,
        # flags) wobble by rounding; the fit is still the minimum found, and the warning
        # came once per C-step, a thousand times per training
        warnings.filterwarnings("ignore", "Determinant has increased", RuntimeWarning)
        return MinCovDet(random_state=seed, support_fraction=0.75).fit(rows)


_DETECTORS = {
    "isolation_forest": _forest,
    "local_outlier_factor": _lof,
    "robust_distance": _robust,
}


@dataclass(frozen=True)
class AnomalyResult:
    """The fitted detector, its threshold and why, and (with labels) how each did."""

    model: AnomalyModel
    scores: np.ndarray  # of the training rows
    threshold: float
    threshold_rule: str  # "contamination 0.02", "F1 on labels", "robust z > 3.5"
    detector: str  # a detector's name, or "combined"
    evaluation: dict[str, dict[str, float]] = field(default_factory=dict)  # with labels
    reason: str = ""

    @property
    def flags(self) -> np.ndarray:
        return self.scores > self.threshold

    def most_anomalous(self, n: int = 20) -> np.ndarray:
        """Positions of the ``n`` highest-scoring training rows, highest first."""
        return np.argsort(-self.scores, kind="stable")[:n]


def search_anomalies(
    frame: pd.DataFrame,
    roles: dict[str, str],
    *,
    labels: pd.Series | np.ndarray | None = None,
    positive: Any = True,
    contamination: float | None = None,
    seed: int = 0,
) -> AnomalyResult:
    """Fit the detector for ``frame`` and choose its threshold (module docstring).

    Raises
    ------
    ValueError
        Fewer than 20 rows, a ``contamination`` outside (0, 0.5], or labels without an
        anomaly among them.
    """
    if len(frame) < 20:
        raise ValueError(f"anomaly detection needs at least 20 rows, got {len(frame)}")
    if contamination is not None and not 0 < contamination <= 0.5:
        raise ValueError(f"contamination must be a share in (0, 0.5], got {contamination}")
    truth = None
    if labels is not None:
        truth = np.asarray(labels) == positive
        if not truth.any():
            raise ValueError(f"no row of the label column is {positive!r}: no known anomaly")
    evaluation: dict[str, dict[str, float]] = {}
    detector = COMBINED
    members: tuple[str, ...] = DETECTORS
    if truth is not None:
        evaluation, detector = _rank_on_labels(frame, roles, truth, seed)
        members = tuple(DETECTORS) if detector == COMBINED else (detector,)
    model = AnomalyModel(roles, members, seed).fit(frame)
    scores = model.score_samples(frame)
    threshold, rule = _threshold(scores, truth, contamination, evaluation.get(detector))
    model.threshold_ = threshold
    reason = (
        f"{detector.replace('_', ' ')}: the best PR-AUC on held-out labelled rows "
        f"({evaluation[detector]['pr_auc']:.3f})"
        if truth is not None
        else "the mean of the three detectors' robust z-scores (no labels to choose one)"
    )
    return AnomalyResult(model, scores, threshold, rule, detector, evaluation, reason)


def _rank_on_labels(
    frame: pd.DataFrame, roles: dict[str, str], truth: np.ndarray, seed: int
) -> tuple[dict[str, dict[str, float]], str]:
    """Each detector and the combination fitted on 70% of the rows, scored on the rest."""
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import train_test_split

    train, held = train_test_split(
        np.arange(len(frame)), test_size=0.3, random_state=seed, stratify=truth
    )
    found: dict[str, dict[str, float]] = {}
    for name in (*DETECTORS, COMBINED):
        members = DETECTORS if name == COMBINED else (name,)
        model = AnomalyModel(roles, members, seed).fit(frame.iloc[train])
        scores = model.score_samples(frame.iloc[held])
        cut = _best_f1_cut(scores, truth[held])
        flagged = scores > cut
        found[name] = {
            "pr_auc": float(average_precision_score(truth[held], scores)),
            "precision": float(truth[held][flagged].mean()) if flagged.any() else 0.0,
            "recall": float(flagged[truth[held]].mean()),
            "threshold": float(cut),
        }
    best = max(found, key=lambda n: (found[n]["pr_auc"], n == COMBINED))
    return found, best


def _best_f1_cut(scores: np.ndarray, truth: np.ndarray) -> float:
    from sklearn.metrics import precision_recall_curve

    precision, recall, cuts = precision_recall_curve(truth, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.argmax(f1[:-1])) if len(cuts) else 0
    return float(cuts[best] - 1e-9) if len(cuts) else float(np.max(scores))


def _threshold(
    scores: np.ndarray,
    truth: np.ndarray | None,
    contamination: float | None,
    held_out: dict[str, float] | None,
) -> tuple[float, str]:
    if contamination is not None:
        return float(np.quantile(scores, 1 - contamination)), f"contamination {contamination:g}"
    if truth is not None and held_out is not None:
        return held_out["threshold"], "the best F1 on held-out labelled rows"
    return AUTO_Z, f"robust z-score above {AUTO_Z:g}"
