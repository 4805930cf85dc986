"""Per-column quality checks: constant, id-like and high-cardinality columns, mixed types,
numbers stored as text, inconsistent spellings and outliers.

Each check reads the facts :func:`~loopml.data._quality_base.describe` gathered on the sample;
counts on the sample are scaled to the whole table and the message says so.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import numpy as np
import pandas as pd

from loopml.config import QualityConfig
from loopml.data._quality_base import (
    N_EXAMPLES,
    NUMERIC_SHARE,
    ColumnFacts,
    plain,
    present_text,
    scaled,
)
from loopml.data._schema import _FALSE, _TRUE, to_numeric
from loopml.types import Finding

#: Outliers: values beyond this many interquartile ranges outside the quartiles (Tukey's
#: "far out" fences).
IQR_FACTOR = 3.0
#: A number column with at most this many distinct integer values is treated as levels.
DISCRETE_LEVELS = 30
#: Two labels are spellings of one when difflib's ratio of their normalised forms reaches this.
SIMILARITY = 0.88
_MAX_LABELS_COMPARED = 300
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")


def constant_findings(
    full: pd.Series, col: ColumnFacts, quality: QualityConfig, note: str, scale: float
) -> list[Finding]:
    if col.n_present < 2 or not len(col.counts):
        return []
    name = col.label
    counts, where = col.counts, note
    if len(counts) == 1:  # constant in the sample: count exactly on the whole column
        try:
            counts = (
                present_text(full).value_counts()
                if col.kind == "text"
                else full.dropna().value_counts()
            )
        except TypeError:  # unhashable values
            return []
        counts, scale, where = counts[counts > 0], 1.0, ""
    top_value, top = counts.index[0], int(counts.iloc[0])
    total = int(counts.sum())
    if len(counts) == 1:
        return [
            Finding(
                id="constant-column",
                severity="warning",
                column=name,
                count=total,
                message=f"column {name!r} holds one value ({plain(top_value)!r}) in every "
                "non-missing row; it carries no information.",
                examples=(plain(top_value),),
                suggestion=f"Add {name!r} to data.drop_columns, or check the source if it "
                "should vary.",
            )
        ]
    share = top / total
    if share < quality.near_constant_fraction:
        return []
    return [
        Finding(
            id="near-constant-column",
            severity="info",
            column=name,
            count=scaled(top, scale),
            message=f"column {name!r}: {share:.2%} of non-missing values are "
            f"{plain(top_value)!r}{where}.",
            examples=tuple(plain(v) for v in counts.index[:N_EXAMPLES]),
            suggestion="Rare values can still matter (a fraud flag, say); drop it with "
            "data.drop_columns if not, or raise quality.near_constant_fraction "
            f"(now {quality.near_constant_fraction:g}).",
        )
    ]


def id_like_findings(col: ColumnFacts, note: str) -> list[Finding]:
    if not col.is_id_like:
        return []
    return [
        Finding(
            id="id-like-column",
            severity="warning",
            column=col.label,
            count=len(col.counts),
            message=f"column {col.label!r} looks like an identifier: {col.unique_share:.1%} of "
            f"its values are unique{note}. As a feature it lets the model memorise rows.",
            examples=tuple(plain(v) for v in col.counts.index[:N_EXAMPLES]),
            suggestion="Declare it in data.id_columns (or data.drop_columns) so it is not "
            "used as a feature.",
        )
    ]


def cardinality_findings(col: ColumnFacts, quality: QualityConfig, note: str) -> list[Finding]:
    if not col.is_categorical:
        return []
    labels = pd.Series(col.counts.index.astype(str)).str.strip().str.casefold()
    n_labels = labels.nunique()
    if n_labels <= quality.high_cardinality:
        return []
    bound = "at least " if note else ""
    return [
        Finding(
            id="high-cardinality",
            severity="info",
            column=col.label,
            count=n_labels,
            message=f"column {col.label!r} has {bound}{n_labels:,} distinct labels "
            f"(more than quality.high_cardinality = {quality.high_cardinality}){note}.",
            examples=tuple(plain(v) for v in col.counts.index[:N_EXAMPLES]),
            suggestion="It is encoded for high cardinality; group rare labels at the source, "
            "drop it with data.drop_columns, or raise quality.high_cardinality to accept it.",
        )
    ]


def text_type_findings(col: ColumnFacts, note: str, scale: float) -> list[Finding]:
    """numbers-as-text and mixed-types for text columns."""
    if col.kind != "text" or not col.n_present or col.label_is_number is None:
        return []
    if col.is_dated or col.is_free_text:
        return []
    is_number = col.label_is_number
    counts = col.counts.to_numpy()
    n_numbers = int(counts[is_number].sum())
    n_words = col.n_present - n_numbers
    words = [plain(v) for v in col.counts.index[~is_number][:N_EXAMPLES]]
    numbers = [plain(v) for v in col.counts.index[is_number][:N_EXAMPLES]]
    if col.numeric_share > NUMERIC_SHARE:
        if n_words:
            return [
                Finding(
                    id="numbers-as-text",
                    severity="warning",
                    column=col.label,
                    count=scaled(n_words, scale),
                    message=f"column {col.label!r} holds numbers stored as text, and "
                    f"{scaled(n_words, scale):,} values that are not numbers "
                    f"(e.g. {', '.join(map(repr, words[:3]))}){note}; those become missing.",
                    examples=tuple(words[:N_EXAMPLES]),
                    suggestion="Store the column as numbers at the source and use an empty cell "
                    "for unknown values, or list the placeholders in data.source.options.na_values "
                    "(CSV files).",
                )
            ]
        return [
            Finding(
                id="numbers-as-text",
                severity="info",
                column=col.label,
                count=scaled(col.n_present, scale),
                message=f"column {col.label!r} holds numbers stored as text; they are parsed "
                "as numbers.",
                examples=tuple(numbers[:N_EXAMPLES]),
                suggestion="Nothing to do; store it as numbers at the source to be explicit. If "
                "these are codes (leading zeros matter), list the column in "
                "quality.expectations with allowed values.",
            )
        ]
    if not n_numbers or not n_words or col.is_id_like:
        return []
    minority = min(n_numbers, n_words)
    return [
        Finding(
            id="mixed-types",
            severity="warning",
            column=col.label,
            count=scaled(minority, scale),
            message=f"column {col.label!r} mixes numbers ({scaled(n_numbers, scale):,} values) "
            f"and text ({scaled(n_words, scale):,} values){note}; it is treated as categories, "
            "so 7 and 7.0 are different labels.",
            examples=tuple(numbers[:3] + words[:3]),
            suggestion="Give the column one type at the source, or declare the valid labels "
            f"in quality.expectations.{col.label}.allowed.",
        )
    ]


def _canonical(label: str) -> str:
    key = _SPACES.sub(" ", label.strip()).casefold()
    if key in _TRUE:
        return "true"
    if key in _FALSE:
        return "false"
    return key


def spelling_groups(counts: pd.Series, similarity: float = SIMILARITY) -> list[list[Any]]:
    """Groups of labels that are one label spelled differently, most common spelling first.

    Labels join a group when they are equal after trimming, collapsing spaces and case-folding,
    when they are spellings of the same yes/no value ("Y", "yes", "true"), when difflib's ratio
    of their normalised forms reaches ``similarity`` (labels whose digits differ never join:
    "plan 2" is not "plan 3"), or when a one-letter label is the initial of exactly one longer,
    more common label ("M" and "male").
    """
    by_key: dict[str, list[tuple[Any, int]]] = {}
    for label, n in counts.items():
        by_key.setdefault(_canonical(str(label)), []).append((label, int(n)))
    totals = sorted(by_key, key=lambda k: -sum(n for _, n in by_key[k]))
    keys = totals[:_MAX_LABELS_COMPARED]
    parent = {k: k for k in by_key}

    def find(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    digits = {k: _DIGITS.findall(k) for k in keys}
    matcher = difflib.SequenceMatcher(autojunk=False)
    for i, a in enumerate(keys):
        matcher.set_seq2(a)
        for b in keys[i + 1 :]:
            if digits[a] != digits[b] or min(len(a), len(b)) < 4:
                continue
            matcher.set_seq1(b)
            if (
                matcher.real_quick_ratio() >= similarity
                and matcher.quick_ratio() >= similarity
                and matcher.ratio() >= similarity
            ):
                parent[find(b)] = find(a)
    total = {k: sum(n for _, n in by_key[k]) for k in by_key}
    for k in keys:
        if len(k) == 1 and k.isalpha():
            longer = [o for o in keys if len(o) >= 3 and o[0] == k and o.isalpha()]
            if len(longer) == 1 and total[longer[0]] > total[k]:
                parent[find(k)] = find(longer[0])
    groups: dict[str, list[tuple[Any, int]]] = {}
    for k, members in by_key.items():
        groups.setdefault(find(k), []).extend(members)
    out = [
        [label for label, _ in sorted(members, key=lambda m: -m[1])]
        for members in groups.values()
        if len(members) > 1
    ]
    return sorted(out, key=lambda g: -sum(int(counts[label]) for label in g))


def spelling_findings(col: ColumnFacts, note: str, scale: float) -> list[Finding]:
    """Labels of a category column spelled in several ways (the target's are checked by
    :func:`~loopml.data._quality_rules.target_spelling_findings`)."""
    if not col.is_categorical or len(col.counts) < 2:
        return []
    groups = spelling_groups(col.counts)
    if not groups:
        return []
    rows = sum(int(col.counts[label]) for g in groups for label in g[1:])
    shown = "; ".join(" / ".join(repr(str(v)) for v in g[:6]) for g in groups[:3])
    suggestion = (
        "cleaning.categories.normalize and merge_similar (on by default) map them to the "
        "most common spelling; fix the source to be sure, or declare the valid labels in "
        f"quality.expectations.{col.label}.allowed."
    )
    return [
        Finding(
            id="inconsistent-spellings",
            severity="warning",
            column=col.label,
            count=scaled(rows, scale),
            message=f"column {col.label!r} spells "
            f"{len(groups)} label(s) in several ways: {shown}; {scaled(rows, scale):,} rows "
            f"use a less common spelling{note}.",
            examples=tuple([str(v) for v in g[:6]] for g in groups[:N_EXAMPLES]),
            suggestion=suggestion,
        )
    ]


def _discrete_fences(
    levels: np.ndarray, lo: float, hi: float, iqr: float
) -> tuple[float, float, str]:
    """Fences of a column of few integer levels, widened over the levels that go on from the
    ones inside without a gap: the tail of a bounded count (years of schooling 1 to 16) is
    part of the distribution; a placeholder such as 99 beyond a gap is not.

    A gap is a step between neighbouring levels wider than the IQR and than twice the usual
    step inside the fences.
    """
    inside = levels[(levels >= lo) & (levels <= hi)]
    if not len(inside):
        return lo, hi, ""
    step = float(np.median(np.diff(inside))) if len(inside) > 1 else 1.0
    allowed = max(iqr, 2 * step)
    top, bottom = float(inside.max()), float(inside.min())
    for level in levels[levels > hi]:
        if level - top > allowed:
            break
        top = float(level)
    for level in levels[levels < lo][::-1]:
        if bottom - level > allowed:
            break
        bottom = float(level)
    new_lo, new_hi = min(lo, bottom), max(hi, top)
    if (new_lo, new_hi) == (lo, hi):
        return lo, hi, ""
    return new_lo, new_hi, ", the fences widened over the levels that follow without a gap"


def outlier_findings(full: pd.Series, col: ColumnFacts, note: str, scale: float) -> list[Finding]:
    """Values beyond ``IQR_FACTOR`` interquartile ranges outside the quartiles.

    A column of at most ``DISCRETE_LEVELS`` integer levels keeps the levels that continue its
    range without a gap (see :func:`_discrete_fences`): flagging 10% of a bounded count
    because its quartiles are close together is no finding.
    """
    if col.is_id_like or col.numbers is None:
        return []
    if col.kind == "text" and col.numeric_share <= NUMERIC_SHARE:
        return []
    numbers = col.numbers.dropna().to_numpy(dtype=float)
    numbers = numbers[np.isfinite(numbers)]
    if len(numbers) < 10:
        return []
    q1, q3 = np.quantile(numbers, [0.25, 0.75])
    iqr = q3 - q1
    if not iqr > 0:
        return []
    lo, hi = q1 - IQR_FACTOR * iqr, q3 + IQR_FACTOR * iqr
    levels = np.unique(numbers)
    widened = ""
    if len(levels) <= DISCRETE_LEVELS and bool(np.all(np.mod(levels, 1) == 0)):
        lo, hi, widened = _discrete_fences(levels, lo, hi, iqr)
    if col.kind == "numeric":  # exact count on the whole column
        values = to_numeric(full).to_numpy(dtype=float)
        where, count_scale = "", 1.0
    else:
        values = col.numbers.to_numpy(dtype=float)
        where, count_scale = note, scale
    mask = (values < lo) | (values > hi)
    count = int(mask.sum())
    if not count:
        return []
    out = values[mask]
    median = float(np.median(numbers))
    order = np.argsort(-np.abs(out - median), kind="stable")
    examples = tuple(plain(v) for v in pd.unique(out[order])[:N_EXAMPLES])
    fences = f"outside [{lo:.4g}, {hi:.4g}]{widened}"
    quartiles = note.replace("estimated", "quartiles estimated") if note else ""
    return [
        Finding(
            id="outliers",
            severity="info",
            column=col.label,
            count=scaled(count, count_scale),
            message=f"column {col.label!r}: {scaled(count, count_scale):,} values lie more than "
            f"{IQR_FACTOR:g}×IQR beyond the quartiles ({fences}){where or quartiles}.",
            examples=examples,
            suggestion="Check for unit errors or placeholder values (-1, 999); "
            "cleaning.outliers: clip caps them at cleaning.outlier_quantiles, or declare "
            f"quality.expectations.{col.label}.min/max to reject them.",
        )
    ]
