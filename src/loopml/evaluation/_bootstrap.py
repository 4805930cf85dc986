"""Bootstrap confidence intervals for holdout metrics.

The holdout rows are resampled with replacement ``n_resamples`` times from a seeded generator;
the interval is the percentile interval of the metric over the resamples. Most metrics are
sums over rows (or over tie groups of scores, for ROC AUC and average precision), so a resample
is a vector of row counts and all resamples are scored at once with one matrix product. The
metrics without such a form (multiclass ROC AUC and PR AUC, and any metric added later) are
scored one resample at a time with :func:`loopml.metrics.score`, on at most
``SLOW_RESAMPLES`` resamples unless they are the primary metric.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from loopml.metrics import clip_proba, score
from loopml.types import TaskKind

#: Resamples used for metrics scored one resample at a time, unless they are the primary metric.
SLOW_RESAMPLES = 200
#: Resample indices are drawn in chunks of at most this many cells (rows × resamples).
_CHUNK_CELLS = 2_000_000

Scorer = Callable[[np.ndarray], np.ndarray]  # row counts (resamples × rows) -> one value each


@dataclass(frozen=True)
class Interval:
    """A metric on the holdout with its percentile bootstrap interval.

    ``low`` and ``high`` are NaN when no resample gave a defined value (e.g. ROC AUC on a
    holdout with a single class).
    """

    metric: str
    value: float
    low: float
    high: float
    level: float
    n_resamples: int
    n_undefined: int  # resamples on which the metric is undefined (one class drawn, ...)
    std: float  # the bootstrap standard error

    @property
    def width(self) -> float:
        return self.high - self.low

    def describe(self) -> str:
        """``"0.8312 (95% CI 0.8011–0.8597)"``."""
        if math.isnan(self.low):
            return f"{self.value:.4f} (no interval: undefined on every resample)"
        return f"{self.value:.4f} ({self.level:.0%} CI {self.low:.4f}–{self.high:.4f})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": _finite(self.value),
            "low": _finite(self.low),
            "high": _finite(self.high),
            "level": self.level,
            "n_resamples": self.n_resamples,
            "n_undefined": self.n_undefined,
            "std": _finite(self.std),
        }


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def resample_indices(n_rows: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Row indices of each resample, in chunks of resamples; the same for the same seed.

    Chunks concatenate to ``np.random.default_rng(seed).integers(0, n_rows, (n_resamples,
    n_rows))``: drawing in chunks only bounds the memory.
    """
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CHUNK_CELLS // max(n_rows, 1))
    done = 0
    while done < n_resamples:
        size = min(per_chunk, n_resamples - done)
        yield rng.integers(0, n_rows, size=(size, n_rows))
        done += size


def _counts(indices: np.ndarray, n_rows: int) -> np.ndarray:
    """How often each row is drawn, one line per resample."""
    b = indices.shape[0]
    flat = (indices + (np.arange(b) * n_rows)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n_rows).reshape(b, n_rows).astype(float)


@dataclass(frozen=True)
class Resampling:
    """How the holdout rows are resampled, and the coverage of the interval.

    Parameters
    ----------
    n_resamples
        How many resamples to draw.
    seed
        Seed of the generator; the same seed draws the same resamples for any metric, so
        two models scored with the same seed are compared on the same rows.
    level
        Coverage of an interval (0.95: the 2.5th to the 97.5th percentile).
    """

    n_resamples: int = 1000
    seed: int = 0
    level: float = 0.95


def bootstrap_scores(
    metric: str,
    task: TaskKind,
    y_true: Any,
    y_pred: Any,
    proba: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
    positive_class: Any = None,
    *,
    resampling: Resampling = Resampling(),  # frozen: one shared default is safe
) -> np.ndarray:
    """The metric on each bootstrap resample of the rows (NaN where undefined).

    Parameters
    ----------
    metric
        A metric name of ``loopml.yaml`` (``roc_auc``, ``rmse``, ...).
    task, y_true, y_pred, proba, classes, positive_class
        As for :func:`loopml.metrics.score`.
    resampling
        How many resamples, and the seed (its ``level`` is not used here).

    Returns
    -------
    numpy.ndarray
        ``resampling.n_resamples`` values, in the order the resamples were drawn.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([1.0, 2.0, 3.0, 4.0])
    >>> s = bootstrap_scores("mae", "regression", y, y + 1, resampling=Resampling(3, seed=0))
    >>> s.tolist()
    [1.0, 1.0, 1.0]
    """
    n_resamples, seed = resampling.n_resamples, resampling.seed
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    n = len(y_true)
    if n == 0 or n_resamples <= 0:
        return np.full(max(n_resamples, 0), np.nan)
    fast = _fast_scorer(metric, task, y_true, y_pred, proba, classes, positive_class)
    out: list[np.ndarray] = []
    for indices in resample_indices(n, n_resamples, seed):
        if fast is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                out.append(fast(_counts(indices, n)))
        else:
            out.append(
                np.array(
                    [
                        score(
                            metric,
                            task,
                            y_true[i],
                            y_pred[i],
                            None if proba is None else np.asarray(proba)[i],
                            classes,
                            positive_class,
                        )
                        for i in indices
                    ]
                )
            )
    return np.concatenate(out).astype(float)


