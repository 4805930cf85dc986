"""Declared expectations, the target checks, and timestamps later than the label time."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from loopml.config import CategoryCleaning, Expectation, QualityConfig
from loopml.data._labels import spelling_map
from loopml.data._problem import infer_task
from loopml.data._quality_base import (
    N_EXAMPLES,
    ColumnFacts,
    plain,
    positions,
    scaled,
)
from loopml.data._quality_columns import spelling_groups
from loopml.data._schema import _FALSE, _TRUE, is_text, missing_mask, to_datetime, to_numeric
from loopml.types import Finding, Severity

#: Classes with fewer rows cannot appear in every fold of 5-fold cross-validation.
MIN_CLASS_ROWS = 5


def expectation_findings(
    frame: pd.DataFrame, by_label: Mapping[str, Any], expectations: Mapping[str, Expectation]
) -> list[Finding]:
    out: list[Finding] = []
    for label, exp in expectations.items():
        key = f"quality.expectations.{label}"
        if label not in by_label:
            close = difflib.get_close_matches(label, list(by_label), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            out.append(
                Finding(
                    id="expectation-violated",
                    severity="error",
                    column=label,
                    message=f"column {label!r}, named in {key}, is not in the data.{hint}",
                    suggestion=f"Fix the column name in {key}, or delete the expectation.",
                )
            )
            continue
        values = frame[by_label[label]]
        missing = missing_mask(values).to_numpy()
        for rule, mask, detail in _violations(values, missing, exp, key):
            count = int(mask.sum())
            if not count:
                continue
            bad = values[mask]
            if rule in ("not_null",):
                examples: tuple[Any, ...] = positions(mask)
            else:
                examples = tuple(plain(v) for v in pd.unique(bad.dropna())[:N_EXAMPLES])
            out.append(
                Finding(
                    id="expectation-violated",
                    severity=exp.severity,
                    column=label,
                    count=count,
                    message=f"column {label!r}: {count:,} rows break {key}.{rule} ({detail}).",
                    examples=examples,
                    suggestion=f"Fix the data at the source, or change {key}.{rule} in "
                    "loopml.yaml if the expectation is wrong.",
                )
            )
    return out


def _violations(
    values: pd.Series, missing: np.ndarray, exp: Expectation, key: str
) -> list[tuple[str, np.ndarray, str]]:
    rules: list[tuple[str, np.ndarray, str]] = []
    present = ~missing
    if exp.min is not None or exp.max is not None:
        if pd.api.types.is_datetime64_any_dtype(values):
            rule = "min" if exp.min is not None else "max"
            return [(rule, present, "min and max compare numbers, but the column holds times")]
        numbers = to_numeric(values).to_numpy(dtype=float)
        not_number = present & np.isnan(numbers)
        if exp.min is not None:
            below = numbers < exp.min
            rules.append(("min", below | not_number, f"values below {exp.min:g}"))
        if exp.max is not None:
            above = numbers > exp.max
            rules.append(("max", above | not_number, f"values above {exp.max:g}"))
        if not_number.any():
            rules = [
                (r, m, f"{d}, or not numbers ({int(not_number.sum()):,} rows)") for r, m, d in rules
            ]
    if exp.allowed is not None:
        ok = _allowed(values, exp.allowed)
        shown = ", ".join(repr(a) for a in exp.allowed[:10])
        rules.append(("allowed", present & ~ok, f"values other than {shown}"))
    if exp.not_null:
        rules.append(("not_null", missing, "missing values"))
    if exp.unique:
        dup = values.duplicated(keep="first").to_numpy() & present
        rules.append(("unique", dup, "values repeating an earlier row"))
    return rules


def _allowed(values: pd.Series, allowed: Sequence[Any]) -> np.ndarray:
    """True where a value equals an allowed value (as text, as a number, or yes/no alike)."""
    numbers = [float(a) for a in allowed if _as_float(a) is not None and not isinstance(a, bool)]
    texts = [str(a) for a in allowed if not isinstance(a, bool)]
    flags = [a for a in allowed if isinstance(a, bool)]
    if pd.api.types.is_bool_dtype(values):
        bools = flags + [_TRUE_OR_FALSE[t.strip().casefold()] for t in texts if _is_flag(t)]
        return values.isin(bools).to_numpy()
    if pd.api.types.is_numeric_dtype(values):
        return values.isin(numbers + [float(b) for b in flags]).to_numpy()
    text = values.astype("string")
    ok = text.isin(texts).fillna(False).to_numpy(dtype=bool, copy=True)
    if numbers:
        ok |= to_numeric(values).isin(numbers).to_numpy()
    if flags:
        spellings = set()
        for flag in flags:  # YAML reads an unquoted yes/no as a boolean
            spellings |= _TRUE if flag else _FALSE
        folded = text.str.strip().str.casefold()
        ok |= folded.isin(spellings).fillna(False).to_numpy(dtype=bool)
    return ok


_TRUE_OR_FALSE = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}


def _is_flag(text: str) -> bool:
    return text.strip().casefold() in _TRUE_OR_FALSE


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def target_findings(
    frame: pd.DataFrame,
    target: str,
    name: Any,
    task: str | None,
    quality: QualityConfig,
    categories: CategoryCleaning | None = None,
) -> tuple[str | None, list[Finding], dict[str, str]]:
    """Target findings, the task they settle (None when there is no usable target), and the
    class each text label belongs to once its spelling variants are merged by the rules of
    ``categories`` (as :func:`~loopml.data.resolve_problem` merges them; empty for numbers)."""
    if name is None:
        return None, [_absent_target(frame, target)], {}
    raw = frame[name]
    missing = missing_mask(raw)
    n_missing = int(missing.sum())
    if n_missing == len(raw):
        return None, [_no_target_values(target, raw, n_missing)], {}
    out: list[Finding] = []
    if n_missing:
        out.append(_some_labels_missing(target, raw, missing))
    present = raw[~missing]
    labels = present.astype(str).str.strip() if is_text(present) else present
    if task in (None, "auto"):
        task = infer_task(labels, categories=categories)
    spellings: dict[str, str] = {}
    if task != "regression" and is_text(present):
        spellings = spelling_map(labels, categories)
        out += target_spelling_findings(target, labels, spellings)
        labels = labels.map(spellings)
    if task == "regression":
        numbers = to_numeric(labels)
        out += _non_numbers(target, labels, numbers.isna())
        labels = numbers.dropna()
    counts = labels.value_counts()
    if len(counts) < 2:
        out.append(_one_class(target, counts))
        return None, out, spellings
    if task == "regression":
        return task, out, spellings
    out += _class_balance_findings(target, counts, quality)
    return task, out, spellings


def _absent_target(frame: pd.DataFrame, target: str) -> Finding:
    close = difflib.get_close_matches(target, [str(c) for c in frame.columns], n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return Finding(
        id="target-missing",
        severity="error",
        column=target,
        message=f"target column {target!r} (problem.target) is not in the data.{hint}",
        suggestion="Fix problem.target in loopml.yaml, or add the column to the source.",
    )


def _no_target_values(target: str, raw: pd.Series, n_missing: int) -> Finding:
    return Finding(
        id="target-missing",
        severity="error",
        column=target,
        count=n_missing,
        message=f"target column {target!r} has no values: every row is missing."
        if len(raw)
        else "the data has no rows.",
        suggestion="Check the source or its filter; problem.target must hold the labels.",
    )


def _some_labels_missing(target: str, raw: pd.Series, missing: pd.Series) -> Finding:
    n_missing = int(missing.sum())
    return Finding(
        id="target-missing",
        severity="warning",
        column=target,
        count=n_missing,
        message=f"{n_missing:,} of {len(raw):,} rows ({n_missing / len(raw):.1%}) have no "
        f"target value; they are left out of training.",
        examples=positions(missing),
        suggestion="Fill the labels at the source, or filter unlabelled rows out.",
    )


def _non_numbers(target: str, labels: pd.Series, bad: pd.Series) -> list[Finding]:
    """An error when a regression target holds values that are not numbers (``bad``)."""
    if not bad.any():
        return []
    return [
        Finding(
            id="target-type",
            severity="error",
            column=target,
            count=int(bad.sum()),
            message=f"the task is regression but {int(bad.sum()):,} target values are not numbers.",
            examples=tuple(plain(v) for v in pd.unique(labels[bad])[:N_EXAMPLES]),
            suggestion="Fix the values at the source, or set problem.task to binary or multiclass.",
        )
    ]


def _one_class(target: str, counts: pd.Series) -> Finding:
    only = plain(counts.index[0]) if len(counts) else None
    return Finding(
        id="target-one-class",
        severity="error",
        column=target,
        count=int(counts.sum()),
        message=f"target column {target!r} has one value only ({only!r}); a model needs "
        "at least two classes or distinct values.",
        examples=(only,),
        suggestion="Check the source or its filter: every row has the same label.",
    )


def _class_balance_findings(
    target: str, counts: pd.Series, quality: QualityConfig
) -> list[Finding]:
    """Warnings for an imbalanced target and for classes too rare to split and fold."""
    out: list[Finding] = []
    total = int(counts.sum())
    minority_label, minority = counts.index[-1], int(counts.iloc[-1])
    if minority / total < quality.imbalance_ratio:
        out.append(
            Finding(
                id="target-imbalance",
                severity="warning",
                column=target,
                count=minority,
                message=f"class {plain(minority_label)!r} of {target!r} holds {minority:,} of "
                f"{total:,} labelled rows ({minority / total:.2%}), below "
                f"quality.imbalance_ratio = {quality.imbalance_ratio:g}.",
                examples=tuple({"class": plain(k), "rows": int(v)} for k, v in counts.items()),
                suggestion="Use a metric that copes with imbalance (problem.metric: pr_auc or "
                "balanced_accuracy), collect more rows of the rare class, or lower "
                "quality.imbalance_ratio to accept it.",
            )
        )
    rare = counts[counts < MIN_CLASS_ROWS]
    if len(rare):
        severity: Severity = "error" if int(rare.min()) < 2 else "warning"
        out.append(
            Finding(
                id="target-rare-class",
                severity=severity,
                column=target,
                count=int(rare.sum()),
                message=f"{len(rare)} class(es) of {target!r} have fewer than {MIN_CLASS_ROWS} "
                f"rows: {', '.join(f'{plain(k)!r} ({v})' for k, v in rare.items())}; a class "
                "needs 2 rows to appear in training and holdout, and one per fold to be "
                "cross-validated.",
                examples=tuple({"class": plain(k), "rows": int(v)} for k, v in rare.items()),
                suggestion="Merge rare classes into a broader one at the source, or collect more "
                "rows for them.",
            )
        )
    return out


def target_spelling_findings(
    target: str, labels: pd.Series, spellings: Mapping[str, str]
) -> list[Finding]:
    """The target's labels merged as spellings of one class, and labels that look alike but
    stay separate classes. ``labels`` are the present labels, trimmed."""
    out: list[Finding] = []
    groups: dict[str, list[str]] = {}
    for label, cls in spellings.items():  # the class's own spelling comes first
        groups.setdefault(cls, [cls])
        if label != cls:
            groups[cls].append(label)
    merged = [g for g in groups.values() if len(g) > 1]
    if merged:
        rows = int(labels.isin([v for g in merged for v in g[1:]]).sum())
        shown = "; ".join(" / ".join(map(repr, g[:6])) for g in merged[:3])
        out.append(
            Finding(
                id="inconsistent-spellings",
                severity="warning",
                column=target,
                count=rows,
                message=f"target column {target!r} spells {len(merged)} class(es) in several "
                f"ways: {shown}; the {rows:,} rows with another spelling are merged into the "
                "first one (cleaning.categories).",
                examples=tuple(g[:6] for g in merged[:N_EXAMPLES]),
                suggestion="Nothing to do for training and evaluation: the labels are merged by "
                "the same rules as category columns (cleaning.categories.normalize and "
                "merge_similar). Fix the labels at the source to be sure, or set those keys to "
                "false to keep the spellings apart.",
            )
        )
    alike = spelling_groups(labels.map(spellings).value_counts())
    if alike:
        shown = "; ".join(" / ".join(map(repr, g[:6])) for g in alike[:3])
        out.append(
            Finding(
                id="inconsistent-spellings",
                severity="warning",
                column=target,
                count=sum(int((labels.map(spellings) == v).sum()) for g in alike for v in g[1:]),
                message=f"target column {target!r} has classes that look like spellings of one: "
                f"{shown}; they are too alike in frequency to be merged as typos and stay "
                "separate classes.",
                examples=tuple([str(v) for v in g[:6]] for g in alike[:N_EXAMPLES]),
                suggestion="If they are one class, fix the labels at the source (or in the "
                "query); if they are different classes, nothing to do.",
            )
        )
    return out


def label_time_findings(
    sample: pd.DataFrame,
    label_time: Any,
    columns: Mapping[Any, ColumnFacts],
    note: str,
    scale: float,
) -> list[Finding]:
    stamps = to_datetime(sample[label_time])
    out = []
    for name, col in columns.items():
        if name == label_time or not (col.kind == "datetime" or col.is_dated):
            continue
        values = to_datetime(sample[name])
        later = (values > stamps).fillna(False).to_numpy(dtype=bool)
        count = int(later.sum())
        if not count:
            continue
        both = int((values.notna() & stamps.notna()).sum())
        rows = np.flatnonzero(later)[:N_EXAMPLES]
        examples = tuple(
            {col.label: plain(values.iloc[i]), str(label_time): plain(stamps.iloc[i])} for i in rows
        )
        out.append(
            Finding(
                id="suspected-leakage",
                severity="warning",
                column=col.label,
                count=scaled(count, scale),
                message=f"column {col.label!r} is later than the label time {str(label_time)!r} "
                f"in {scaled(count, scale):,} rows ({count / max(both, 1):.1%} of rows with both)"
                f"{note}: it was recorded after the outcome was known and may leak it.",
                examples=examples,
                suggestion=f"Drop {col.label!r} with data.drop_columns, or rebuild it as of the "
                "label time.",
            )
        )
    return out
