"""The model card: what the model is for, what it was trained on, how good it is, its limits."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from loopml.config import ALL_METRICS
from loopml.data import Problem
from loopml.evaluation._common import jsonable
from loopml.evaluation._diagnose import Diagnostics
from loopml.evaluation._evaluate import Evaluation
from loopml.metrics import greater_is_better

#: Data facts the card lists, in this order, when the caller provides them.
DATA_KEYS = (
    "origin",
    "fingerprint",
    "rows",
    "rows_with_target",
    "rows_used",
    "train_rows",
    "holdout_rows",
    "split",
    "features",
    "ignored_columns",
)


def intended_use(problem: Problem) -> str:
    """A default statement of intended use, from the task and the target.

    Examples
    --------
    >>> from loopml.data import Problem
    >>> intended_use(Problem("regression", "price", "rmse", None))  # doctest: +ELLIPSIS
    'Predicts price (a number) for new rows shaped like the training data...'
    """
    target = problem.target
    if problem.task == "binary":
        what = (
            f"Estimates, for each new row, the probability that {target} is "
            f"{problem.positive_class!r}, to rank rows or flag them for a decision"
        )
    elif problem.task == "multiclass":
        shown = ", ".join(repr(c) for c in problem.classes[:8])
        more = ", ..." if len(problem.classes) > 8 else ""
        what = (
            f"Predicts which of {len(problem.classes)} classes of {target} ({shown}{more}) "
            "a new row belongs to, with a probability for each"
        )
    elif problem.task == "clustering":
        what = (
            f"Assigns each new row to one of {len(problem.classes)} clusters found in the "
            "training rows, with a membership probability for each; the clusters describe "
            "the data, they are not known classes"
        )
    elif problem.task == "anomaly":
        labels = f", checked against the known anomalies of {target}" if target else ""
        what = (
            "Scores how unusual each new row is compared with the training rows and flags "
            f"those above the chosen threshold{labels}, for review rather than automatic action"
        )
    else:
        what = f"Predicts {target} (a number) for new rows"
        return (
            what + " shaped like the training data (the same columns and kinds of values). "
            "It was not evaluated for any other use."
        )
    return (
        what + ", for rows shaped like the training data (the same columns and kinds of "
        "values). It was not evaluated for any other use."
    )


def model_card(
    problem: Problem,
    evaluation: Evaluation,
    diagnostics: Diagnostics | None = None,
    *,
    data: Mapping[str, Any],
    model: str,
    description: str | None = None,
) -> dict[str, Any]:
    """The model card as a JSON-able dict, for the training report and the registry.

    Parameters
    ----------
    problem
        The resolved problem (task, target, metric, classes).
    evaluation
        Holdout metrics and the success gate.
    diagnostics
        The holdout diagnostics, for intervals and limitations (optional).
    data
        Facts about the data: ``origin``, ``fingerprint``, ``rows``, ``train_rows``,
        ``holdout_rows``, ``split``, ``notes``... (``TrainResult.data`` has them all).
    model
        The model family, e.g. ``"lightgbm"``.
    description
        Free-text intended use; by default one is derived from the task and target.

    Returns
    -------
    dict
        ``name``-free sections: ``model``, ``task``, ``target``, ``intended_use``, ``data``,
        ``metrics`` (one entry per metric with its interval), ``gate``, ``limitations``.
    """
    metrics = []
    for name, value in evaluation.metrics.items():
        entry: dict[str, Any] = {
            "metric": name,
            "value": value,
            "low": None,
            "high": None,
            "level": None,
            "primary": name == evaluation.metric,
            # counts a clustering reports (n_clusters, noise_share) have no direction
            "greater_is_better": greater_is_better(name) if name in ALL_METRICS else None,
        }
        if diagnostics is not None and name in diagnostics.intervals:
            iv = diagnostics.intervals[name]
            entry.update(low=iv.low, high=iv.high, level=iv.level)
        metrics.append(entry)
    card = {
        "model": model,
        "task": problem.task,
        "target": problem.target,
        "positive_class": problem.positive_class,
        "intended_use": (description or "").strip() or intended_use(problem),
        "intended_use_source": "description" if (description or "").strip() else "default",
        "data": {k: data[k] for k in DATA_KEYS if k in data},
        "metrics": metrics,
        "gate": evaluation.gate.describe(),
        "fairness": evaluation.fairness.lines() if evaluation.fairness is not None else [],
        "limitations": limitations(problem, evaluation, diagnostics, data),
    }
    return jsonable(card)


def limitations(
    problem: Problem,
    evaluation: Evaluation,
    diagnostics: Diagnostics | None,
    data: Mapping[str, Any],
) -> list[str]:
    """Plain statements of what the evaluation does not cover or found wanting."""
    out = _data_limitations(data)
    if diagnostics is not None:
        out += _diagnostic_limitations(diagnostics)
    elif evaluation.n_rows < 200:
        out.append(f"Only {evaluation.n_rows} holdout rows: the metrics are uncertain.")
    if not evaluation.gate.passed:
        out.append(f"The success gate failed: {evaluation.gate.describe()}.")
        out += _unfair(evaluation)
    ignored = data.get("ignored_columns")
    if ignored and ignored != "none":
        out.append(f"Columns not used as features: {ignored}.")
    notes = data.get("notes")
    if notes and notes != "none":
        out.append(f"Data notes: {notes}.")
    elif problem.notes:
        out.append("Data notes: " + "; ".join(problem.notes) + ".")
    return out


def _data_limitations(data: Mapping[str, Any]) -> list[str]:
    """What the training rows and the holdout split leave out."""
    out: list[str] = []
    origin = data.get("origin")
    rows = data.get("train_rows") or data.get("rows")
    if origin:
        out.append(
            f"Trained on {rows} rows from {origin}. Rows unlike these (new categories, values "
            "outside the ranges seen, another population or period) were not evaluated."
        )
    split = data.get("split")
    if split == "time":
        out.append(
            "Evaluated on the most recent rows; accuracy usually drifts as time moves on, "
            "so monitor it after deployment."
        )
    elif split:
        out.append(
            f"Evaluated on a {split} holdout drawn from the same period as the training rows; "
            "this does not measure how the model ages. Monitor it after deployment."
        )
    return out


def _diagnostic_limitations(diagnostics: Diagnostics) -> list[str]:
    """The interval's width, the warnings, calibration and how exact the explanations are."""
    out: list[str] = []
    iv = diagnostics.interval
    if not math.isnan(iv.low):
        out.append(
            f"With {diagnostics.n_holdout} holdout rows the {iv.metric} is known only to "
            f"within {iv.low:.4f}–{iv.high:.4f} ({iv.level:.0%} bootstrap interval)."
        )
    for note in diagnostics.warnings:
        out.append(note.message)
    cal = diagnostics.calibration
    flagged = any(n.kind == "calibration" for n in diagnostics.notes)
    if cal is not None and cal.curves and not flagged and not math.isnan(cal.brier):
        out.append(
            "No significant miscalibration was found on the holdout (Brier score "
            f"{cal.brier:.4f}, against {cal.reference_brier:.4f} for always predicting the "
            "class frequencies); that may not hold on other data."
        )
    expl = diagnostics.explanations
    if expl is not None and not expl.additive:
        out.append(
            "Per-prediction explanations are approximate (occlusion): they do not add up "
            "to the prediction and ignore interactions between columns."
        )
    return out


def _unfair(evaluation: Evaluation) -> list[str]:
    """The failed fairness clauses, each with the groups it is about."""
    report, out = evaluation.fairness, []
    for clause, _, passed in evaluation.gate.clauses:
        name = clause.split()[0]
        worst = report.worst(name) if report is not None and not passed else None
        if report is None or worst is None:
            continue
        measure = worst.measure
        low = report.value(worst.grouping, worst.lowest, measure)
        high = report.value(worst.grouping, worst.highest, measure)
        out.append(
            f"Fairness clause '{clause}' failed on {worst.grouping}: {worst.lowest} has "
            f"{measure.replace('_', ' ')} {low:.3f}, {worst.highest} {high:.3f}."
        )
    return out
