"""The diagnostics' findings as plainly worded notes: leakage, fit, calibration, data."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from loopml.data import Problem
from loopml.evaluation._bootstrap import Interval
from loopml.evaluation._common import fmt
from loopml.evaluation._fit import UNIT_METRICS, FitCheck, overfit_threshold
from loopml.evaluation._importance import Explanations, PermutationImportance
from loopml.evaluation._learning import LearningCurve
from loopml.evaluation._probability import Calibration
from loopml.metrics import greater_is_better

if TYPE_CHECKING:  # the diagnostics hold the notes: imported for the annotation only
    from loopml.evaluation._diagnose import Diagnostics

Severity = Literal["info", "warning"]
NoteKind = Literal[
    "leakage", "overfit", "underfit", "shift", "calibration", "learning_curve", "data"
]

#: A holdout score at least this good (or, for log loss, at most this) looks too good to be true.
PERFECT = {**dict.fromkeys(UNIT_METRICS, 0.999), "r2": 0.999, "log_loss": 0.01}
#: Near-perfect: a score this good while a leakage finding stands keeps a model from becoming
#: champion on its own. Only metrics a model cannot reach by favouring one class (not accuracy,
#: precision or recall); rmse, mae and mape have no scale of their own, r2 stands for them.
NEAR_PERFECT = {
    "roc_auc": 0.99,
    "pr_auc": 0.99,
    "balanced_accuracy": 0.99,
    "f1": 0.99,
    "r2": 0.99,
    "log_loss": 0.05,
}
#: Share of the permutation importance one column may carry before it looks like a leak.
DOMINANT_SHARE = 0.9
#: Expected calibration error above which the probabilities are called off, if the deviation
#: is also unlikely to be chance (p-value of the bins' chi-square test below CALIBRATION_P).
MAX_ECE = 0.05
CALIBRATION_P = 0.01
#: The learning curve's last step must improve the score by this share to suggest more rows.
LEARNING_GAIN = 0.02
#: Share of holdout rows also found in training from which it is noted (and warned about).
DUPLICATES_NOTED = 0.05
DUPLICATES_WARNED = 0.25


@dataclass(frozen=True)
class Note:
    """One finding, worded for the report: what was seen, what it means, what to do."""

    kind: NoteKind
    severity: Severity
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "message": self.message}


def near_perfect(
    scores: Mapping[str, float], limits: Mapping[str, float] = NEAR_PERFECT
) -> list[tuple[str, float]]:
    """The scores at least as good as their limit (for log loss: at most), in ``scores`` order.

    Examples
    --------
    >>> near_perfect({"roc_auc": 0.995, "accuracy": 0.999, "log_loss": 0.2})
    [('roc_auc', 0.995)]
    """
    return [
        (name, value)
        for name, value in scores.items()
        if name in limits
        and not math.isnan(value)
        and (value <= limits[name] if name == "log_loss" else value >= limits[name])
    ]


def duplicate_share(X_hold: pd.DataFrame, X_train: pd.DataFrame) -> float:
    """Share of holdout rows whose feature values all occur in one training row."""
    if len(X_hold) == 0 or len(X_train) == 0 or list(X_hold.columns) != list(X_train.columns):
        return 0.0
    try:
        seen = pd.util.hash_pandas_object(X_train, index=False)
        hashed = pd.util.hash_pandas_object(X_hold, index=False)
    except TypeError:  # unhashable cells (lists, dicts): no duplicate check
        return 0.0
    return float(np.mean(hashed.isin(seen).to_numpy()))


def notes(problem: Problem, diagnostics: Diagnostics) -> tuple[Note, ...]:
    """Every finding of ``diagnostics`` (whose own ``notes`` are not read) as a
    :class:`Note`, leakage first."""
    d = diagnostics
    metric = problem.metric
    found = _leakage_notes(
        d.intervals, d.permutation, d.explanations, d.duplicate_share, d.n_holdout
    )
    better = greater_is_better(metric)
    fit = d.fit
    if fit.is_overfit:
        found.append(
            Note(
                "overfit",
                "warning"
                if fit.gap > 2 * overfit_threshold(metric, fit.cv_mean, fit.cv_std)
                else "info",
                f"The model scores {metric} {fmt(fit.train)} on its own training rows but "
                f"{fmt(fit.cv_mean)} in cross-validation: it memorises part of the training "
                "data. Judge it by the cross-validation and holdout scores; if those disappoint "
                "too, more regularisation (shallower trees, more rows per leaf) may help.",
            )
        )
    primary = d.intervals.get(metric)
    if primary is not None:
        found += _shift_notes(metric, primary, fit, better)
    if fit.is_underfit:
        found.append(
            Note(
                "underfit",
                "warning",
                f"The model is not clearly better than a dummy that {fit.dummy_strategy} "
                f"({metric} {fmt(fit.holdout)} vs {fmt(fit.dummy)}; the "
                f"{fit.improvement.level:.0%} interval of the difference reaches 0 or below). "
                "The features may carry little signal about the target, or the holdout is too "
                "small to tell.",
            )
        )
    if d.calibration is not None and d.calibration.curves:
        found += _calibration_notes(d.calibration)
    noise = primary.std if primary is not None else 0.0
    found += _curve_notes(d.learning_curve, better, noise)
    for reason in problem.notes:
        found.append(Note("data", "info", reason[:1].upper() + reason[1:] + "."))
    return tuple(found)


def _leakage_notes(
    intervals: dict[str, Interval],
    permutation: PermutationImportance | None,
    explanations: Explanations | None,
    duplicates: float,
    n_holdout: int,
) -> list[Note]:
    """Near-perfect scores, one dominant column, holdout rows seen in training."""
    found: list[Note] = []
    perfect = near_perfect({name: iv.value for name, iv in intervals.items()}, PERFECT)
    if perfect:
        listed = ", ".join(f"{name} {fmt(v)}" for name, v in perfect)
        found.append(
            Note(
                "leakage",
                "warning",
                f"Near-perfect holdout scores ({listed} on {n_holdout} rows). On real data this "
                "usually means a column leaks the target: it is recorded after the outcome, "
                "copies it, or is derived from it. Check the most important columns below and "
                "drop any that would not be known when a prediction is made.",
            )
        )
    shares = _importance_shares(permutation, explanations)
    if shares is not None:
        source, top, share = shares
        if share >= DOMINANT_SHARE:
            found.append(
                Note(
                    "leakage",
                    "warning",
                    f"One column, {top!r}, carries {share:.0%} of the {source}. A model that "
                    "leans on a single column is fragile and is often a sign of leakage: make "
                    f"sure {top!r} is known at prediction time and is not a proxy of the target.",
                )
            )
    if duplicates >= DUPLICATES_NOTED:
        found.append(
            Note(
                "leakage",
                "warning" if duplicates >= DUPLICATES_WARNED else "info",
                f"{duplicates:.0%} of the holdout rows have exactly the feature values of a "
                "training row. If they are the same people or things seen twice, the holdout "
                "overstates how the model does on new ones; split by an id (training.split: "
                "group) if so.",
            )
        )
    return found


def _shift_notes(metric: str, primary: Interval, fit: FitCheck, better: bool) -> list[Note]:
    """A holdout score outside the interval cross-validation promised, either way."""
    if math.isnan(fit.cv_mean) or math.isnan(primary.low):
        return []
    worse = fit.cv_mean > primary.high if better else fit.cv_mean < primary.low
    luckier = fit.cv_mean < primary.low if better else fit.cv_mean > primary.high
    if worse:
        return [
            Note(
                "shift",
                "warning",
                f"The holdout {metric} ({primary.describe()}) is worse than cross-validation "
                f"promised ({fmt(fit.cv_mean)} ± {fmt(fit.cv_std)}). The holdout differs "
                "from the training rows (a later period, other groups) or the search "
                "over-fitted its folds; expect the holdout figure in production.",
            )
        ]
    if luckier:
        return [
            Note(
                "shift",
                "info",
                f"The holdout {metric} ({primary.describe()}) is better than "
                f"cross-validation ({fmt(fit.cv_mean)} ± {fmt(fit.cv_std)}): the holdout "
                "may be easier than typical rows; quote the cross-validation figure too.",
            )
        ]
    return []


def _calibration_notes(cal: Calibration) -> list[Note]:
    """Probabilities no better than the class frequencies, or clearly miscalibrated."""
    off = [c for c in cal.curves if c.ece > MAX_ECE and c.p_value < CALIBRATION_P]
    if not math.isnan(cal.brier) and cal.brier >= cal.reference_brier:
        return [
            Note(
                "calibration",
                "warning",
                f"The Brier score ({fmt(cal.brier)}) is no better than always predicting "
                f"the class frequencies ({fmt(cal.reference_brier)}): the probabilities "
                "carry no usable information as probabilities.",
            )
        ]
    if off:
        worst = max(off, key=lambda c: c.ece)
        which = "" if len(cal.curves) == 1 else f" for class {worst.label!r}"
        return [
            Note(
                "calibration",
                "warning",
                f"Predicted probabilities{which} are off by {worst.ece:.1%} on average "
                f"(expected calibration error; a chance deviation this large has p = "
                f"{worst.p_value:.2g}). Ranking is unaffected, but calibrate the model "
                "before reading its output as a probability (e.g. for expected costs).",
            )
        ]
    return []


def _importance_shares(
    permutation: PermutationImportance | None, explanations: Explanations | None
) -> tuple[str, str, float] | None:
    """(source, top column, its share of the positive importance), with two columns or more."""
    if permutation is not None:
        candidates = [(f.feature, f.mean) for f in permutation.features]
        source = "permutation importance"
    elif explanations is not None:
        candidates = list(explanations.mean_abs.items())
        source = "mean absolute contribution"
    else:
        return None
    positive = [(k, v) for k, v in candidates if v > 0]
    total = sum(v for _, v in positive)
    if len(candidates) < 2 or total <= 0:
        return None
    top, value = max(positive, key=lambda kv: kv[1])
    return source, top, value / total


def _curve_notes(curve: LearningCurve, better: bool, noise: float) -> list[Note]:
    """Skipped points; and whether the last step still improved by more than 2% and more
    than half the holdout score's bootstrap standard error ``noise``."""
    notes: list[Note] = []
    if curve.absent is not None:
        return [Note("learning_curve", "info", curve.absent)]
    if curve.skipped:
        listed = "; ".join(f"{f:.0%} of the rows: {why}" for f, why in curve.skipped)
        notes.append(Note("learning_curve", "info", f"Learning-curve points skipped ({listed})."))
    points = [p for p in curve.points if not math.isnan(p.holdout)]
    if len(points) >= 2:
        last, previous = points[-1], points[-2]
        gain = (last.holdout - previous.holdout) * (1 if better else -1)
        scale = max(abs(previous.holdout), 1e-12)
        if gain / scale > LEARNING_GAIN and not gain <= noise / 2:
            notes.append(
                Note(
                    "learning_curve",
                    "info",
                    f"The holdout {curve.metric} still improves from {previous.rows} to "
                    f"{last.rows} training rows ({fmt(previous.holdout)} → "
                    f"{fmt(last.holdout)}): more labelled rows would likely help.",
                )
            )
    return notes