def has_fast_path(metric: str, task: TaskKind) -> bool:
    """Whether all resamples of ``metric`` are scored at once (else one at a time)."""
    if task == "regression":
        return metric in ("mae", "rmse", "r2", "mape")
    if metric in ("roc_auc", "pr_auc"):
        return task == "binary"
    return metric in ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "log_loss")


def percentile_interval(
    metric: str, value: float, scores: np.ndarray, level: float = 0.95
) -> Interval:
    """The percentile interval of bootstrap ``scores`` around the full-sample ``value``."""
    defined = scores[~np.isnan(scores)]
    tail = (1.0 - level) / 2.0 * 100.0
    if len(defined):
        low, high = np.percentile(defined, [tail, 100.0 - tail])
        std = float(np.std(defined, ddof=1)) if len(defined) > 1 else 0.0
    else:
        low = high = std = float("nan")
    return Interval(
        metric=metric,
        value=float(value),
        low=float(low),
        high=float(high),
        level=level,
        n_resamples=len(scores),
        n_undefined=len(scores) - len(defined),
        std=std,
    )


def bootstrap_interval(
    metric: str,
    task: TaskKind,
    y_true: Any,
    y_pred: Any,
    proba: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
    positive_class: Any = None,
    *,
    resampling: Resampling = Resampling(),  # frozen: one shared default is safe
) -> Interval:
    """The metric on all rows and its percentile bootstrap interval.

    Parameters
    ----------
    metric, task, y_true, y_pred, proba, classes, positive_class
        As for :func:`loopml.metrics.score`.
    resampling
        Bootstrap resamples of the rows, their seed, and the coverage of the interval.

    Returns
    -------
    Interval

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    >>> ci = bootstrap_interval("mae", "regression", y, y + 0.5, resampling=Resampling(50, seed=1))
    >>> (ci.value, ci.low, ci.high)
    (0.5, 0.5, 0.5)
    """
    value = score(metric, task, y_true, y_pred, proba, classes, positive_class)
    scores = bootstrap_scores(
        metric, task, y_true, y_pred, proba, classes, positive_class, resampling=resampling
    )
    return percentile_interval(metric, value, scores, resampling.level)


# --------------------------------------------------------------------------- the fast paths


def _fast_scorer(
    metric: str,
    task: TaskKind,
    y: np.ndarray,
    pred: np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[Any] | None,
    positive_class: Any,
) -> Scorer | None:
    if not has_fast_path(metric, task):
        return None
    n = len(y)
    if task == "regression":
        return _regression_scorer(metric, y.astype(float), pred.astype(float))
    if metric == "accuracy":
        correct = (y == pred).astype(float)
        return lambda c: c @ correct / n
    if metric == "log_loss":
        if proba is None or classes is None:
            return None
        p = clip_proba(np.asarray(proba))
        where = {c: j for j, c in enumerate(classes)}
        if any(v not in where for v in np.unique(y).tolist()):
            return None  # a label the probabilities do not cover: let score() say so
        p_true = p[np.arange(n), [where[v] for v in y.tolist()]]
        eps = np.finfo(float).eps
        loss = -np.log(np.clip(p_true, eps, 1 - eps))
        return lambda c: c @ loss / n
    if metric in ("roc_auc", "pr_auc"):
        if proba is None or classes is None or positive_class not in list(classes):
            return None
        s = clip_proba(np.asarray(proba))[:, list(classes).index(positive_class)]
        return _ranking_scorer(metric, y == positive_class, s)
    if task == "binary" and metric != "balanced_accuracy":
        return _binary_count_scorer(metric, y == positive_class, pred == positive_class)
    labels = list(classes) if classes is not None else []
    labels += [v for v in np.unique(np.concatenate([y, pred])).tolist() if v not in labels]
    truth = np.stack([y == k for k in labels], axis=1).astype(float)
    said = np.stack([pred == k for k in labels], axis=1).astype(float)
    return _macro_scorer(metric, truth, said)


