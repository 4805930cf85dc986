"""What a training run records in MLflow: its parameters, metrics and tags, named here only.

:meth:`RunRecord.of` turns a typed :class:`TrainingRun` into the dictionaries
:meth:`Registry.register` logs, so no other module spells an MLflow key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.registry._version import (
    CV_PREFIX,
    FINGERPRINT_RUN_TAG,
    GATE_PASSED_TAG,
    HOLDOUT_PREFIX,
    RUN_NAME_TAG,
    VERSION_RUN_TAG,
    version_tags,
)

if TYPE_CHECKING:
    from loopml.config import TrainingConfig
    from loopml.data import Problem, Split
    from loopml.evaluation import Evaluation
    from loopml.modeling import Leaderboard
    from loopml.types import DataSet


@dataclass(frozen=True)
class TrainingRun:
    """One training run as the registry records it."""

    project: str  # the project's name
    loopml_version: str
    problem: Problem
    data: DataSet
    split: Split
    n_folds: int
    training: TrainingConfig
    leaderboard: Leaderboard
    model: str  # the chosen model's label; an ensemble names its members
    evaluation: Evaluation
    business: Mapping[str, float] = field(default_factory=dict)  # e.g. expected_cost


@dataclass(frozen=True)
class RunRecord:
    """The parameters, metrics and tags of a run, and the tags of its model version."""

    params: dict[str, Any]
    metrics: dict[str, float]
    tags: dict[str, str]  # on the run
    version_tags: dict[str, str]  # on the registered version

    @property
    def run_name(self) -> str | None:
        return self.tags.get(RUN_NAME_TAG)

    @classmethod
    def of(cls, run: TrainingRun) -> RunRecord:
        best = run.leaderboard.best
        problem, split, training = run.problem, run.split, run.training
        params: dict[str, Any] = {
            "model_family": best.family,
            **{f"model.{k}": v for k, v in best.params.items()},
            "task": problem.task,
            "metric": problem.metric,
            "split": split.strategy,
            "budget_seconds": training.budget_seconds,
            "cv_folds": run.n_folds,
            "n_trials": sum(t.started for t in run.leaderboard.trials),
            "max_trials": training.max_trials or "none",
            "stopped_by": run.leaderboard.stopped_by,
            "train_rows": len(split.train),
            "holdout_rows": len(split.holdout),
            "data_origin": run.data.origin,
            "data_fingerprint": run.data.fingerprint,
        }
        fairness = run.evaluation.fairness
        gaps = fairness.values() if fairness is not None else {}  # group disparities
        held_out = {**run.evaluation.metrics, **run.business, **gaps}
        metrics = {HOLDOUT_PREFIX + k: v for k, v in held_out.items()}
        metrics[CV_PREFIX + problem.metric] = best.mean
        gate = run.evaluation.gate
        tags = {
            VERSION_RUN_TAG: run.loopml_version,
            RUN_NAME_TAG: f"{run.project}-{best.family}",
            FINGERPRINT_RUN_TAG: run.data.fingerprint,
            GATE_PASSED_TAG: str(gate.passed).lower(),
        }
        described = version_tags(
            family=run.model,
            metric=problem.metric,
            gate=gate.gate or "none",
            gate_passed=gate.passed,
        )
        return cls(params=params, metrics=metrics, tags=tags, version_tags=described)
