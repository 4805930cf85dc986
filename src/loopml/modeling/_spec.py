"""What training is given: the rows (:class:`TrainingData`) and how (:class:`TrainingSpec`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from loopml.config import CleaningConfig, Constraints, Costs, FeaturesConfig
from loopml.types import TaskKind

if TYPE_CHECKING:
    from loopml.config import ProjectConfig
    from loopml.data import NumberFormat, Problem

#: ``progress(seconds_spent, message)``: called as the search goes.
ProgressFn = Callable[[float, str], None]

#: ``latency(pipeline, row, task, classes)``: milliseconds a fitted pipeline takes to answer
#: one row (``row`` a one-row frame of training columns). A module-level function, so that fold
#: jobs carrying it pickle to worker processes; a project passes the serving row path's
#: (:func:`loopml.serving.row_latency_ms`), ``None`` times ``pipeline.predict`` on the frame.
LatencyFn = Callable[[Any, pd.DataFrame, TaskKind, tuple[Any, ...]], float]


@dataclass(frozen=True)
class TrainingData:
    """The rows a model is trained on, and what is known about them.

    ``strategy`` is how the folds are drawn: ``"time"``, ``"group"``, ``"stratified"`` or
    ``"random"`` (a project passes its holdout's strategy), or ``None`` to choose: time-ordered
    folds when the rows are sorted by one of their datetime columns, else stratified
    (classification) or random (regression). ``time`` and ``groups`` are aligned with the rows;
    ``numbers`` is how numbers written as text are read (the training file's dialect).
    """

    X: pd.DataFrame
    y: pd.Series
    roles: dict[str, str]
    time: pd.Series | None = None
    groups: pd.Series | None = None
    strategy: str | None = None
    numbers: NumberFormat | None = None


@dataclass(frozen=True)
class TrainingSpec:
    """How to train: the problem, the budget and every choice the search makes.

    ``cv_folds="auto"`` picks the folds from the row count (see
    :func:`loopml.modeling.auto_fold_count`). ``max_trials`` stops the search after that
    many trials: with a budget that does not bind, the same trials run every time.
    ``n_jobs=-1`` uses the CPUs this process may use. ``latency`` measures a candidate's
    single-row cost for ``constraints.max_latency_ms`` (see :data:`LatencyFn`). ``bagging``:
    ``"auto"`` bags the fold models from 180 s of budget, ``True`` at any budget, ``False``
    never (see :func:`loopml.modeling._bagging.wants_bagging`).
    """

    task: TaskKind
    metric: str
    budget_seconds: float
    classes: tuple[Any, ...] = ()
    positive_class: Any = None
    max_trials: int | None = None
    cv_folds: int | Literal["auto"] = "auto"
    families: tuple[str, ...] | None = None  # None: every family of the registry
    tune: bool = True
    ensemble: bool = True
    cleaning: CleaningConfig | None = None
    features: FeaturesConfig | None = None
    constraints: Constraints = field(default_factory=Constraints)
    class_weight: str = "auto"
    threshold: str = "default"
    costs: Costs | None = None
    seed: int = 42
    n_jobs: int = -1
    latency: LatencyFn | None = None
    bagging: bool | Literal["auto"] = False  # see loopml.modeling._bagging.wants_bagging

    @classmethod
    def from_config(
        cls, config: ProjectConfig, problem: Problem, latency: LatencyFn | None = None
    ) -> TrainingSpec:
        """The settings of a project: its ``training`` section and its resolved problem;
        ``latency`` times a candidate on the row path that will serve it."""
        training = config.training
        return cls(
            task=problem.task,
            metric=problem.metric,
            budget_seconds=training.budget_seconds,
            classes=tuple(problem.classes),
            positive_class=problem.positive_class,
            max_trials=training.max_trials,
            cv_folds=training.cv_folds,
            families=tuple(training.models),
            tune=training.tune,
            ensemble=training.ensemble,
            cleaning=config.cleaning,
            features=config.features,
            constraints=config.problem.constraints,
            class_weight=training.class_weight,
            threshold=config.problem.threshold,
            costs=config.problem.costs,
            seed=training.seed,
            n_jobs=training.n_jobs,
            latency=latency,
            bagging=training.bagging,
        )

    @property
    def width(self) -> int:
        """Columns of one out-of-fold prediction: a probability per class, or one value."""
        return len(self.classes) if self.task != "regression" else 1
