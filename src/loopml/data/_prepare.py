"""Preparation: from collected rows to the table one training run uses, split off its holdout.

:func:`prepare_data` settles the problem, applies the privacy policy, drops rows without a
target and duplicate rows, infers the schema, checks the time column and splits off the
holdout, so everything that can be wrong with the data is found before any training.
Training, retraining and the CLI's checks all start from its :class:`PreparedData`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopml.config import ProjectConfig
from loopml.data._prepare_unsupervised import (
    unlabelled_rows,
    unsupervised_schema,
    unsupervised_split,
)
from loopml.data._privacy import apply_privacy, detect_pii, pii_findings
from loopml.data._problem import Problem, infer_task, prepare_target, resolve_problem
from loopml.data._profile import Profile, profile
from loopml.data._quality import TableSpec, validate
from loopml.data._schema import Schema, infer_schema, missing_mask, to_datetime
from loopml.data._split import Split, choose_strategy, holdout_split
from loopml.errors import ConfigError, DataError
from loopml.types import SEVERITY_ORDER, DataSet, Finding, QualityReport

#: Share of rows whose time may be missing or unparsable before a time-ordered split refuses.
MAX_BAD_TIMES = 0.05


@dataclass(frozen=True)
class LabelledRows:
    """Rows of the prepared table with their labels (and time and group where declared)."""

    X: pd.DataFrame
    y: pd.Series
    time: pd.Series | None = None
    groups: pd.Series | None = None


@dataclass(frozen=True)
class PreparedData:
    """The training table split for one run: everything the search and evaluation need."""

    data: DataSet  # the collected rows after the privacy policy
    problem: Problem
    schema: Schema
    X: pd.DataFrame
    y: pd.Series
    split: Split
    time: pd.Series | None
    groups: pd.Series | None
    privacy: dict[str, str] = field(default_factory=dict)  # column -> drop | hash | keep
    pii: dict[str, str] = field(default_factory=dict)  # column -> kind of personal data found
    sensitive: tuple[str, ...] = ()  # compared for fairness, not model inputs

    def training_rows(self) -> LabelledRows:
        """The rows the search may see, renumbered from 0."""
        return self._rows(self.split.train)

    def holdout_rows(self) -> LabelledRows:
        """The rows kept out of all model selection, renumbered from 0."""
        return self._rows(self.split.holdout)

    def _rows(self, positions: Any) -> LabelledRows:
        def part(series: pd.Series | None) -> pd.Series | None:
            return None if series is None else series.iloc[positions].reset_index(drop=True)

        return LabelledRows(
            X=self.X.iloc[positions].reset_index(drop=True),
            y=self.y.iloc[positions].reset_index(drop=True),
            time=part(self.time),
            groups=part(self.groups),
        )

    def summary(self) -> dict[str, Any]:
        """What the data of this run was, for the report, the result and ``--json``."""
        ignored = [f"{c.name} ({c.pii or c.role})" for c in self.schema.columns if not c.is_feature]
        ignored += [
            f"{name} (sensitive: compared for fairness)"
            if name in self.sensitive
            else f"{name} (dropped in loopml.yaml)"
            for name in self.schema.ignored
        ]
        return {
            "origin": self.data.origin,
            "fingerprint": self.data.fingerprint,
            "rows": self.data.n_rows,
            # clustering and unlabelled anomaly detection learn from every row
            ("rows_with_target" if self.problem.has_labels else "rows_used"): len(self.y),
            "train_rows": len(self.split.train),
            "holdout_rows": len(self.split.holdout),
            "split": self.split.strategy,
            "features": len(self.schema.feature_columns),
            "ignored_columns": ", ".join(ignored) or "none",
            "notes": "; ".join(self.problem.notes) or "none",
        }


def not_features(config: ProjectConfig) -> list[str]:
    """Columns kept out of the model's inputs: ``data.drop_columns``, and the sensitive columns
    unless ``problem.fairness.as_features`` (they stay in the rows, for the group comparison)."""
    sensitive = [] if config.problem.fairness.as_features else config.problem.sensitive_columns
    return list(dict.fromkeys([*config.data.drop_columns, *sensitive]))


def check_declared_columns(
    frame: pd.DataFrame, config: ProjectConfig, config_name: str = "loopml.yaml"
) -> None:
    """Raise :class:`ConfigError` if a column named in ``data:`` (or a sensitive column) is
    not in ``frame``."""
    data = config.data
    declared = [("data.id_columns", c) for c in data.id_columns]
    declared += [("problem.sensitive_columns", c) for c in config.problem.sensitive_columns]
    declared += [("data.drop_columns", c) for c in data.drop_columns]
    if data.time_column:
        declared.append(("data.time_column", data.time_column))
    if data.label_time_column:
        declared.append(("data.label_time_column", data.label_time_column))
    if data.group_column:
        declared.append(("data.group_column", data.group_column))
    for key, column in declared:
        if column not in frame.columns:
            raise ConfigError(
                f"{key} names column {column!r}, which is not in the data "
                f"({', '.join(map(str, list(frame.columns)[:15]))}...). Fix the name in "
                f"{config_name}."
            )


def protect(
    data: DataSet, config: ProjectConfig, *, salt: str | None
) -> tuple[DataSet, dict[str, str], dict[str, str]]:
    """Apply the privacy policy: detect personal data, then drop, hash or keep it.

    Returns the protected data, the detected columns (column -> kind) and the action taken
    per column. The target is never touched. ``salt`` is the value of the environment
    variable ``privacy.salt_env`` names, read by the caller.
    """
    features = data.frame.drop(columns=[config.problem.target], errors="ignore")
    pii = detect_pii(features)
    pii.update({c: "declared" for c in config.privacy.columns if c not in pii and c in features})
    if not pii:
        return data, {}, {}
    frame, actions = apply_privacy(data.frame, pii, config.privacy, salt=salt)
    return dataclasses.replace(data, frame=frame), pii, actions


def prepare_data(
    raw: DataSet,
    config: ProjectConfig,
    *,
    salt: str | None = None,
    config_name: str = "loopml.yaml",
) -> PreparedData:
    """Settle the problem, protect personal data, infer the schema, split off the holdout.

    Parameters
    ----------
    raw
        The collected rows.
    config
        The project; ``problem``, ``data``, ``privacy``, ``cleaning`` and ``training`` are read.
    salt
        The secret for hashing personal data (see :func:`protect`).
    config_name
        The project file's name, for error messages.

    Raises
    ------
    ConfigError
        A column named in ``data:`` is missing.
    DataError
        The target, the time column or the split makes training impossible.
    """
    check_declared_columns(raw.frame, config, config_name)
    categories = config.cleaning.categories
    # target problems first, with their own message
    resolve_problem(raw.frame, config.problem, categories=categories)
    data, pii, actions = protect(raw, config, salt=salt)
    problem = resolve_problem(data.frame, config.problem, categories=categories)
    if problem.unsupervised:
        return _prepare_unlabelled(data, problem, config, pii, actions)
    frame, notes = _labelled_rows(data.frame, problem, drop_duplicates=config.cleaning.duplicates)
    problem = dataclasses.replace(problem, notes=(*problem.notes, *notes))
    ids = list(config.data.id_columns)
    if config.data.group_column:
        ids.append(config.data.group_column)
    schema = infer_schema(
        frame,
        problem.target,
        id_columns=ids,
        time_column=config.data.time_column,
        drop_columns=not_features(config),
    )
    if not schema.feature_columns:
        raise DataError(
            f"no usable feature columns in {data.origin}: every column is the target, an id, "
            "free text, personal data or dropped. Add feature columns or revise "
            "data.id_columns / data.drop_columns."
        )
    y = frame[problem.target]
    time = _time(frame, config.data.time_column)
    groups = frame[config.data.group_column] if config.data.group_column else None
    training = config.training
    split = holdout_split(
        y,
        strategy=choose_strategy(training.split, problem.task, time, groups),
        fraction=training.holdout_fraction,
        seed=training.seed,
        time=time,
        groups=groups,
    )
    _check_classes_in_training(problem, y, split)
    X = frame.drop(columns=[problem.target])
    sensitive = tuple(c for c in not_features(config) if c not in config.data.drop_columns)
    return PreparedData(
        data, problem, schema, X, y, split, time, groups, actions, pii, sensitive=sensitive
    )


def _prepare_unlabelled(
    data: DataSet,
    problem: Problem,
    config: ProjectConfig,
    pii: dict[str, str],
    actions: dict[str, str],
) -> PreparedData:
    """:func:`prepare_data` for clustering and anomaly detection."""
    frame, y, notes = unlabelled_rows(
        data.frame, problem, drop_duplicates=config.cleaning.duplicates
    )
    problem = dataclasses.replace(problem, notes=(*problem.notes, *notes))
    schema = unsupervised_schema(frame, config, not_features(config))
    time = _time(frame, config.data.time_column)
    groups = frame[config.data.group_column] if config.data.group_column else None
    split = unsupervised_split(y, problem, config, time, groups)
    sensitive = tuple(c for c in not_features(config) if c not in config.data.drop_columns)
    return PreparedData(
        data, problem, schema, frame, y, split, time, groups, actions, pii, sensitive=sensitive
    )


def _labelled_rows(
    frame: pd.DataFrame, problem: Problem, *, drop_duplicates: str
) -> tuple[pd.DataFrame, list[str]]:
    """Rows with a target, whose labels are the classes (spelling variants merged) before
    rows are compared; blank labels are missing, as the quality checks count them."""
    notes = []
    frame = frame.loc[~missing_mask(frame[problem.target])]
    labels = prepare_target(frame[problem.target], problem.task, problem)
    frame = frame.assign(**{problem.target: labels})
    if drop_duplicates == "drop":
        duplicated = frame.duplicated()
        if duplicated.any():
            notes.append(f"{int(duplicated.sum())} duplicate rows dropped (cleaning.duplicates)")
            frame = frame.loc[~duplicated]
    return frame.reset_index(drop=True), notes


def _time(frame: pd.DataFrame, column: str | None) -> pd.Series | None:
    """The parsed time column; a few bad values take the earliest time, many are an error."""
    if not column:
        return None
    time = to_datetime(frame[column])
    bad = int(time.isna().sum())
    if bad > len(time) * MAX_BAD_TIMES:
        raise DataError(
            f"data.time_column {column!r}: {bad} of {len(time)} values are "
            "missing or not dates; a time-ordered split needs timestamps in every row."
        )
    return time.fillna(time.min())


def _check_classes_in_training(problem: Problem, y: pd.Series, split: Split) -> None:
    if not problem.is_classification:
        return
    missing = set(problem.classes) - set(y.iloc[split.train].unique())
    if missing:
        raise DataError(
            f"class(es) {sorted(map(str, missing))} of {problem.target!r} occur only "
            "in the holdout; the model could never learn them. Collect more rows of "
            "them, or use training.split: stratified."
        )


def holdout_mismatch(prepared: PreparedData, config: ProjectConfig) -> list[Finding]:
    """Columns distributed clearly differently in the holdout than in the training part.

    The time column of a time-ordered split differs by construction and is not compared;
    ``data.drop_columns`` are not compared either.
    """
    target = config.problem.target
    dropped = [c for c in config.data.drop_columns if c in prepared.X.columns and c != target]
    X = prepared.X.drop(columns=dropped)
    time_column = config.data.time_column if prepared.split.strategy == "time" else None
    report = validate(
        X.iloc[prepared.split.train],
        spec=TableSpec(time_column=time_column if time_column in X.columns else None),
        quality=config.quality,
        holdout=X.iloc[prepared.split.holdout],
        seed=config.training.seed,
    )
    return [f for f in report.findings if f.id == "train-holdout-mismatch"]


def quality_report(
    raw: DataSet,
    config: ProjectConfig,
    *,
    prepared: PreparedData | None,
    salt: str | None = None,
) -> QualityReport:
    """The quality report of ``raw`` as a run would use it: personal-data findings, the checks
    on the protected rows, and (with ``prepared``) train/holdout mismatches.

    ``prepared`` is :func:`prepare_data` of ``raw``, or None when the data cannot be prepared;
    then the privacy policy is applied here (``salt`` as for :func:`protect`).
    ``data.drop_columns`` are gone before the checks: dropping is the fix they suggest.
    """
    if prepared is not None:
        protected, pii, actions = prepared.data, prepared.pii, prepared.privacy
    else:
        protected, pii, actions = protect(raw, config, salt=salt)
    target = config.problem.target
    dropped = [c for c in config.data.drop_columns if c in protected.frame.columns and c != target]
    frame = protected.frame.drop(columns=dropped)
    pii = {c: kind for c, kind in pii.items() if c not in dropped}
    actions = {c: action for c, action in actions.items() if c not in dropped}
    task = config.problem.task
    if task == "auto" and not missing_mask(frame[target]).all():
        task = infer_task(frame[target], categories=config.cleaning.categories)
    report = validate(
        frame,
        spec=TableSpec(
            target=target,
            task=None if task == "auto" else task,
            id_columns=[c for c in config.data.id_columns if c in frame.columns],
            time_column=config.data.time_column,
            label_time_column=config.data.label_time_column,
            categories=config.cleaning.categories,
        ),
        quality=config.quality,
        origin=raw.origin,
        seed=config.training.seed,
    )
    findings = sorted(
        [
            *pii_findings(pii, actions, config.privacy),
            *report.findings,
            *(holdout_mismatch(prepared, config) if prepared is not None else []),
        ],
        key=lambda f: SEVERITY_ORDER[f.severity],
    )
    return QualityReport(
        findings=tuple(findings),
        n_rows=report.n_rows,
        n_columns=report.n_columns,
        origin=raw.origin,
    )


def check_quality(report: QualityReport, fail_on: str) -> None:
    """Raise :class:`DataError` listing the findings at or above ``fail_on``
    (``quality.fail_on``), at most ten of them; nothing happens below it."""
    if not report.fails(fail_on):
        return
    limit = SEVERITY_ORDER[fail_on]
    failing = [f for f in report.findings if SEVERITY_ORDER[f.severity] <= limit]
    lines = [
        f"- [{f.severity}] {f.id}"
        + (f" ({f.column})" if f.column else "")
        + f": {f.message}"
        + (f" Fix: {f.suggestion}" if f.suggestion else "")
        for f in failing[:10]
    ]
    more = f"\n... and {len(failing) - 10} more" if len(failing) > 10 else ""
    raise DataError(
        f"data quality check failed with {len(failing)} finding(s) at or above "
        f"'{fail_on}' (quality.fail_on) in {report.origin}; nothing was trained:\n"
        + "\n".join(lines)
        + more
        + "\nRun `loopml validate` for the full report."
    )


def labelled_rows(frame: pd.DataFrame, problem: Problem, *, where: str) -> LabelledRows:
    """The rows of ``frame`` that have a label, and their labels spelled as in training or by
    the same rules (``"yes "`` for ``"Yes"``), to evaluate a model on.

    Raises
    ------
    DataError
        ``frame`` has no target column, or a label the model never saw.
    """
    if problem.unsupervised and not problem.has_labels:  # nothing to compare with
        return LabelledRows(X=frame, y=pd.Series(np.full(len(frame), np.nan), index=frame.index))
    if problem.target not in frame.columns:
        raise DataError(
            f"{where} has no target column {problem.target!r}; evaluation needs labels."
        )
    if problem.task == "anomaly":  # True: a known anomaly
        labels = problem.anomaly_truth(frame[problem.target])
    else:
        labels = prepare_target(frame[problem.target], problem.task, problem)
    frame = frame[labels.notna()].reset_index(drop=True)
    y = labels[labels.notna()].reset_index(drop=True)
    y = y.astype(bool) if problem.task == "anomaly" else y
    return LabelledRows(X=frame.drop(columns=[problem.target]), y=y)


def profile_data(
    frame: pd.DataFrame, config: ProjectConfig, *, sample_rows: int | None = None
) -> Profile:
    """The EDA profile of the (protected) rows: their schema as the project declares it, and
    the target's task where the config leaves it to inference."""
    target = config.problem.target
    task = None if config.problem.task == "auto" else config.problem.task
    if task == "anomaly":  # its label column, if any, is profiled as a binary target
        task = "binary"
    if task is None and target is not None and not missing_mask(frame[target]).all():
        task = infer_task(frame[target], categories=config.cleaning.categories)
    schema = infer_schema(
        frame,
        target or "",
        id_columns=[c for c in config.data.id_columns if c in frame.columns],
        time_column=config.data.time_column,
        drop_columns=[c for c in config.data.drop_columns if c in frame.columns],
    )
    return profile(
        frame,
        target=target,
        task=task,
        schema=schema,
        sample_rows=config.profile.sample_rows if sample_rows is None else sample_rows,
        seed=config.training.seed,
    )
