"""Leakage through a pair of columns: a target that two features predict almost perfectly.

A target computed from two columns (their sum, average, difference or product, a pass mark on
their mean) escapes the one-feature check: each column alone predicts it only partly. Here a
few promising pairs of number columns get two simple models, each scored out of fold on the
halves the one-feature check uses:

* a linear model (least squares on the two standardised columns): sums, averages, differences
  and, for classes, a straight boundary between them;
* the mean target of the ``K_NEIGHBOURS`` nearest rows in the other half, on the columns' ranks:
  any smooth function of the two (a product, a ratio).

Scores are R² for regression (on the target itself), ROC-AUC for binary targets (class 1 as
the positive) and balanced accuracy for multiclass targets. A pair has more freedom than one
column, so it must come ``STRICTNESS`` times closer to perfect: with the default
``quality.leakage_auc`` of 0.98 a pair is flagged from 0.995.

Promising pairs: the ``LINEAR_PAIRS`` best by the in-sample R² of a linear fit, computed for
every pair at once from the correlation matrix, and every pair among the ``TOP_FEATURES``
columns that score best alone. At most ``PAIR_ROWS`` rows are used; the cost stays a few
milliseconds per pair.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loopml.data._quality_base import N_EXAMPLES, plain
from loopml.data._schema import to_numeric
from loopml.types import Finding

PAIR_ROWS = 2000
STRICTNESS = 4.0
TOP_FEATURES = 5
LINEAR_PAIRS = 10
MAX_COLUMNS = 300
K_NEIGHBOURS = 10
#: A pair is scored on the rows where both columns are present, if they are this share.
MIN_COMPLETE = 0.9
MAX_FINDINGS = 3


def pair_threshold(leakage_auc: float) -> float:
    """The score from which a pair of columns is flagged: ``1 - (1 - leakage_auc) / 4``."""
    return 1 - (1 - leakage_auc) / STRICTNESS


@dataclass(frozen=True)
class ScoredTarget:
    """The target as the leakage checks score it, on the rows of ``frame``."""

    frame: pd.DataFrame
    name: Any  # the target column
    y: np.ndarray  # the target's values for regression, class codes otherwise
    task: str
    n_classes: int
    fold: np.ndarray  # marks one of the two halves each is predicted from the other


def pair_findings(
    target: ScoredTarget,
    *,
    candidates: Mapping[Any, float],
    leakage_auc: float,
    n_present: Mapping[Any, int],
    note: str,
) -> list[Finding]:
    """Pairs of the number columns ``candidates`` (column -> its one-feature score) that
    predict the target almost perfectly together."""
    frame, task, n_classes = target.frame, target.task, target.n_classes
    limit = pair_threshold(leakage_auc)
    if limit >= 1.0 or len(candidates) < 2 or len(target.y) < 50:
        return []
    rows = np.arange(len(target.y))
    if len(rows) > PAIR_ROWS:  # every other row, then every third...: keeps both halves mixed
        rows = rows[:: int(np.ceil(len(rows) / PAIR_ROWS))]
    ranked = sorted(candidates, key=lambda c: -candidates[c])[:MAX_COLUMNS]
    X = np.column_stack([to_numeric(frame[c]).to_numpy(dtype=float)[rows] for c in ranked])
    X[~np.isfinite(X)] = np.nan
    y, fold = target.y[rows], target.fold[rows]
    target_codes = y.astype(float) if task == "regression" else _one_hot(y, n_classes)
    pairs = _linear_screen(X, target_codes)[:LINEAR_PAIRS]
    pairs += list(itertools.combinations(range(min(TOP_FEATURES, len(ranked))), 2))
    found: list[tuple[float, str, int, int]] = []
    for i, j in dict.fromkeys(tuple(sorted(p)) for p in pairs):
        both = ~(np.isnan(X[:, i]) | np.isnan(X[:, j]))
        if both.mean() < MIN_COMPLETE or both.sum() < 50:
            continue
        score, model = _best_score(X[both][:, [i, j]], y[both], task, n_classes, fold[both])
        if score < limit:
            continue
        alone = max(
            _best_score(X[both][:, [k]], y[both], task, n_classes, fold[both])[0] for k in (i, j)
        )
        if alone < limit:  # a column that does it alone belongs to the one-feature check
            found.append((score, model, i, j))
    found.sort(key=lambda f: -f[0])
    out = []
    for score, model, i, j in found[:MAX_FINDINGS]:
        a, b = sorted((ranked[i], ranked[j]), key=list(frame.columns).index)
        count = min(int(n_present.get(a, len(y))), int(n_present.get(b, len(y))))
        examples = tuple(
            {str(c): plain(frame[c].iloc[r]) for c in (a, b, target.name)}
            for r in rows[:N_EXAMPLES]
        )
        out.append(_pair_finding((a, b), count, (score, model, limit), task, examples, note))
    return out


def _pair_finding(
    pair: tuple[Any, Any],
    count: int,
    scored: tuple[float, str, float],
    task: str,
    examples: tuple[dict[str, Any], ...],
    note: str,
) -> Finding:
    """The warning for one pair: ``scored`` is (score, model, the threshold it passed)."""
    a, b = pair
    score, model, limit = scored
    metric = {"regression": "R²", "binary": "ROC-AUC"}.get(task, "balanced accuracy")
    shown = f"{str(a)!r} and {str(b)!r}"
    return Finding(
        id="suspected-leakage",
        severity="warning",
        column=f"{a}, {b}",
        count=count,
        message=f"columns {shown} together predict the target almost perfectly "
        f"({metric} {score:.4f} out of fold with {model}; a pair is flagged from "
        f"{limit:.4g} = 1 - (1 - quality.leakage_auc) / {STRICTNESS:g}){note}: the "
        "target may be computed from them (a sum, an average, a difference) or one of "
        "them recorded after it.",
        examples=examples,
        suggestion=f"If the target is derived from {shown}, or one of them is only "
        "known after the outcome, drop it with data.drop_columns; if they are "
        "legitimately this strong together, raise quality.leakage_auc to accept it.",
    )


def _one_hot(codes: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((len(codes), max(n_classes, 2)))
    out[np.arange(len(codes)), codes] = 1.0
    return out[:, 1:2] if n_classes == 2 else out


def _linear_screen(X: np.ndarray, y: np.ndarray) -> list[tuple[int, int]]:
    """Pairs by the in-sample R² of a least-squares fit on the two (averaged over the target's
    columns), best first: from correlations, R² = (r_a² + r_b² - 2 r_a r_b r_ab) / (1 - r_ab²).
    """
    filled = np.where(np.isnan(X), np.nanmedian(X, axis=0), X)
    targets = y.reshape(len(y), -1)
    keep = (filled.std(axis=0) > 0) & ~np.isnan(filled).any(axis=0)
    index = np.flatnonzero(keep)
    if len(index) < 2:
        return []
    Z = _standardise(filled[:, index])
    T = _standardise(targets[:, targets.std(axis=0) > 0])
    if T.shape[1] == 0:
        return []
    n = len(Z)
    R = Z.T @ Z / n
    r = Z.T @ T / n  # features x target columns
    i, j = np.triu_indices(len(index), k=1)
    den = 1 - R[i, j] ** 2
    num = r[i] ** 2 + r[j] ** 2 - 2 * r[i] * r[j] * R[i, j][:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(den[:, None] > 1e-9, num / den[:, None], 0.0).mean(axis=1)
    order = np.argsort(-r2, kind="stable")[: 4 * LINEAR_PAIRS]
    return [(int(index[i[k]]), int(index[j[k]])) for k in order]


def _standardise(X: np.ndarray) -> np.ndarray:
    std = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)


def _best_score(
    X: np.ndarray, y: np.ndarray, task: str, n_classes: int, fold: np.ndarray
) -> tuple[float, str]:
    """The better out-of-fold score of the linear and the nearest-neighbour model."""
    if fold.all() or not fold.any():
        return 0.0, ""
    targets = y.astype(float)[:, None] if task == "regression" else _one_hot(y, n_classes)
    linear = np.empty_like(targets)
    nearest = np.empty_like(targets)
    ranks = _stats().rankdata(X, axis=0) / len(X)  # ties share a rank
    design = np.column_stack([np.ones(len(X)), _standardise(X)])
    tree_type = _kdtree()
    for part in (fold, ~fold):
        train = ~part
        coef, *_ = np.linalg.lstsq(design[train], targets[train], rcond=None)
        linear[part] = design[part] @ coef
        k = min(K_NEIGHBOURS, int(train.sum()))
        _, idx = tree_type(ranks[train]).query(ranks[part], k=k)
        nearest[part] = targets[train][idx.reshape(len(idx), -1)].mean(axis=1)
    scores = [
        (_score(linear, y, task), "a linear model on the two"),
        (_score(nearest, y, task), f"the mean of the {K_NEIGHBOURS} nearest rows"),
    ]
    return max(scores, key=lambda s: s[0])


def _score(predicted: np.ndarray, y: np.ndarray, task: str) -> float:
    if task == "regression":
        t = y.astype(float)
        total = float(np.sum((t - t.mean()) ** 2))
        return 1 - float(np.sum((t - predicted[:, 0]) ** 2)) / total if total else 0.0
    if task == "binary" or predicted.shape[1] == 1:
        positive = y == 1
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        if not n_pos or not n_neg:
            return 0.0
        ranks = _stats().rankdata(predicted[:, 0])
        return (float(ranks[positive].sum()) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    guess = np.argmax(predicted, axis=1)
    recalls = [np.mean(guess[y == k] == k) for k in np.unique(y)]
    return float(np.mean(recalls))


def _kdtree() -> Any:
    from scipy.spatial import cKDTree

    return cKDTree


def _stats() -> Any:
    from scipy import stats

    return stats
