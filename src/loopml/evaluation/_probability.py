"""How trustworthy the predicted probabilities are: calibration, Brier score, lift and gains."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import chi2


@dataclass(frozen=True)
class CalibrationCurve:
    """The reliability diagram of one class (one-vs-rest): predicted vs observed frequency.

    Bins with no rows are left out, as in :func:`sklearn.calibration.calibration_curve`.
    """

    label: str
    mean_predicted: tuple[float, ...]
    fraction_positive: tuple[float, ...]
    counts: tuple[int, ...]
    brier: float  # mean squared error of this class's probability
    ece: float  # expected calibration error: row-weighted mean |observed − predicted|
    p_value: float  # chi-square test that the bins agree with their predictions (Hosmer–Lemeshow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "mean_predicted": list(self.mean_predicted),
            "fraction_positive": list(self.fraction_positive),
            "counts": list(self.counts),
            "brier": self.brier,
            "ece": self.ece,
            "p_value": self.p_value,
        }


@dataclass(frozen=True)
class Calibration:
    """Calibration of a classifier on the holdout.

    ``brier`` is the task's Brier score: for binary tasks that of the positive class
    (0 is perfect, 0.25 is a constant 0.5); for multiclass tasks the multiclass score, the
    mean over rows of the squared distance between the probability vector and the one-hot
    truth (0 to 2). ``reference_brier`` is the same score of always predicting the holdout's
    class frequencies, the bar a useful model clears.
    """

    curves: tuple[CalibrationCurve, ...]
    brier: float
    reference_brier: float
    n_bins: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "curves": [c.to_dict() for c in self.curves],
            "brier": self.brier,
            "reference_brier": self.reference_brier,
            "n_bins": self.n_bins,
        }


def calibration_curve(
    truth: np.ndarray, p: np.ndarray, label: str, n_bins: int = 10
) -> CalibrationCurve:
    """Uniform-width bins of the predicted probability ``p`` of ``truth`` (booleans).

    The bins and values equal those of ``sklearn.calibration.calibration_curve(truth, p,
    n_bins=n_bins)``; the counts per bin and the Brier score come with them. ``p_value``
    tests whether the observed counts could come from the predicted probabilities (the
    Hosmer–Lemeshow statistic on these bins, one degree of freedom per bin, since the model
    was not fitted on these rows): a small ECE on few rows is noise, a small p-value is not.

    Examples
    --------
    >>> import numpy as np
    >>> c = calibration_curve(np.array([0, 0, 1, 1]), np.array([0.1, 0.3, 0.6, 0.9]), "yes", 2)
    >>> (c.mean_predicted, c.fraction_positive, c.counts)
    ((0.2, 0.75), (0.0, 1.0), (2, 2))
    """
    truth = np.asarray(truth, dtype=float)
    p = np.asarray(p, dtype=float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], p)
    sums = np.bincount(ids, weights=p, minlength=n_bins)
    hits = np.bincount(ids, weights=truth, minlength=n_bins)
    total = np.bincount(ids, minlength=n_bins)
    used = total != 0
    observed = hits[used] / total[used]
    predicted = sums[used] / total[used]
    n = max(len(p), 1)
    expected = sums[used]
    variance = np.bincount(ids, weights=p * (1 - p), minlength=n_bins)[used]
    testable = variance > 1e-12
    statistic = float(np.sum((hits[used][testable] - expected[testable]) ** 2 / variance[testable]))
    dof = int(testable.sum())
    p_value = float(chi2.sf(statistic, dof)) if dof else math.nan
    return CalibrationCurve(
        label=label,
        mean_predicted=tuple(float(v) for v in predicted),
        fraction_positive=tuple(float(v) for v in observed),
        counts=tuple(int(v) for v in total[used]),
        brier=float(np.mean((truth - p) ** 2)) if len(p) else math.nan,
        ece=float(np.sum(total[used] * np.abs(observed - predicted)) / n),
        p_value=p_value,
    )


def calibration(
    y: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[Any],
    positive_class: Any = None,
    n_bins: int = 10,
) -> Calibration:
    """Calibration curves and Brier scores: the positive class, or every class one-vs-rest.

    Parameters
    ----------
    y
        True labels.
    proba
        Probabilities, columns in the order of ``classes``.
    classes
        The task's classes.
    positive_class
        For binary tasks, the class whose probability is judged; ``None`` for multiclass.
    n_bins
        Uniform bins over [0, 1].

    Returns
    -------
    Calibration
    """
    y = np.asarray(y)
    proba = np.asarray(proba, dtype=float)
    classes = list(classes)
    onehot = np.stack([y == c for c in classes], axis=1).astype(float)
    frequencies = onehot.mean(axis=0) if len(y) else np.zeros(len(classes))
    if positive_class is not None and len(classes) == 2:
        j = classes.index(positive_class)
        curve = calibration_curve(onehot[:, j], proba[:, j], str(positive_class), n_bins)
        reference = float(np.mean((onehot[:, j] - frequencies[j]) ** 2)) if len(y) else math.nan
        return Calibration((curve,), curve.brier, reference, n_bins)
    curves = tuple(
        calibration_curve(onehot[:, j], proba[:, j], str(c), n_bins) for j, c in enumerate(classes)
    )
    if len(y):
        brier = float(np.mean(np.sum((onehot - proba) ** 2, axis=1)))
        reference = float(np.mean(np.sum((onehot - frequencies) ** 2, axis=1)))
    else:
        brier = reference = math.nan
    return Calibration(curves, brier, reference, n_bins)


@dataclass(frozen=True)
class LiftRow:
    """One group of the lift table: the rows ranked ``group`` out of ``n_groups`` by score."""

    group: int
    rows: int
    positives: int
    rate: float  # share of positives in the group
    lift: float  # rate / base rate
    cumulative_rows: int
    cumulative_positives: int
    gain: float  # share of all positives found in the groups up to this one
    cumulative_lift: float
    min_score: float
    max_score: float


@dataclass(frozen=True)
class Lift:
    """A lift and gains table: rows sorted by the positive class's probability, in groups.

    The first group holds the highest scores. Ties are broken by row order, so the table is
    the same on every run.
    """

    positive_class: str
    base_rate: float
    rows: tuple[LiftRow, ...]

    def gains_curve(self) -> tuple[list[float], list[float]]:
        """Share of rows targeted (x) against share of positives found (y), from (0, 0)."""
        total = self.rows[-1].cumulative_rows if self.rows else 0
        x = [0.0] + [r.cumulative_rows / total for r in self.rows] if total else [0.0]
        y = [0.0] + [r.gain for r in self.rows]
        return x, y

    def to_dict(self) -> dict[str, Any]:
        return {
            "positive_class": self.positive_class,
            "base_rate": self.base_rate,
            "rows": [asdict(r) for r in self.rows],
        }


def lift_table(
    truth: np.ndarray, scores: np.ndarray, positive_class: Any, n_groups: int = 10
) -> Lift:
    """Lift and cumulative gains of ``scores`` for the booleans ``truth``.

    Parameters
    ----------
    truth
        True when the row is of the positive class.
    scores
        The positive class's probability (any score that ranks rows works).
    positive_class
        The positive class, for the labels.
    n_groups
        Groups of (nearly) equal size; 10 gives deciles. Fewer rows than groups give one
        group per row.

    Returns
    -------
    Lift

    Examples
    --------
    >>> import numpy as np
    >>> t = lift_table(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.3, 0.1]), "yes", 2)
    >>> [(r.positives, r.lift, r.gain) for r in t.rows]
    [(1, 1.0, 0.5), (1, 1.0, 1.0)]
    """
    truth = np.asarray(truth).astype(bool)
    scores = np.asarray(scores, dtype=float)
    n = len(truth)
    order = np.argsort(-scores, kind="stable")
    total_pos = int(truth.sum())
    base = total_pos / n if n else math.nan
    rows: list[LiftRow] = []
    cum_rows = cum_pos = 0
    for g, idx in enumerate(np.array_split(order, min(n_groups, n)) if n else [], start=1):
        pos = int(truth[idx].sum())
        cum_rows += len(idx)
        cum_pos += pos
        rate = pos / len(idx)
        cum_rate = cum_pos / cum_rows
        rows.append(
            LiftRow(
                group=g,
                rows=len(idx),
                positives=pos,
                rate=rate,
                lift=rate / base if base else math.nan,
                cumulative_rows=cum_rows,
                cumulative_positives=cum_pos,
                gain=cum_pos / total_pos if total_pos else math.nan,
                cumulative_lift=cum_rate / base if base else math.nan,
                min_score=float(scores[idx].min()),
                max_score=float(scores[idx].max()),
            )
        )
    return Lift(positive_class=str(positive_class), base_rate=base, rows=tuple(rows))
