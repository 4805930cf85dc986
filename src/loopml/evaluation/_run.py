"""The evaluation stage of a training run: holdout metrics, diagnostics and business metrics.

:func:`assess` is what a run does after the search: it scores the refitted pipeline on the
holdout, diagnoses it (bootstrap intervals, over/underfit, leakage, learning curve,
importances) on a budget of its own, and prices its errors where the project declares costs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from loopml.config import Costs, Gate, ProjectConfig
from loopml.data import LabelledRows, Problem
from loopml.errors import DataError
from loopml.evaluation._common import DiagnosisSettings, TrainAndHoldout
from loopml.evaluation._diagnose import Diagnostics, diagnose
from loopml.evaluation._evaluate import Evaluation, evaluate
from loopml.evaluation._fairness import FairnessSettings
from loopml.evaluation._unsupervised import evaluate_unsupervised
from loopml.modeling import expected_cost, predict_scores

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from loopml.modeling import TrialResult

#: Bootstrap resamples behind every confidence interval of the report.
N_BOOTSTRAP = 1000


@dataclass(frozen=True)
class AssessSettings:
    """How much evaluation a run does, from the project's ``training`` and ``problem``."""

    seed: int
    budget_seconds: float  # the training budget; diagnosis runs on a share of it
    costs: Costs | None = None  # binary tasks: the cost of each kind of error
    n_bootstrap: int = N_BOOTSTRAP
    fairness: FairnessSettings | None = None  # problem.sensitive_columns: compare their groups

    @property
    def diagnosis_seconds(self) -> float:
        """Diagnosis runs after the search on a budget of its own: a quarter of the
        training budget, at least 5 s and at most a minute.

        Examples
        --------
        >>> [AssessSettings(0, s).diagnosis_seconds for s in (10, 120, 600)]
        [5.0, 30.0, 60.0]
        """
        return min(60.0, max(5.0, 0.25 * self.budget_seconds))

    @classmethod
    def from_config(cls, config: ProjectConfig) -> AssessSettings:
        return cls(
            seed=config.training.seed,
            budget_seconds=config.training.budget_seconds,
            costs=config.problem.costs,
            fairness=(
                FairnessSettings.from_config(config) if config.problem.sensitive_columns else None
            ),
        )


@dataclass(frozen=True)
class Assessment:
    """The holdout evaluation, the diagnostics and the business metrics of one model."""

    evaluation: Evaluation
    diagnostics: Diagnostics
    business: dict[str, float] = field(default_factory=dict)  # e.g. expected_cost per row


def assess(
    pipeline: Pipeline,
    holdout: LabelledRows,
    train: LabelledRows,
    problem: Problem,
    settings: AssessSettings,
    *,
    best: TrialResult,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
) -> Assessment:
    """Evaluate a refitted pipeline on the holdout, diagnose it and price its errors.

    Parameters
    ----------
    pipeline
        The chosen configuration refitted on ``train``.
    holdout, train
        The rows kept out of model selection, and the rows the search used.
    problem
        The task, metric, classes and gate.
    settings
        Seed, budget and costs (:meth:`AssessSettings.from_config`).
    best, folds
        The chosen trial and the cross-validation folds it was scored on: its fold scores
        are compared with the holdout, and its fit time sizes the learning curve.
    """
    evaluation = evaluate(pipeline, holdout.X, holdout.y, problem, settings.fairness)
    diagnostics = diagnose(
        pipeline,
        TrainAndHoldout(train.X, train.y, holdout.X, holdout.y),
        problem,
        cv_scores=best.fold_scores,
        settings=DiagnosisSettings(
            seed=settings.seed,
            n_bootstrap=settings.n_bootstrap,
            budget_seconds=settings.diagnosis_seconds,
        ),
        fit_seconds=fold_fit(best, folds),
    )
    business: dict[str, float] = {}
    if settings.costs is not None and problem.task == "binary":
        pred, _ = predict_scores(pipeline, holdout.X, problem.task, problem.classes)
        business["expected_cost"] = expected_cost(
            holdout.y,
            pred,
            problem.positive_class,
            settings.costs.false_positive,
            settings.costs.false_negative,
        )
    return Assessment(evaluation, diagnostics, business)


def fold_fit(best: TrialResult, folds: Sequence[tuple[Any, Any]]) -> tuple[int, float] | None:
    """``(rows, seconds)`` of one cross-validation fit of the chosen configuration, or None
    for an ensemble (its trial has no time of its own) or when nothing was timed.

    Time folds grow, so the rows are the mean training size over the folds.
    """
    if best.family == "ensemble" or best.seconds <= 0 or not folds:
        return None
    rows = sum(len(train) for train, _ in folds) / len(folds)
    return round(rows), best.seconds / len(folds)


def evaluate_labelled(
    pipeline: Pipeline,
    rows: LabelledRows,
    problem: Problem,
    *,
    gate: Gate | None = None,
    config: ProjectConfig | None = None,
    trained: Mapping[str, float] | None = None,
) -> Evaluation:
    """Evaluate a registered model on labelled rows, against ``gate`` (else the gate of
    ``config``, the project today; else the gate it was trained under); with ``config``, its
    sensitive columns' groups are compared too. A clustering or anomaly model is evaluated
    by :func:`evaluate_unsupervised` (its rows need no labels), with the measures only its
    training had (a clustering's ``stability`` and ``agreement``) taken from ``trained``.

    Raises
    ------
    DataError
        A label the model never saw in training.
    """
    problem = dataclasses.replace(
        problem,
        gate=gate or (config.problem.gate if config is not None else None) or problem.gate,
        notes=(),
        labels={},
    )
    if problem.unsupervised:
        searched = {k: v for k, v in (trained or {}).items() if k in ("stability", "agreement")}
        return evaluate_unsupervised(pipeline, rows.X, rows.y, problem, searched)
    if problem.is_classification:
        unknown = set(rows.y.unique()) - set(problem.classes)
        if unknown:
            raise DataError(
                f"labels {sorted(map(str, unknown))} in {problem.target!r} were never seen in "
                "training; the model cannot be evaluated on them."
            )
    fairness = FairnessSettings.from_config(config, problem.gate) if config is not None else None
    return evaluate(pipeline, rows.X, rows.y, problem, fairness)
