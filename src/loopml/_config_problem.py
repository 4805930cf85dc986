"""The ``problem:`` section of loopml.yaml: task, target, metric, the success gate (with its
group-fairness clauses), constraints, costs and the sensitive columns. Re-exported by
:mod:`loopml.config`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import Field, field_validator, model_validator

from loopml._config_errors import KeyRuleError
from loopml._config_sources import Section as _Section
from loopml._metric_names import (
    ALL_METRICS,
    CLASSIFICATION_METRICS,
    FAIRNESS_HINT,
    GROUP_RATES,
    REGRESSION_METRICS,
    UNSUPERVISED_TASKS,
    fairness_measure,
    task_metrics,
    unknown_metric,
)

Task = Literal["auto", "binary", "multiclass", "regression", "clustering", "anomaly"]
NAN = float("nan")

_GATE = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<)\s*(-?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$"
)


class GateClause(_Section):
    """One comparison of a success gate, such as ``roc_auc >= 0.80``."""

    metric: str
    op: Literal[">=", "<=", ">", "<"]
    threshold: float

    def passes(self, value: float) -> bool:
        return {
            ">=": value >= self.threshold,
            "<=": value <= self.threshold,
            ">": value > self.threshold,
            "<": value < self.threshold,
        }[self.op]

    @property
    def fairness(self) -> bool:
        """Whether it compares groups (``selection_rate_ratio >= 0.8``)."""
        return fairness_measure(self.metric) is not None

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


class Gate(_Section):
    """A success gate: one clause or several joined by ``and``, such as
    ``roc_auc >= 0.75 and selection_rate_ratio >= 0.8``. Every clause must pass.

    The first clause on a metric (not on a group disparity) is the headline: :attr:`metric`,
    :attr:`op` and :attr:`threshold` are its own.
    """

    clauses: tuple[GateClause, ...] = Field(min_length=1)

    @classmethod
    def parse(cls, text: str) -> Gate:
        clauses = []
        parts = re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE)
        for part in parts:
            match = _GATE.match(part)
            if not match:
                where = f"success gate {text!r}" + (f": {part!r}" if len(parts) > 1 else "")
                raise ValueError(
                    f"{where} is not of the form '<metric> <op> <number>', e.g. "
                    "'roc_auc >= 0.80' (several clauses: joined by 'and')"
                )
            metric, op, number = match.groups()
            if metric not in ALL_METRICS and fairness_measure(metric) is None:
                message = unknown_metric(metric, "success gate names unknown metric", "known")
                if metric.endswith(("_ratio", "_difference")):
                    message += f"; a group disparity is {FAIRNESS_HINT}"
                raise ValueError(message)
            clauses.append({"metric": metric, "op": op, "threshold": float(number)})
        return cls.model_validate({"clauses": clauses})

    @property
    def headline(self) -> GateClause:
        return next((c for c in self.clauses if not c.fairness), self.clauses[0])

    @property
    def metric(self) -> str:
        return self.headline.metric

    @property
    def op(self) -> str:
        return self.headline.op

    @property
    def threshold(self) -> float:
        return self.headline.threshold

    @property
    def fairness(self) -> tuple[GateClause, ...]:
        return tuple(c for c in self.clauses if c.fairness)

    def passes(self, values: Mapping[str, float]) -> bool:
        """Whether every clause passes on ``values`` (a missing or NaN value fails)."""
        for clause in self.clauses:
            value = values.get(clause.metric, NAN)
            if value != value or not clause.passes(value):
                return False
        return True

    def __str__(self) -> str:
        return " and ".join(str(c) for c in self.clauses)


class Constraints(_Section):
    """What a deployable model must respect; candidates that break a constraint are excluded."""

    max_latency_ms: float | None = Field(default=None, gt=0)  # single-row predict latency
    interpretable: bool = False  # linear models and shallow trees only
    max_model_mb: float | None = Field(default=None, gt=0)  # serialised pipeline size


class Costs(_Section):
    """The business cost of each error, for binary tasks: tunes the decision threshold."""

    false_positive: float = Field(ge=0)
    false_negative: float = Field(ge=0)


class FairnessConfig(_Section):
    """How the groups of ``problem.sensitive_columns`` are compared."""

    min_group_size: int = Field(default=30, ge=1)  # smaller groups are listed, not compared
    intersections: bool = True  # pairs of sensitive columns form groups too
    as_features: bool = False  # sensitive columns are also model inputs
    bootstrap: int = Field(default=200, ge=0, le=10_000)  # resamples behind the intervals


class ProblemConfig(_Section):
    task: Task = "auto"
    #: The column to predict; clustering has none, and for anomaly detection it is optional:
    #: a label column marking known anomalies (``positive_class``), used to choose the
    #: detector and threshold and to evaluate them.
    target: str | None = Field(default=None, min_length=1)
    positive_class: str | int | bool | None = None
    metric: str | None = None
    success: str | None = None
    constraints: Constraints = Field(default_factory=Constraints)
    threshold: Literal["default", "f1", "cost"] = "default"  # binary decision threshold tuning
    costs: Costs | None = None
    sensitive_columns: list[str] = Field(default_factory=list)  # groups compared for fairness
    fairness: FairnessConfig = Field(default_factory=FairnessConfig)
    #: anomaly: the share of rows expected to be anomalies (flags that share of the training
    #: rows); None: chosen from the labels, else a robust z-score above 3.5
    contamination: float | None = Field(default=None, gt=0, le=0.5)
    max_clusters: int = Field(default=10, ge=2, le=50)  # clustering: the most clusters tried

    @property
    def unsupervised(self) -> bool:
        """Clustering or anomaly detection: no target is needed."""
        return self.task in UNSUPERVISED_TASKS

    @field_validator("sensitive_columns")
    @classmethod
    def _distinct_columns(cls, value: list[str]) -> list[str]:
        twice = sorted({c for c in value if value.count(c) > 1})
        if twice:
            raise ValueError(f"sensitive_columns lists {', '.join(map(repr, twice))} twice")
        return value

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str | None) -> str | None:
        if value is not None and value not in ALL_METRICS:
            raise ValueError(unknown_metric(value, "unknown metric", "allowed"))
        return value

    @field_validator("success")
    @classmethod
    def _valid_gate(cls, value: str | None) -> str | None:
        if value is not None:
            Gate.parse(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ProblemConfig:
        if self.task == "regression":
            if self.positive_class is not None:
                raise KeyRuleError(
                    "positive_class only applies to binary tasks, not regression",
                    "positive_class",
                    "task",
                )
            if self.metric in CLASSIFICATION_METRICS:
                raise KeyRuleError(
                    f"metric {self.metric!r} is a classification metric but task is regression;"
                    f" use one of {', '.join(REGRESSION_METRICS)}",
                    "metric",
                    "task",
                )
        if self.task in ("binary", "multiclass") and self.metric in REGRESSION_METRICS:
            raise KeyRuleError(
                f"metric {self.metric!r} is a regression metric but task is {self.task}; "
                f"use one of {', '.join(CLASSIFICATION_METRICS)}",
                "metric",
                "task",
            )
        if self.task == "multiclass" and self.positive_class is not None:
            raise KeyRuleError(
                "positive_class only applies to binary tasks, not multiclass",
                "positive_class",
                "task",
            )
        if self.threshold == "cost" and self.costs is None:
            raise KeyRuleError(
                "threshold 'cost' needs problem.costs (false_positive, false_negative)",
                "threshold",
            )
        if (self.threshold != "default" or self.costs is not None) and self.task in (
            "regression",
            "multiclass",
        ):
            raise KeyRuleError(
                "threshold tuning and costs apply to binary tasks only",
                "threshold" if self.threshold != "default" else "costs",
                "task",
            )
        self._check_unsupervised()
        if self.target is not None and self.target in self.sensitive_columns:
            raise KeyRuleError(
                f"the target {self.target!r} cannot be a sensitive column: groups are defined by "
                "inputs; remove it from sensitive_columns",
                "sensitive_columns",
                "target",
            )
        if self.success is not None:
            gate = Gate.parse(self.success)
            mistake = gate_mistake(gate, self.task, self.sensitive_columns)
            if mistake is not None:
                keys = ("success", "sensitive_columns" if "sensitive" in mistake else "task")
                raise KeyRuleError(mistake, *keys)
        return self

    def _check_unsupervised(self) -> None:
        """A target where the task needs one; task settings only on their task."""
        if self.target is None and not self.unsupervised:
            raise KeyRuleError(
                f"problem.target is required for task {self.task}: name the column to predict "
                "(task clustering needs none, and anomaly only for a label column)",
                "target",
                "task",
            )
        if self.task == "clustering" and self.target is not None:
            raise KeyRuleError(
                f"task clustering has no target, but problem.target is {self.target!r}; remove "
                "it (or use task anomaly, whose target is an optional label column)",
                "target",
                "task",
            )
        if self.contamination is not None and self.task != "anomaly":
            raise KeyRuleError(
                "contamination applies to task anomaly only", "contamination", "task"
            )
        if "max_clusters" in self.model_fields_set and self.task != "clustering":
            raise KeyRuleError(
                "max_clusters applies to task clustering only", "max_clusters", "task"
            )
        if (
            self.metric is not None
            and self.task != "auto"
            and self.metric not in task_metrics(self.task)
        ):
            raise KeyRuleError(
                f"metric {self.metric!r} does not apply to {self.task}; use one of "
                f"{', '.join(task_metrics(self.task))}",
                "metric",
                "task",
            )
        if self.task == "clustering" and self.positive_class is not None:
            raise KeyRuleError(
                "positive_class does not apply to clustering (anomaly: the label column's value "
                "that marks an anomaly)",
                "positive_class",
                "task",
            )
        if self.unsupervised and (self.threshold != "default" or self.costs is not None):
            raise KeyRuleError(
                f"threshold tuning and costs apply to binary tasks, not {self.task}"
                + (
                    "; the share of rows to flag is problem.contamination"
                    if self.task == "anomaly"
                    else ""
                ),
                "threshold" if self.threshold != "default" else "costs",
                "task",
            )

    @property
    def gate(self) -> Gate | None:
        return Gate.parse(self.success) if self.success else None


def gate_mistake(gate: Gate, task: str, sensitive: Sequence[str]) -> str | None:
    """Why ``gate`` cannot be checked on a ``task`` problem with these sensitive columns, or
    None (``task`` ``auto``: only what holds for every task is checked)."""
    allowed = task_metrics(task)
    for clause in gate.clauses:
        measure = fairness_measure(clause.metric)
        base = measure[0] if measure is not None else clause.metric
        if measure is not None and task in UNSUPERVISED_TASKS:
            return (
                f"success gate clause '{clause}' compares groups, which loopml does for "
                f"supervised tasks only, not {task}"
            )
        if measure is not None and not sensitive:
            return (
                f"success gate clause '{clause}' compares groups, but problem.sensitive_columns "
                "is empty; list the columns whose groups it compares"
            )
        if task == "auto":
            continue
        if base in GROUP_RATES and task != "binary":
            return f"success gate clause '{clause}': {base} is defined for binary tasks only"
        if base not in GROUP_RATES and base not in allowed:
            return (
                f"success gate metric {base!r} does not apply to {task}; use one of "
                f"{', '.join(allowed)}"
            )
    return None
