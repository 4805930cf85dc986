"""The statistical quality checks: suspected leakage and train/holdout mismatch.

Both run on a sample and say so. Leakage scores each feature alone against the target with a
one-feature model evaluated out of fold (two halves, each predicted from the other):

* the feature's values are grouped (categories as labels, numbers in up to ``N_BINS``
  quantile bins, missing as its own group) and each group predicts the smoothed target mean
  (or class shares) it had in the other half;
* the score is ROC-AUC for binary targets, balanced accuracy for multiclass targets and R² on
  the target's ranks for regression, compared with ``quality.leakage_auc``.

Out-of-fold encoding keeps identifiers and other unique values at chance level. A feature that
is the target relabelled (a one-to-one map between their values) is reported as a copy. Pairs
of number columns that predict the target together are checked by
:mod:`loopml.data._quality_pairs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from loopml.data._quality_base import N_EXAMPLES, plain
from loopml.data._quality_pairs import ScoredTarget, pair_findings
from loopml.data._schema import to_datetime, to_numeric
from loopml.types import Finding

LEAKAGE_ROWS = 100_000
N_BINS = 100
MAX_GROUPS = 2000
#: train/holdout mismatch: a KS statistic or PSI this large, with a p-value this small.
KS_LIMIT = 0.1
PSI_LIMIT = 0.2
P_LIMIT = 1e-3
MISSING_SHIFT = 0.1
_MISSING_LABEL = "(missing)"
_SMOOTHING = 0.1  # weight of the prior in a group's out-of-fold estimate; unseen groups get it


# --------------------------------------------------------------------------------------------
# leakage


def leakage_findings(
    sample: pd.DataFrame,
    *,
    target: Any,
    task: str,
    kinds: Mapping[Any, str],
    threshold: float,
    n_present: Mapping[Any, int],
    note: str,
    seed: int,
) -> list[Finding]:
    """Features that predict the target almost perfectly, and renamed copies of the target.

    ``kinds`` maps each feature to ``number``, ``time``, ``label`` or ``skip``.
    """
    rng = np.random.default_rng(seed)
    encoded = _encode_target(sample, target, task, rng)
    if encoded is None:
        return []
    frame, y, y_raw, n_classes = encoded
    n = len(frame)
    if n < 20:
        return []
    fold = np.zeros(n, dtype=bool)
    fold[rng.permutation(n)[: n // 2]] = True
    scored = ScoredTarget(frame, target, y, task, n_classes, fold)
    out: list[Finding] = []
    singles: dict[Any, float] = {}  # number columns not flagged alone -> their score
    for name, kind in kinds.items():
        if kind == "skip":
            continue
        exact, missing, values = _exact_groups(frame[name], kind)
        n_exact = int(exact.max()) + 1 if n else 0
        if n_exact < 2:
            continue
        count = int(n_present.get(name, n))
        examples = _examples(frame[name], exact, y_raw)
        if _is_copy(exact, missing, values, y, y_raw, task):
            out.append(_copy_finding(name, target, count, examples, note))
            continue
        score, metric = _score(_groups(exact, values, kind), y, task, n_classes, fold)
        if score >= threshold:
            out.append(_strong_finding(name, count, (score, metric, threshold), examples, note))
        elif kind == "number":
            singles[name] = score
    pairs_target = replace(scored, y=y_raw.astype(float) if task == "regression" else y)
    out += pair_findings(
        pairs_target, candidates=singles, leakage_auc=threshold, n_present=n_present, note=note
    )
    return out


def _encode_target(
    sample: pd.DataFrame, target: Any, task: str, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, int] | None:
    """The rows with a target, the target as scored (ranks or class codes), its values and
    the number of classes; None when fewer than two classes can be scored out of fold."""
    frame = sample[_present(sample[target])]
    if len(frame) > LEAKAGE_ROWS:
        frame = frame.iloc[np.sort(rng.choice(len(frame), LEAKAGE_ROWS, replace=False))]
    if task == "regression":
        y_raw = to_numeric(frame[target]).to_numpy(dtype=float)
        keep = np.isfinite(y_raw)
        frame, y_raw = frame[keep], y_raw[keep]
        return frame, _stats().rankdata(y_raw) / max(len(y_raw), 1), y_raw, 0
    labels = frame[target]
    if pd.api.types.is_string_dtype(labels) or pd.api.types.is_object_dtype(labels):
        labels = labels.astype(str).str.strip()
    codes, uniques = pd.factorize(labels)
    keep = np.bincount(codes)[codes] >= 2  # one-row classes cannot be scored out of fold
    frame = frame[keep]
    codes, uniques = pd.factorize(labels[keep])
    y_raw = np.asarray(uniques, dtype=object)[codes]
    if len(uniques) < 2:
        return None
    return frame, codes.astype(np.int64), y_raw, len(uniques)


def _copy_finding(
    name: Any, target: Any, count: int, examples: tuple[dict[str, Any], ...], note: str
) -> Finding:
    label = str(name)
    return Finding(
        id="suspected-leakage",
        severity="error",
        column=label,
        count=count,
        message=f"column {label!r} is a copy of the target {str(target)!r} up to a "
        f"relabelling of its values{note}; a model would learn nothing but this.",
        examples=examples,
        suggestion=f"Drop {label!r} with data.drop_columns; if it is the real target, "
        "point problem.target at it instead.",
    )


def _strong_finding(
    name: Any,
    count: int,
    scored: tuple[float, str, float],
    examples: tuple[dict[str, Any], ...],
    note: str,
) -> Finding:
    """One column that predicts the target alone; ``scored`` is (score, metric, threshold)."""
    label = str(name)
    score, metric, threshold = scored
    return Finding(
        id="suspected-leakage",
        severity="warning",
        column=label,
        count=count,
        message=f"column {label!r} alone predicts the target almost perfectly "
        f"({metric} {score:.3f} out of fold, quality.leakage_auc = {threshold:g})"
        f"{note}; it may be derived from the target or recorded after it.",
        examples=examples,
        suggestion=f"If {label!r} is only known after the outcome, drop it with "
        "data.drop_columns; if it is legitimately this strong, raise "
        "quality.leakage_auc to accept it.",
    )


def _present(values: pd.Series) -> np.ndarray:
    present = values.notna()
    if pd.api.types.is_string_dtype(values) or pd.api.types.is_object_dtype(values):
        present &= (values.astype("string").str.strip() != "").fillna(False).astype(bool)
    return present.to_numpy(dtype=bool)


def _exact_groups(values: pd.Series, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Group codes of the distinct values (missing is the last group), where values are
    missing, and the numbers if the values are numbers or times."""
    numbers: np.ndarray | None = None
    if kind == "number":
        numbers = to_numeric(values).to_numpy(dtype=float)
        keys: Any = numbers
    elif kind == "time":
        stamps = to_datetime(values)
        numbers = np.where(stamps.isna(), np.nan, stamps.to_numpy().astype("int64").astype(float))
        keys = numbers
    else:
        text = values.astype("string").str.strip().str.casefold()
        keys = text.mask(text == "")
    codes, uniques = pd.factorize(keys, use_na_sentinel=True)
    missing = codes < 0
    return np.where(missing, len(uniques), codes).astype(np.int64), missing, numbers