def _regression_scorer(metric: str, y: np.ndarray, pred: np.ndarray) -> Scorer:
    n = len(y)
    err = pred - y
    if metric == "mae":
        absolute = np.abs(err)
        return lambda c: c @ absolute / n
    if metric == "rmse":
        squared = err**2
        return lambda c: np.sqrt(c @ squared / n)
    if metric == "mape":
        relative = np.abs(err) / np.maximum(np.abs(y), np.finfo(float).eps)
        return lambda c: c @ relative / n
    squared = err**2

    def r2(c: np.ndarray) -> np.ndarray:
        mean = c @ y / n
        total = np.sum(c * (y[None, :] - mean[:, None]) ** 2, axis=1)
        residual = c @ squared
        out = 1.0 - residual / total
        constant = total == 0  # scikit-learn: 1 for a perfect fit of a constant, else 0
        out[constant] = np.where(residual[constant] == 0, 1.0, 0.0)
        return out

    return r2


def _binary_count_scorer(metric: str, truth: np.ndarray, said: np.ndarray) -> Scorer:
    tp_rows = (truth & said).astype(float)
    fp_rows = (~truth & said).astype(float)
    fn_rows = (truth & ~said).astype(float)

    def counts(c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return c @ tp_rows, c @ fp_rows, c @ fn_rows

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)  # zero_division=0

    def score(c: np.ndarray) -> np.ndarray:
        tp, fp, fn = counts(c)
        if metric == "precision":
            return ratio(tp, tp + fp)
        if metric == "recall":
            return ratio(tp, tp + fn)
        return ratio(2 * tp, 2 * tp + fp + fn)

    return score


def _macro_scorer(metric: str, truth: np.ndarray, said: np.ndarray) -> Scorer:
    """Macro averages over the labels present in the resample's truth or predictions."""
    hit = truth * said

    def scorer(c: np.ndarray) -> np.ndarray:
        tp, t, p = c @ hit, c @ truth, c @ said
        if metric == "balanced_accuracy":
            present = t > 0  # scikit-learn averages the recall of classes in y_true
            per_class = np.where(present, tp / np.where(present, t, 1.0), 0.0)
        else:
            present = (t + p) > 0  # labels in y_true or y_pred
            den = {"precision": p, "recall": t, "f1": t + p}[metric]
            num = 2 * tp if metric == "f1" else tp
            per_class = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
        return np.sum(per_class * present, axis=1) / np.sum(present, axis=1)

    return scorer


def _ranking_scorer(metric: str, truth: np.ndarray, s: np.ndarray) -> Scorer:
    """ROC AUC (Mann–Whitney, ties count half) or average precision over tie groups."""
    values, group = np.unique(s, return_inverse=True)  # ascending scores
    n, g = len(s), len(values)
    rows = np.arange(n)
    pos = sparse.csr_matrix((truth.astype(float), (rows, group)), shape=(n, g))
    neg = sparse.csr_matrix(((~truth).astype(float), (rows, group)), shape=(n, g))

    def scorer(c: np.ndarray) -> np.ndarray:
        wp = np.asarray((pos.T @ c.T).T)  # resamples × groups: positives drawn per score
        wn = np.asarray((neg.T @ c.T).T)
        total_p, total_n = wp.sum(axis=1), wn.sum(axis=1)
        defined = (total_p > 0) & (total_n > 0)
        if metric == "roc_auc":
            below = np.cumsum(wn, axis=1) - wn  # negatives with a strictly lower score
            out = np.sum(wp * (below + 0.5 * wn), axis=1) / (total_p * total_n)
        else:
            wp, wn = wp[:, ::-1], wn[:, ::-1]  # thresholds from the highest score down
            tp, fp = np.cumsum(wp, axis=1), np.cumsum(wn, axis=1)
            drawn = tp + fp
            precision = np.where(drawn > 0, tp / np.where(drawn > 0, drawn, 1.0), 0.0)
            out = np.sum(wp * precision, axis=1) / total_p
        return np.where(defined, out, np.nan)

    return scorer
