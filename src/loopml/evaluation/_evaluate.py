"""Holdout evaluation: every metric of the task, curves for the report, and the success gate."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from loopml.config import Gate
from loopml.data import Problem
from loopml.evaluation._fairness import FairnessReport, FairnessSettings, fairness_report
from loopml.metrics import all_metrics, clip_proba
from loopml.modeling import predict_scores

MAX_CURVE_POINTS = 400
MAX_SCATTER_POINTS = 2000


@dataclass(frozen=True)
class GateResult:
    gate: str | None
    value: float | None  # the headline clause's value
    passed: bool
    clauses: tuple[tuple[str, float, bool], ...] = ()  # (clause, value, passed) when several

    def describe(self) -> str:
        if self.gate is None:
            return "no success gate set (passes)"
        verdict = "passed" if self.passed else "FAILED"
        if len(self.clauses) > 1:
            parts = [f"{c}: {_shown(v)}{'' if ok else ' ✗'}" for c, v, ok in self.clauses]
            return f"{'; '.join(parts)} → {verdict}"
        value = self.value if self.value is not None else float("nan")
        return f"{self.gate}: {_shown(value)} → {verdict}"


def _shown(value: float) -> str:
    """Scores keep 4 decimals; errors in the target's units (rmse 534.1) 4 significant digits."""
    if math.isfinite(value) and abs(value) >= 10:
        return f"{value:,.{max(3 - math.floor(math.log10(abs(value))), 0)}f}"
    return f"{value:.4f}"


@dataclass(frozen=True)
class Evaluation:
    """Holdout metrics and the data behind the report's plots."""

    task: str
    metric: str
    primary: float
    metrics: dict[str, float]
    gate: GateResult
    n_rows: int
    curves: dict[str, Any] = field(default_factory=dict)
    fairness: FairnessReport | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "metric": self.metric,
            "primary": self.primary,
            "metrics": self.metrics,
            "gate": {"gate": self.gate.gate, "value": self.gate.value, "passed": self.gate.passed},
            "n_rows": self.n_rows,
            "fairness": self.fairness.to_dict() if self.fairness is not None else None,
        }


def check_gate(gate: Gate | None, values: Mapping[str, float]) -> GateResult:
    """Every clause of ``gate`` on ``values`` (metrics, and group disparities when the gate
    has fairness clauses); a missing or NaN value fails its clause."""
    if gate is None:
        return GateResult(gate=None, value=None, passed=True)
    clauses = []
    for clause in gate.clauses:
        value = float(values.get(clause.metric, float("nan")))
        clauses.append((str(clause), value, bool(not np.isnan(value) and clause.passes(value))))
    value = float(values.get(gate.metric, float("nan")))
    passed = all(ok for _, _, ok in clauses)
    return GateResult(gate=str(gate), value=value, passed=passed, clauses=tuple(clauses))


def evaluate(
    pipeline: Pipeline,
    X: pd.DataFrame,
    y: pd.Series,
    problem: Problem,
    fairness: FairnessSettings | None = None,
) -> Evaluation:
    """Score ``pipeline`` on rows it has never seen (the holdout); with ``fairness``, compare
    the groups of its sensitive columns (which ``X`` must hold) too."""
    pred, proba = predict_scores(pipeline, X, problem.task, problem.classes)
    metrics = all_metrics(problem.task, y, pred, proba, problem.classes, problem.positive_class)
    curves = _curves(problem, np.asarray(y), pred, proba)
    report = None
    if fairness is not None and fairness.columns:
        report = fairness_report(X, y, pred, proba, problem, fairness)
    values = {**metrics, **(report.values() if report is not None else {})}
    return Evaluation(
        task=problem.task,
        metric=problem.metric,
        primary=metrics[problem.metric],
        metrics=metrics,
        gate=check_gate(problem.gate, values),
        n_rows=len(y),
        curves=curves,
        fairness=report,
    )


def _thin(*arrays: np.ndarray, limit: int = MAX_CURVE_POINTS) -> list[list[float]]:
    n = len(arrays[0])
    keep = np.unique(np.linspace(0, n - 1, min(n, limit)).astype(int)) if n else np.array([], int)
    return [np.asarray(a)[keep].astype(float).round(6).tolist() for a in arrays]


def _curves(problem: Problem, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None) -> dict:
    if problem.task == "regression":
        rng = np.random.default_rng(0)
        idx = rng.choice(len(y), size=min(len(y), MAX_SCATTER_POINTS), replace=False)
        return {
            "actual": y[idx].astype(float).round(6).tolist(),
            "predicted": pred[idx].astype(float).round(6).tolist(),
        }
    classes = list(problem.classes)
    labels = [str(c) for c in classes]
    matrix = skm.confusion_matrix(y, pred, labels=classes).tolist()
    out: dict[str, Any] = {"labels": labels, "confusion": matrix}
    assert proba is not None
    proba = clip_proba(proba)
    if problem.task == "binary":
        targets = {
            str(problem.positive_class): (
                y == problem.positive_class,
                proba[:, classes.index(problem.positive_class)],
            )
        }
    else:
        targets = {str(c): (y == c, proba[:, j]) for j, c in enumerate(classes)}
    roc, pr = {}, {}
    for name, (truth, score) in targets.items():
        if truth.all() or not truth.any():
            continue
        fpr, tpr, _ = skm.roc_curve(truth, score)
        precision, recall, _ = skm.precision_recall_curve(truth, score)
        roc[name] = dict(zip(("fpr", "tpr"), _thin(fpr, tpr), strict=True))
        pr[name] = dict(zip(("recall", "precision"), _thin(recall, precision), strict=True))
    out["roc"] = roc
    out["pr"] = pr
    return out
