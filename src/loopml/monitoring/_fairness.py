"""Fairness on live traffic: each window's groups of the model's sensitive columns, compared
as in training (:func:`loopml.evaluation.fairness_report`).

Before labels arrive, a binary classifier's selection rates are compared on every logged
prediction; on the rows whose labels came, the full table (the metric, true- and
false-positive rates; errors for regression). A window breaks a fairness clause of the gate
the model was trained under (``selection_rate_ratio >= 0.8``) when its value fails it: that
is an alarm, naming the grouping and the groups at either end. The service logs the
sensitive columns next to the id columns (as the privacy policy wrote them in training);
windows logged without them are not compared.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from loopml.monitoring._contract import WindowFairness
from loopml.monitoring._performance import labelled_rows, to_classes

if TYPE_CHECKING:
    from loopml.evaluation import FairnessReport, FairnessSettings
    from loopml.monitoring._windows import WindowRows
    from loopml.registry import ModelBundle


def fairness_settings(bundle: ModelBundle) -> FairnessSettings | None:
    """How the model's groups are compared (as in training; no bootstrap), or None when it
    was trained without sensitive columns."""
    from loopml.evaluation import FairnessSettings

    if not bundle.sensitive_columns:
        return None
    problem = bundle.config.get("problem") or {}
    fairness = problem.get("fairness") or {}
    gate = bundle.problem.gate
    named = [c.metric.rsplit("_", 1)[0] for c in (gate.fairness if gate else ())]
    return FairnessSettings(
        columns=bundle.sensitive_columns,
        min_group_size=int(fairness.get("min_group_size", 30)),
        intersections=bool(fairness.get("intersections", True)),
        n_bootstrap=0,
        metrics=tuple(dict.fromkeys(named)),
    )


def window_fairness(
    bundle: ModelBundle, rows: WindowRows, settings: FairnessSettings
) -> WindowFairness | None:
    """The window's comparison, or None when its log holds no sensitive value."""
    from loopml.evaluation import fairness_report

    columns = [c for c in settings.columns if c in rows.features.columns]
    sensitive = rows.features.reindex(columns=list(settings.columns))
    if not columns or sensitive.isna().all().all():
        return None
    problem = bundle.problem
    values: dict[str, float] = {}
    groups: dict[str, dict[str, str]] = {}
    labelled = labelled_rows(problem, rows.labels, rows.predictions, rows.probabilities)
    if labelled.rows:
        scored = sensitive[labelled.keep].reset_index(drop=True)
        report = fairness_report(
            scored, labelled.truth, labelled.said, labelled.proba, problem, settings
        )
        _collect(report, values, groups)
    compared = 0
    if problem.task == "binary":  # selection rates need no label: every prediction counts
        said = to_classes(rows.predictions, problem).to_numpy(object)
        keep = pd.notna(said)
        only = replace(settings, only=("selection_rate",))
        picked = sensitive[keep].reset_index(drop=True)
        report = fairness_report(picked, said[keep], said[keep], None, problem, only)
        compared = int(keep.sum())
        _collect(report, values, groups)
    return WindowFairness(compared, labelled.rows, values, groups)


def _collect(
    report: FairnessReport, values: dict[str, float], groups: dict[str, dict[str, str]]
) -> None:
    for name, value in report.values().items():
        worst = report.worst(name)
        if worst is None or not np.isfinite(value):
            continue
        values[name] = value
        groups[name] = {
            "grouping": worst.grouping,
            "lowest": worst.lowest,
            "highest": worst.highest,
        }
