"""The problem as the data allows it: task, classes, positive class, metric, and target checks."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopml.config import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    CategoryCleaning,
    Gate,
    ProblemConfig,
    gate_mistake,
)
from loopml.data._labels import match_labels, spelling_map
from loopml.data._schema import is_text, missing_mask
from loopml.errors import ConfigError, DataError
from loopml.metrics import default_metric
from loopml.types import TaskKind

_POSITIVE_NAMES = ("yes", "true", "1", "y", "positive", "churn", "churned", "fraud", "default")


@dataclass(frozen=True)
class Problem:
    """A resolved problem definition: no more 'auto'."""

    task: TaskKind
    target: str
    metric: str
    gate: Gate | None
    classes: tuple[Any, ...] = ()
    positive_class: Any = None
    notes: tuple[str, ...] = field(default=())
    #: Spelling variants of the classes merged in training (trimmed label -> class).
    labels: dict[str, Any] = field(default_factory=dict)
    #: anomaly with a label column (``target``): its value that marks a known anomaly
    anomaly_label: Any = None

    @property
    def is_classification(self) -> bool:
        """Whether the model answers classes with probabilities: every task but regression
        (a clustering's classes are its clusters, an anomaly model's its flags)."""
        return self.task != "regression"

    @property
    def unsupervised(self) -> bool:
        return self.task in ("clustering", "anomaly")

    @property
    def has_labels(self) -> bool:
        """Whether rows carry a target to evaluate against (not so for clustering, nor for
        anomaly detection without a label column)."""
        return bool(self.target)

    def anomaly_truth(self, values: pd.Series) -> pd.Series:
        """An anomaly project's label column as booleans (True: a known anomaly); blank
        labels stay missing."""
        labels = prepare_target(values, "binary")
        truth = labels.map(lambda v: _same_label(v, self.anomaly_label), na_action="ignore")
        return truth.astype("boolean")

    def to_dict(self) -> dict[str, Any]:
        out = {
            "task": self.task,
            "target": self.target,
            "metric": self.metric,
            "gate": str(self.gate) if self.gate else None,
            "classes": [_jsonable(c) for c in self.classes],
            "positive_class": _jsonable(self.positive_class),
            "labels": {k: _jsonable(v) for k, v in self.labels.items()},
        }
        if self.anomaly_label is not None:  # anomaly projects with a label column only
            out["anomaly_label"] = _jsonable(self.anomaly_label)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        return cls(
            task=data["task"],
            target=data["target"],
            metric=data["metric"],
            gate=Gate.parse(data["gate"]) if data.get("gate") else None,
            classes=tuple(data.get("classes", ())),
            positive_class=data.get("positive_class"),
            labels=dict(data.get("labels") or {}),
            anomaly_label=data.get("anomaly_label"),
        )


def _same_label(value: Any, label: Any) -> bool:
    if value == label:
        return True
    return str(value).strip().casefold() == str(label).strip().casefold()


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def infer_task(target: pd.Series, *, categories: CategoryCleaning | None = None) -> TaskKind:
    """binary, multiclass or regression from the target's values.

    Text labels are counted after merging their spelling variants by the rules of
    ``categories`` (``cleaning.categories``; the defaults when None): ``Yes``, ``yes `` and
    ``YES`` are one class, so those and ``No`` make a binary target.
    """
    values = target[~missing_mask(target)]
    if is_text(values):
        n_classes = len(set(spelling_map(values, categories).values()))
        return "binary" if n_classes <= 2 else "multiclass"
    n_unique = values.nunique()
    if n_unique <= 2:
        return "binary"
    if pd.api.types.is_bool_dtype(values):
        return "binary"
    if pd.api.types.is_numeric_dtype(values):
        integral = bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
        if not integral or n_unique > 20:
            return "regression"
        return "multiclass"
    return "multiclass"


def prepare_target(values: pd.Series, task: TaskKind, problem: Problem | None = None) -> pd.Series:
    """Target values in a type every estimator accepts: floats, ints, bools or strings.

    Blank text is missing (None or NaN). With ``problem`` (a classification problem already
    resolved, e.g. the registered model's), text labels are mapped onto its classes by the
    rules that merged them in training, so a labelled file spelling ``yes `` or ``YES`` is
    scored against the class ``Yes``; labels that match no class stay as they are.
    """
    if is_text(values):
        values = values.mask(missing_mask(values))
    if task == "regression":
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna() & values.notna()
        if bad.any():
            example = values[bad].iloc[0]
            raise DataError(
                f"target column {values.name!r} holds non-numeric values (e.g. {example!r} in "
                f"{int(bad.sum())} rows) but the task is regression. Fix the values or set "
                "problem.task to binary/multiclass."
            )
        return numbers.astype(float)
    if problem is not None and problem.classes and is_text(values):
        return match_labels(values, problem.classes, problem.labels)
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_integer_dtype(values):
        return values
    if pd.api.types.is_float_dtype(values):
        non_null = values.dropna()
        if len(non_null) == len(values) and bool(np.all(np.mod(non_null.to_numpy(), 1) == 0)):
            return values.astype("int64")  # 0.0/1.0 read from a CSV are the labels 0 and 1
        return values
    return values.astype("string").str.strip().astype(object).where(values.notna(), None)


def check_target_column(frame: pd.DataFrame, target: str) -> None:
    """Raise a :class:`DataError` naming close column names when ``target`` is not a column."""
    if target in frame.columns:
        return
    close = difflib.get_close_matches(target, [str(c) for c in frame.columns], n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    shown = ", ".join(map(str, list(frame.columns)[:20]))
    raise DataError(
        f"target column {target!r} (problem.target) is not in the data.{hint} Columns are: {shown}."
    )


def resolve_problem(
    frame: pd.DataFrame,
    cfg: ProblemConfig,
    *,
    min_class_rows: int = 2,
    categories: CategoryCleaning | None = None,
) -> Problem:
    """Check the target against the data and settle task, classes and metric.

    Text labels of a classification target are merged by the rules of ``categories``
    (``cleaning.categories``, the defaults when None) like a category column's: the classes
    are the most common spelling of each group, the variants are in ``Problem.labels`` and
    the merge is said in ``Problem.notes``.

    Raises
    ------
    DataError
        The target is absent, entirely missing, constant, or a class is too rare to split.
    ConfigError
        The configured metric, gate or positive class does not fit the data.
    """
    target = cfg.target
    if cfg.unsupervised:
        return resolve_unsupervised(frame, cfg, categories=categories)
    assert target is not None  # the config requires one for supervised tasks
    check_target_column(frame, target)
    raw = frame[target]
    missing = missing_mask(raw)
    n_missing = int(missing.sum())
    if n_missing == len(raw):
        raise DataError(f"target column {target!r} has no values: every row is missing.")
    if cfg.task == "auto":
        task: TaskKind = infer_task(raw, categories=categories)
    else:
        task = cfg.task
    values = prepare_target(raw[~missing], task)
    notes = []
    if n_missing:
        notes.append(f"{n_missing} rows without a target value are left out of training")
    values, variants, merge_note = _merge_spellings(values, task, categories)
    if merge_note:
        notes.append(merge_note)
    if values.nunique() < 2:
        only = _jsonable(values.iloc[0])
        raise DataError(
            f"target column {target!r} has only one value ({only!r}) in {len(values)} rows; "
            "a model needs at least two classes or distinct values. Check the filter or the file."
        )
    metric, gate = _metric_and_gate(cfg, task)
    if task == "regression":
        return Problem(task=task, target=target, metric=metric, gate=gate, notes=tuple(notes))
    counts = values.value_counts()
    _check_classes(counts, task, target, min_class_rows)
    classes = tuple(sorted(counts.index.tolist(), key=lambda c: (str(type(c)), c)))
    positive = None
    if task == "binary":
        positive = _positive_class(cfg.positive_class, classes, counts, target)
    return Problem(
        task=task,
        target=target,
        metric=metric,
        gate=gate,
        classes=classes,
        positive_class=positive,
        notes=tuple(notes),
        labels=variants,
    )


def resolve_unsupervised(
    frame: pd.DataFrame, cfg: ProblemConfig, *, categories: CategoryCleaning | None = None
) -> Problem:
    """Clustering or anomaly detection: the metric and gate; an anomaly project's label
    column checked like a binary target (its positive class marks the known anomalies).

    The resolved problem has no target (``""``) unless an anomaly project names a label
    column; its classes are filled in by training (the clusters found; an anomaly model's
    flags are ``False`` and ``True``).
    """
    task: TaskKind = "clustering" if cfg.task == "clustering" else "anomaly"
    label = cfg.target
    notes: list[str] = []
    positive = None
    if label is not None:
        binary = cfg.model_copy(update={"task": "binary", "metric": None, "success": None})
        labelled = resolve_problem(frame, binary, min_class_rows=2, categories=categories)
        positive = labelled.positive_class
        notes = [*labelled.notes, f"rows whose {label!r} is {positive!r} are the known anomalies"]
    metric = cfg.metric or ("anomaly_rate" if task == "anomaly" and label is None else None)
    metric = metric or default_metric(task)
    if task == "anomaly" and label is None and metric != "anomaly_rate":
        raise ConfigError(
            f"problem.metric {metric!r} needs a label column: set problem.target to the column "
            "marking known anomalies, or use anomaly_rate"
        )
    gate = cfg.gate
    if gate is not None and task == "anomaly" and label is None:
        needs = [str(c) for c in gate.clauses if c.metric != "anomaly_rate"]
        if needs:
            raise ConfigError(
                f"problem.success clause(s) {', '.join(needs)} need a label column: set "
                "problem.target to the column marking known anomalies, or gate on anomaly_rate"
            )
    return Problem(
        task=task,
        target=label or "",
        metric=metric,
        gate=gate,
        # an anomaly model's predictions are flags; a clustering's classes come from training
        classes=(False, True) if task == "anomaly" else (),
        positive_class=True if task == "anomaly" else None,
        notes=tuple(notes),
        anomaly_label=positive,
    )


def _merge_spellings(
    values: pd.Series, task: TaskKind, categories: CategoryCleaning | None
) -> tuple[pd.Series, dict[str, Any], str]:
    """Text labels merged by the cleaning.categories rules: values, variants, and a note."""
    if task == "regression" or not is_text(values):
        return values, {}, ""
    spellings = spelling_map(values, categories)
    variants = {k: v for k, v in spellings.items() if k != v}
    if not variants:
        return values, variants, ""
    merged = values.isin(list(variants))
    values = values.map(spellings)
    shown = "; ".join(f"{k!r} → {v!r}" for k, v in list(variants.items())[:5])
    more = f" and {len(variants) - 5} more" if len(variants) > 5 else ""
    note = (
        f"target labels spelled differently merged into one class each by the "
        f"cleaning.categories rules ({shown}{more}; {int(merged.sum())} rows)"
    )
    return values, variants, note


def _metric_and_gate(cfg: ProblemConfig, task: TaskKind) -> tuple[str, Gate | None]:
    """The configured (or default) metric and gate, checked against the task."""
    target = cfg.target
    metric = cfg.metric or default_metric(task)
    allowed = REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS
    if metric not in allowed:
        raise ConfigError(
            f"problem.metric {metric!r} does not apply to a {task} task (inferred from "
            f"{target!r}); use one of {', '.join(allowed)}, or set problem.task."
        )
    gate = cfg.gate
    mistake = gate_mistake(gate, task, cfg.sensitive_columns) if gate is not None else None
    if mistake is not None:
        raise ConfigError(
            f"problem.success: {mistake} (the task is {task}, inferred from {target!r})."
        )
    return metric, gate


def _check_classes(counts: pd.Series, task: TaskKind, target: str, min_class_rows: int) -> None:
    """A binary task has two classes; every class has enough rows to split."""
    if task == "binary" and len(counts) > 2:
        raise ConfigError(
            f"problem.task is binary but target {target!r} has {len(counts)} classes "
            f"({', '.join(map(str, counts.index[:5]))}...). Use task: multiclass."
        )
    rare = counts[counts < min_class_rows]
    if len(rare):
        raise DataError(
            f"target class(es) {', '.join(map(repr, rare.index.tolist()))} of {target!r} have "
            f"fewer than {min_class_rows} rows, too few to keep one in both the training data and "
            "the holdout. Merge rare classes or collect more rows."
        )


def _positive_class(declared: Any, classes: tuple[Any, ...], counts: pd.Series, target: str) -> Any:
    if isinstance(declared, bool):
        # YAML 1.1 reads an unquoted yes/no/true/false as a boolean
        spellings = {"true", "yes", "y", "t", "1"} if declared else {"false", "no", "n", "f", "0"}
        for c in classes:
            if c is declared or str(c).strip().casefold() in spellings:
                return c
    if declared is not None:
        for c in classes:
            if c == declared or str(c).strip().casefold() == str(declared).strip().casefold():
                return c
        raise ConfigError(
            f"problem.positive_class {declared!r} is not a value of {target!r}; "
            f"the classes are {', '.join(map(repr, classes))}."
        )
    for name in _POSITIVE_NAMES:
        for c in classes:
            if str(c).strip().casefold() == name:
                return c
    return counts.idxmin()  # the minority class is the one worth finding