def _groups(exact: np.ndarray, numbers: np.ndarray | None, kind: str) -> np.ndarray:
    """Codes for scoring: numbers in quantile bins, at most ``MAX_GROUPS`` labels."""
    n_exact = int(exact.max()) + 1
    n_bins = min(N_BINS, max(2, len(exact) // 10))  # at least about 5 rows per bin and half
    if numbers is not None and n_exact > n_bins:
        finite = np.isfinite(numbers)
        edges = np.unique(np.quantile(numbers[finite], np.linspace(0, 1, n_bins + 1)))
        codes = np.searchsorted(edges[1:-1], numbers, side="right")
        return np.where(finite, codes, len(edges)).astype(np.int64)
    if n_exact > MAX_GROUPS:
        order = np.argsort(-np.bincount(exact), kind="stable")
        rank = np.empty(n_exact, dtype=np.int64)
        rank[order] = np.arange(n_exact)
        return np.minimum(rank[exact], MAX_GROUPS)
    return exact


def _is_copy(
    exact: np.ndarray,
    missing: np.ndarray,
    numbers: np.ndarray | None,
    y: np.ndarray,
    y_raw: np.ndarray,
    task: str,
) -> bool:
    """A one-to-one map between the feature's values and the target's (or, for regression,
    an exact linear relation), with or without the rows where the feature is missing."""
    if task == "regression":
        if numbers is None:
            return False
        both = np.isfinite(numbers) & np.isfinite(y_raw)
        if both.mean() < 0.9 or both.sum() < 3:
            return False
        x, t = numbers[both], y_raw[both]
        if np.std(x) == 0 or np.std(t) == 0:
            return False
        return bool(abs(np.corrcoef(x, t)[0, 1]) >= 0.9999)
    if int(exact.max()) + 1 > int(y.max()) + 2:  # more values than classes (and missing)
        return False
    for rows in (np.ones(len(exact), dtype=bool), ~missing):
        if rows.mean() < 0.9:
            continue
        f, t = exact[rows], y[rows]
        n_f, n_t = len(np.unique(f)), len(np.unique(t))
        if n_f >= 2 and n_f == n_t == len(np.unique(f * (int(y.max()) + 1) + t)):
            return True
    return False


def _score(
    groups: np.ndarray, y: np.ndarray, task: str, n_classes: int, fold: np.ndarray
) -> tuple[float, str]:
    n_groups = int(groups.max()) + 1
    if task == "multiclass":
        predicted = np.empty(len(y), dtype=np.int64)
        for part in (fold, ~fold):
            train = ~part
            table = np.bincount(
                groups[train] * n_classes + y[train], minlength=n_groups * n_classes
            ).reshape(n_groups, n_classes)
            class_prior = np.bincount(y[train], minlength=n_classes) / max(int(train.sum()), 1)
            predicted[part] = np.argmax((table + _SMOOTHING * class_prior)[groups[part]], axis=1)
        recalls = [np.mean(predicted[y == k] == k) for k in range(n_classes) if (y == k).any()]
        return float(np.mean(recalls)), "balanced accuracy"
    target = y.astype(float)
    predicted_f = np.empty(len(y))
    for part in (fold, ~fold):
        train = ~part
        sums = np.bincount(groups[train], weights=target[train], minlength=n_groups)
        counts = np.bincount(groups[train], minlength=n_groups)
        prior = float(target[train].mean())
        predicted_f[part] = ((sums + _SMOOTHING * prior) / (counts + _SMOOTHING))[groups[part]]
    if task == "regression":
        total = float(np.sum((target - target.mean()) ** 2))
        r2 = 1 - float(np.sum((target - predicted_f) ** 2)) / total if total else 0.0
        return r2, "R² on the target's ranks"
    positive = target == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    ranks = _stats().rankdata(predicted_f)
    auc = (float(ranks[positive].sum()) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return max(auc, 1 - auc), "ROC-AUC"


def _examples(values: pd.Series, groups: np.ndarray, y_raw: np.ndarray) -> tuple[Any, ...]:
    """A few (value, target) pairs, one per common value."""
    firsts = pd.Series(groups).drop_duplicates()
    common = np.argsort(-np.bincount(groups)[firsts.to_numpy()], kind="stable")
    rows = firsts.index.to_numpy()[common][:N_EXAMPLES]
    return tuple({"value": plain(values.iloc[i]), "target": plain(y_raw[i])} for i in sorted(rows))


# --------------------------------------------------------------------------------------------
# train / holdout mismatch


def holdout_findings(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    kinds: Mapping[Any, str],
    note: str,
    n_holdout: int,
) -> list[Finding]:
    """Columns whose distribution differs clearly between ``train`` and ``holdout``.

    Numbers: two-sample Kolmogorov-Smirnov test, flagged when the statistic is at least
    ``KS_LIMIT``. Labels: chi-square test on the label counts, flagged when the population
    stability index is at least ``PSI_LIMIT``. Both also need a p-value below ``P_LIMIT``. A
    missing share that moves by ``MISSING_SHIFT`` or more is flagged too.
    """
    out: list[Finding] = []
    for name, kind in kinds.items():
        label = str(name)
        if name not in holdout.columns:
            out.append(
                Finding(
                    id="train-holdout-mismatch",
                    severity="warning",
                    column=label,
                    count=n_holdout,
                    message=f"column {label!r} is in the training data but not in the holdout.",
                    suggestion="Give both tables the same columns (check the query or export), "
                    f"or drop {label!r} with data.drop_columns.",
                )
            )
            continue
        if kind in ("skip", "time"):
            continue
        a, b = train[name], holdout[name]
        present_a, present_b = _present(a), _present(b)
        if present_a.sum() < 20 or present_b.sum() < 20:
            continue
        reasons: list[str] = []
        examples: dict[str, Any] = {}
        shift = abs(float(1 - present_a.mean()) - float(1 - present_b.mean()))
        if shift >= MISSING_SHIFT:
            reasons.append(
                f"missing share {1 - present_a.mean():.1%} in training, "
                f"{1 - present_b.mean():.1%} in the holdout"
            )
        if kind == "number":
            xa = to_numeric(a[present_a]).dropna().to_numpy(dtype=float)
            xb = to_numeric(b[present_b]).dropna().to_numpy(dtype=float)
            if len(xa) >= 20 and len(xb) >= 20:
                result = _stats().ks_2samp(xa, xb)
                examples = {
                    "train_median": float(np.median(xa)),
                    "holdout_median": float(np.median(xb)),
                    "ks_statistic": round(float(result.statistic), 4),
                    "p_value": float(result.pvalue),
                }
                if result.statistic >= KS_LIMIT and result.pvalue < P_LIMIT:
                    reasons.append(
                        f"KS statistic {result.statistic:.3f} (p = {result.pvalue:.2g}); median "
                        f"{np.median(xa):.4g} in training, {np.median(xb):.4g} in the holdout"
                    )
        else:
            psi, p_value, shares = _label_shift(a, b)
            examples = {"psi": round(psi, 4), "p_value": p_value, "shares": shares}
            if psi >= PSI_LIMIT and p_value < P_LIMIT:
                reasons.append(f"PSI {psi:.3f} (chi-square p = {p_value:.2g})")
        if reasons:
            out.append(
                Finding(
                    id="train-holdout-mismatch",
                    severity="warning",
                    column=label,
                    count=n_holdout,
                    message=f"column {label!r} is distributed differently in the holdout: "
                    f"{'; '.join(reasons)}{note}.",
                    examples=(examples,) if examples else (),
                    suggestion="Check that both come from the same population and period; a "
                    "time-ordered split (training.split: time) makes this expected, a random "
                    "one should not show it.",
                )
            )
    return out


def _label_shift(a: pd.Series, b: pd.Series) -> tuple[float, float, dict[str, list[float]]]:
    """PSI and chi-square p-value of the label shares (top 50 labels, the rest as one)."""

    def label_counts(values: pd.Series) -> pd.Series:
        counts = values.astype("string").value_counts(dropna=False)  # normalise each once
        text = pd.Series(counts.index, dtype="string").str.strip().str.casefold()
        keys = text.mask(text == "").fillna(_MISSING_LABEL).astype(object).to_numpy()
        return pd.Series(counts.to_numpy(), index=keys).groupby(level=0).sum()

    ca, cb = label_counts(a), label_counts(b)
    both = ca.add(cb, fill_value=0).sort_values(ascending=False)
    top = list(both.index[:50])
    table = np.array(
        [
            [*(ca.get(k, 0) for k in top), ca.drop(top, errors="ignore").sum()],
            [*(cb.get(k, 0) for k in top), cb.drop(top, errors="ignore").sum()],
        ],
        dtype=float,
    )
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0, {}
    p_value = float(_stats().chi2_contingency(table)[1])
    shares = table / table.sum(axis=1, keepdims=True)
    pa, pb = np.clip(shares[0], 1e-4, None), np.clip(shares[1], 1e-4, None)
    psi = float(np.sum((pa - pb) * np.log(pa / pb)))
    shown = {str(k): [round(float(x), 4) for x in shares[:, i]] for i, k in enumerate(top[:3])}
    return psi, p_value, shown


def _stats() -> Any:
    """scipy.stats, imported on first use (it costs about a second at start-up)."""
    from scipy import stats

    return stats
